"""The reading door: reads beside the sink's writes, held to their limits, never queued without end."""

import asyncio
import threading

import pytest

from pipeline.warehouse.client import connect, connect_read_only, current_client
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.reads import ReadLimits, ReadRefused, ReadsBusy, WarehouseReads
from pipeline.warehouse.sink import ClickHouseSink
from tests.pipeline.warehouse.test_sink import batch

SCAN = "SELECT count() FROM system.numbers WHERE cityHash64(number) = 0"  # runs until its time limit


def reads_on(url, limits: ReadLimits, **kwargs) -> WarehouseReads:
    connect(url)  # the database
    return WarehouseReads(lambda settings: connect_read_only(url, settings), limits, **kwargs)


async def test_batches_are_stored_while_a_read_runs_to_its_time_limit(warehouse_url):
    migrate(connect(warehouse_url))
    sink = ClickHouseSink(lambda: connect(warehouse_url))
    reads = reads_on(warehouse_url, ReadLimits(max_seconds=3, max_threads=1))
    reading = asyncio.ensure_future(reads.run(lambda: current_client().query(SCAN)))
    await asyncio.sleep(0.3)
    stored = 0
    while not reading.done():
        await sink.insert_batch(batch(stored, [f"id-{stored}"]), f"batch-{stored}")
        stored += 1
    with pytest.raises(ReadRefused, match="ran past CDRFLOW_REPORT_MAX_SECONDS = 3 s"):
        await reading
    assert stored >= 10, "the sink went on writing while the read ran"
    assert connect(warehouse_url).query("SELECT count() FROM cdr FINAL").result_rows[0][0] == stored
    assert await reads.run(lambda: current_client().query("SELECT 1").result_rows) == [(1,)]  # the pool goes on
    reads.close()


async def test_a_read_past_its_memory_names_the_limit(warehouse_url):
    reads = reads_on(warehouse_url, ReadLimits(max_memory_bytes=32 << 20))
    hungry = "SELECT groupArray(number) FROM numbers(50000000)"
    with pytest.raises(ReadRefused, match="needed more than 32 MB"):
        await reads.run(lambda: current_client().query(hungry))
    reads.close()


async def test_reads_past_the_pool_and_its_queue_are_refused_at_once(warehouse_url):
    release = threading.Event()
    reads = reads_on(warehouse_url, ReadLimits(), threads=1, waiting=1)
    held = [asyncio.ensure_future(reads.run(release.wait)) for _ in range(2)]
    await asyncio.sleep(0.1)
    with pytest.raises(ReadsBusy):
        await reads.run(lambda: None)
    release.set()
    assert await asyncio.gather(*held) == [True, True]
    assert await reads.run(lambda: "free again") == "free again"
    reads.close()


async def test_a_read_thread_cannot_write(warehouse_url):
    migrate(connect(warehouse_url))
    reads = reads_on(warehouse_url, ReadLimits())
    with pytest.raises(Exception, match="readonly"):
        await reads.run(lambda: current_client().command("TRUNCATE TABLE cdr_changes"))
    reads.close()


def test_warehouse_work_off_a_doors_thread_is_refused():
    with pytest.raises(RuntimeError, match="door"):
        current_client()
