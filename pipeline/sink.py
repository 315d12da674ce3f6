"""The ClickHouse sink: one insert per applied batch, retried until stored.

A batch becomes signed CDR revisions in `cdr_changes` (+1 newest, -1 replaced, 0 a moved
revision's tombstone); ClickHouse's materialized views store the raw rows and add the
aggregates. The insert carries the batch's deduplication token (partition:offset), so a batch
written twice after a crash is dropped by every view's table and never counts twice.
While ClickHouse fails, `write` keeps retrying with backoff and does not return: the agent
stops taking batches (backpressure) and nothing is dropped or buffered beyond one batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import orjson
from clickhouse_connect.driver.client import Client

from pipeline.events import Cdr
from pipeline.state import BatchChanges

log = logging.getLogger(__name__)

CHANGE_COLUMNS = [
    "sign", "id", "rev", "start_time", "customer", "provider", "customer_destination", "provider_destination", "cli",
    "dest_number", "sip_code", "duration", "customer_duration", "provider_duration", "customer_charge",
    "provider_charge", "dtmf", "pdd_in_ms", "pdd_out_ms", "switch",
]  # fmt: skip
NEWEST, REPLACED, TOMBSTONE = 1, -1, 0


def decimal6(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def change_row(sign: int, cdr: Cdr) -> bytes:
    return orjson.dumps(
        (
            sign, cdr.id, cdr.rev, f"{cdr.start_ms // 1000}.{cdr.start_ms % 1000:03d}", cdr.customer, cdr.provider,
            cdr.customer_destination, cdr.provider_destination, cdr.cli, cdr.dest_number, cdr.sip_code,
            decimal6(cdr.duration_us), decimal6(cdr.customer_duration_us), decimal6(cdr.provider_duration_us),
            decimal6(cdr.customer_charge_micros), decimal6(cdr.provider_charge_micros), cdr.dtmf,
            cdr.pdd_in_ms, cdr.pdd_out_ms, cdr.switch,
        )
    )  # fmt: skip


def change_rows(changes: BatchChanges) -> bytes:
    """The batch as JSONCompactEachRow rows of `cdr_changes`."""
    rows = [change_row(NEWEST, c) for c in changes.newest]
    rows += [change_row(REPLACED, c) for c in changes.replaced]
    rows += [change_row(TOMBSTONE, c) for c in changes.moved]
    return b"\n".join(rows)


class ClickHouseSink:
    def __init__(self, connect: Callable[[], Client], max_backoff: float = 10.0) -> None:
        self._connect = connect
        self._client: Client | None = None
        # chDB is one engine per process: every warehouse call goes through this one thread.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self.max_backoff = max_backoff
        self.rows_written = 0
        self.failures = 0
        self.last_write = 0.0

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    async def run(self, work: Callable[[], object]) -> object:
        """Run blocking warehouse work on the warehouse thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def _insert(self, rows: bytes, token: str) -> None:
        settings = {"insert_deduplication_token": token, "deduplicate_blocks_in_dependent_materialized_views": 1}
        self.client.raw_insert(
            "cdr_changes", CHANGE_COLUMNS, insert_block=rows, settings=settings, fmt="JSONCompactEachRow"
        )

    async def write(self, changes: BatchChanges) -> None:
        if not changes.newest:
            return
        rows, token = change_rows(changes), f"{changes.partition}:{changes.offset}"
        delay = 0.1
        while True:
            try:
                await self.run(lambda: self._insert(rows, token))
                break
            except Exception as error:  # any failure: keep the batch, wait, try again
                self.failures += 1
                log.warning("clickhouse write failed, retrying in %.1fs: %s", delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        self.rows_written += len(changes.newest) + len(changes.replaced) + len(changes.moved)
        self.last_write = time.time()
