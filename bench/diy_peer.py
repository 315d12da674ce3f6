"""The DIY peer of the pipeline benchmark: what a user would write instead of cdrflow.

One process: aiokafka `getmany` + orjson over the input topic, each event turned into the row
cdrflow would store (pipeline.events.parse_message), and an insert of those rows into the same
warehouse schema (`cdr_changes` and its views) every 20,000 rows. No deduplication: a resent or
rerated CDR counts again. Run as `python -m bench.diy_peer TOPIC BROKER FOLDER COUNT`; prints CDR/s
and the CPU time of the whole process (ClickHouse's threads in it too) per CDR, in µs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from pipeline.events import parse_message
from pipeline.settings import parse_warehouse_url
from pipeline.state.cdr_state import BatchChanges
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.sink import CHANGE_COLUMNS, change_columns

ROWS_PER_INSERT = 20_000


async def run(topic: str, broker: str, folder: Path, count: int) -> tuple[float, float]:
    client = connect(parse_warehouse_url("CDRFLOW_CLICKHOUSE", f"chdb://{folder}"))
    migrate(client)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker, group_id=f"diy-{time.time_ns()}", auto_offset_reset="earliest",
        enable_auto_commit=False, max_partition_fetch_bytes=4 << 20,
    )  # fmt: skip
    await consumer.start()
    rows: list[list] = []
    seen = stored = 0
    started, cpu_started = None, 0.0

    def insert() -> None:
        block = change_columns(BatchChanges(0, 0, newest=rows))
        client.raw_insert("cdr_changes", CHANGE_COLUMNS, insert_block=block, fmt="JSONCompactColumns")

    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if started is None and batch:
                started, cpu_started = time.perf_counter(), time.process_time()
            now_ms = int(time.time() * 1000)
            for records in batch.values():
                for record in records:
                    valid, _invalid = parse_message(record.value, now_ms)
                    rows.extend(list(cdr) for cdr in valid)
                seen += len(records)
            if len(rows) >= ROWS_PER_INSERT or (seen >= count and rows):
                insert()
                stored += len(rows)
                rows = []
        return stored / (time.perf_counter() - started), (time.process_time() - cpu_started) / stored * 1e6
    finally:
        await consumer.stop()


if __name__ == "__main__":
    topic, broker, folder, count = sys.argv[1:5]
    rate, cpu_per_cdr = asyncio.run(run(topic, broker, Path(folder), int(count)))
    print(f"{rate:.0f} {cpu_per_cdr:.1f}")
