"""Warehouse benchmark: the CPU ClickHouse spends storing the pipeline's CDRs, alone.

The same switch feed as the pipeline benchmark, newest revision per id, goes through the sink
into a fresh chDB folder in batches of the ingest's size: `cdr_changes` and its three views
(raw CDRs, breakout and per-number aggregates), then every background merge those inserts
start. The process's CPU time over that, per CDR, is a floor under the pipeline's own CPU per
CDR: whatever reads, validates and deduplicates the CDRs comes on top of it on the same cores.
BENCH_SCALE scales the number of CDRs.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time

import orjson

from bench.pipeline_bench import scratch_folder
from consumers.feed.switch import FeedShape, SwitchFeed
from pipeline.collector import collect_less_often, freeze_start_up
from pipeline.events import parse_message
from pipeline.ingest.reader import ROWS_PER_MESSAGE
from pipeline.settings import parse_warehouse_url
from pipeline.state.cdr_state import BatchChanges
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.sink import ClickHouseSink

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
CDRS = int(400_000 * SCALE)


def newest_rows(count: int) -> list[list]:
    feed = SwitchFeed(FeedShape(seed=42))
    start_ms = int(time.time() * 1000) - 86_400_000
    newest: dict[str, list] = {}
    for event in feed.events(start_ms, count, 86_400_000):
        for cdr in parse_message(orjson.dumps(event))[0]:
            if cdr.id not in newest or cdr.rev > newest[cdr.id][1]:
                newest[cdr.id] = list(cdr)
    return list(newest.values())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_for_merges(sink: ClickHouseSink) -> None:
    quiet = 0
    while quiet < 3:
        running = sink.client.command("SELECT count() FROM system.merges")
        quiet = quiet + 1 if running == 0 else 0
        time.sleep(0.5)


async def store(sink: ClickHouseSink, rows: list[list]) -> None:
    for offset, start in enumerate(range(0, len(rows), ROWS_PER_MESSAGE)):
        await sink.insert_batch(
            BatchChanges(0, offset, newest=rows[start : start + ROWS_PER_MESSAGE]), f"bench:{offset}"
        )


def main() -> int:
    collect_less_often()  # as the worker does
    rows = newest_rows(CDRS)
    freeze_start_up()
    folder = str(scratch_folder("cdrflow-bench-warehouse-"))
    sink = ClickHouseSink(lambda: connect(parse_warehouse_url("CDRFLOW_CLICKHOUSE", f"chdb://{folder}")))
    migrate(sink.client)
    wait_for_merges(sink)
    before = cpu_seconds()
    asyncio.run(store(sink, rows))
    wait_for_merges(sink)
    per_cdr = (cpu_seconds() - before) / len(rows) * 1e6
    print(
        f"bench warehouse_cpu_per_cdr: {per_cdr:.1f} us ({len(rows)} CDRs through cdr_changes and its three views, "
        f"merges included; at most {1e6 / per_cdr:.0f} CDR/s per core)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
