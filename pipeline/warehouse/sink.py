"""The ClickHouse sink: one insert per applied batch, retried until stored.

A batch becomes signed CDR revisions in `cdr_changes` (+1 newest, -1 replaced, 0 a moved
revision's tombstone), with times and amounts the exact integers validation made of them;
ClickHouse's materialized views store the raw rows and add the aggregates. The insert carries
the batch message's id as its deduplication token, so a batch written twice after a crash is
dropped by every view's table and never counts twice, while batches of another topic (a
recreated broker, another app id) at the same offsets are not mistaken for it. With live
windows on, the same warehouse call also sums the batch's live delta (pipeline.live.delta).
While ClickHouse fails, `write` keeps retrying with backoff and does not return: the agent
stops taking batches (backpressure) and nothing is dropped or buffered beyond one batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import orjson
from clickhouse_connect.driver.client import Client

from pipeline.events import Cdr
from pipeline.ingest.reader import BATCH_ID_HEADER
from pipeline.live.delta import live_delta
from pipeline.state.cdr_state import BatchChanges
from pipeline.warehouse.client import serve_on_this_thread

log = logging.getLogger(__name__)

CHANGE_COLUMNS = ["sign", *Cdr._fields]  # cdr_changes, in Cdr's order: a batch's rows go in as they are
NEWEST, REPLACED, TOMBSTONE = 1, -1, 0


def batch_token(headers: dict[str, bytes], topic: str, partition: int, offset: int) -> str:
    """The deduplication token of a batch message: its id (a message from before batches carried
    one: its topic, partition and offset)."""
    batch_id = headers.get(BATCH_ID_HEADER)
    return batch_id.decode() if batch_id else f"{topic}:{partition}:{offset}"


def change_columns(changes: BatchChanges) -> bytes:
    """The batch as JSONCompactColumns of `cdr_changes`: one array per column, the signs first.

    Transposing the rows and encoding the arrays once costs a fraction of encoding every row."""
    rows = [*changes.newest, *changes.replaced, *changes.moved]
    signs = [NEWEST] * len(changes.newest) + [REPLACED] * len(changes.replaced) + [TOMBSTONE] * len(changes.moved)
    return orjson.dumps([signs, *zip(*rows)])


class ClickHouseSink:
    """The writing door. Batches go in on `insert_threads` threads, each with a client of its own:
    a partition's batches one after another (its agent waits for one before planning the next),
    batches of different partitions side by side, since an insert costs ClickHouse some 35-40 ms
    of CPU whatever its size and chDB runs inserts on different connections in parallel. Every
    other write runs in order on one more thread (`run`)."""

    def __init__(self, connect: Callable[[], Client], max_backoff: float = 10.0, insert_threads: int = 1) -> None:
        self._connect = connect
        self._clients = threading.local()
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="clickhouse", initializer=serve_on_this_thread, initargs=(self._client,)
        )
        self.inserts = ThreadPoolExecutor(
            max_workers=insert_threads, thread_name_prefix="clickhouse-insert",
            initializer=serve_on_this_thread, initargs=(self._client,),
        )  # fmt: skip
        self.insert_threads = insert_threads
        self.max_backoff = max_backoff
        self.rows_written = 0
        self.failures = 0
        self.last_write = 0.0
        # Seconds the insert threads spent storing batches, over their number: how busy writing
        # keeps them (pipeline.ingest.pacing).
        self.busy_seconds = 0.0

    @property
    def client(self) -> Client:
        """The calling thread's client (made at its first use)."""
        return self._client()

    def _client(self) -> Client:
        client = getattr(self._clients, "client", None)
        if client is None:
            client = self._clients.client = self._connect()
        return client

    async def run(self, work: Callable[[], object]) -> object:
        """Run blocking warehouse work (a write other than a batch) in order on the write thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def _insert(self, rows: bytes, token: str) -> None:
        settings = {
            "insert_deduplication_token": token,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
            # The views already group each block by its table's key and a batch holds one revision
            # per id, so the merge ClickHouse would run on every block before writing it finds
            # nothing to collapse; skipping it makes the insert about 1.5x as fast.
            "optimize_on_insert": 0,
        }
        self.client.raw_insert(
            "cdr_changes", CHANGE_COLUMNS, insert_block=rows, settings=settings, fmt="JSONCompactColumns"
        )

    async def insert_batch(self, changes: BatchChanges, token: str, live: bool = False) -> bytes | None:
        """Store a batch's changes once: a write with a token seen before is dropped by ClickHouse.
        With `live`, also return the batch's live delta, summed from the same rows in the same
        warehouse call (pipeline.live.delta)."""
        if not changes.newest:
            return None
        rows = change_columns(changes)

        def store() -> bytes | None:
            started = time.monotonic()
            try:
                self._insert(rows, token)
                return live_delta(self.client, CHANGE_COLUMNS, rows, changes) if live else None
            finally:
                self.busy_seconds += (time.monotonic() - started) / self.insert_threads

        delay = 0.1
        while True:
            try:
                delta = await asyncio.get_running_loop().run_in_executor(self.inserts, store)
                break
            except Exception as error:  # any failure: keep the batch, wait, try again
                self.failures += 1
                log.warning("clickhouse write failed, retrying in %.1fs: %s", delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        self.rows_written += len(changes.newest) + len(changes.replaced) + len(changes.moved)
        self.last_write = time.time()
        return delta
