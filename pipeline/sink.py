"""The ClickHouse sink: one batch's newest revisions and aggregate deltas, retried until stored.

Writes are idempotent: raw rows collapse by (id, rev) in ReplacingMergeTree, and aggregate
deltas are inserted with the batch's deduplication token (partition:offset), which ClickHouse
drops when it sees it again, so writing a batch twice changes nothing.
While ClickHouse fails, `write` keeps retrying with backoff and does not return: the agent
stops taking batches (backpressure) and nothing is dropped or buffered beyond one batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
from clickhouse_connect.driver.client import Client

from pipeline.aggregates import BREAKOUT_METRICS, NUMBER_METRICS
from pipeline.events import Cdr
from pipeline.state import BatchChanges

log = logging.getLogger(__name__)

CDR_COLUMNS = [
    "id", "rev", "start_time", "customer", "provider", "customer_destination", "provider_destination", "cli",
    "dest_number", "sip_code", "duration", "customer_duration", "provider_duration", "customer_charge",
    "provider_charge", "dtmf", "pdd_in_ms", "pdd_out_ms", "switch", "is_deleted",
]  # fmt: skip
BREAKOUT_COLUMNS = ["bucket", "customer", "provider", "customer_destination", "provider_destination", "switch", *BREAKOUT_METRICS]
NUMBER_COLUMNS = ["kind", "number", "bucket", "sip_code", "customer", *NUMBER_METRICS]


def decimal6(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def cdr_row(cdr: Cdr, deleted: int) -> bytes:
    return orjson.dumps(
        (
            cdr.id, cdr.rev, f"{cdr.start_ms // 1000}.{cdr.start_ms % 1000:03d}", cdr.customer, cdr.provider,
            cdr.customer_destination, cdr.provider_destination, cdr.cli, cdr.dest_number, cdr.sip_code,
            decimal6(cdr.duration_us), decimal6(cdr.customer_duration_us), decimal6(cdr.provider_duration_us),
            decimal6(cdr.customer_charge_micros), decimal6(cdr.provider_charge_micros), cdr.dtmf,
            cdr.pdd_in_ms, cdr.pdd_out_ms, cdr.switch, deleted,
        )
    )  # fmt: skip


@dataclass(frozen=True)
class Block:
    table: str
    columns: list[str]
    rows: bytes  # JSONCompactEachRow
    settings: dict[str, str]


def blocks(changes: BatchChanges) -> list[Block]:
    """The inserts one batch makes, one per table it touches."""
    dedup = {"insert_deduplication_token": f"{changes.partition}:{changes.offset}"}
    cdrs = [cdr_row(c, 0) for c in changes.newest] + [cdr_row(c, 1) for c in changes.moved]
    breakout, number = [], []
    for key, vector in changes.deltas.items():
        if not any(vector):
            continue
        if key[0] == "b":
            breakout.append(orjson.dumps((key[1] // 1000, *key[2:], *vector)))
        else:
            _, kind, num, bucket, sip_code, customer = key
            number.append(orjson.dumps((kind, num, bucket // 1000, sip_code, customer, *vector)))
    return [
        Block(table, columns, b"\n".join(rows), settings)
        for table, columns, rows, settings in (
            ("cdr", CDR_COLUMNS, cdrs, {}),
            ("agg_breakout", BREAKOUT_COLUMNS, breakout, dedup),
            ("agg_number", NUMBER_COLUMNS, number, dedup),
        )
        if rows
    ]


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

    def _insert(self, payload: list[Block]) -> None:
        for block in payload:
            self.client.raw_insert(
                block.table, block.columns, insert_block=block.rows, settings=block.settings, fmt="JSONCompactEachRow"
            )

    async def write(self, changes: BatchChanges) -> None:
        payload = blocks(changes)
        delay = 0.1
        while True:
            try:
                await self.run(lambda: self._insert(payload))
                break
            except Exception as error:  # any failure: keep the batch, wait, try again
                self.failures += 1
                log.warning("clickhouse write failed, retrying in %.1fs: %s", delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        self.rows_written += sum(block.rows.count(b"\n") + 1 for block in payload)
        self.last_write = time.time()
