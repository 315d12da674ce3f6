"""The ClickHouse sink holds the pipeline back while ClickHouse fails, then stores each row once;
batches of different partitions go in side by side."""

import asyncio
import threading
import time

import orjson

from pipeline.events import parse_message
from pipeline.ingest.reader import BATCH_ID_HEADER
from pipeline.state.cdr_state import CdrState
from pipeline.state.store import MemoryStates
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.sink import ClickHouseSink, batch_token

NOW = 1_795_000_000_000


class Outage:
    """Connections refused and inserts failing until `end()`, as when ClickHouse is down."""

    def __init__(self, url) -> None:
        self.url = url
        self.down = True
        self.attempts = 0

    def end(self) -> None:
        self.down = False

    def connect(self):
        self.attempts += 1
        if self.down:
            raise ConnectionRefusedError("clickhouse is down")
        return FlakyClient(connect(self.url), self)


class FlakyClient:
    def __init__(self, client, outage: Outage) -> None:
        self.client, self.outage = client, outage

    def raw_insert(self, *args, **kwargs):
        self.outage.attempts += 1
        if self.outage.down:
            raise ConnectionResetError("connection reset by peer")
        return self.client.raw_insert(*args, **kwargs)


def batch(offset: int, ids: list[str]):
    rows = []
    for cdr_id in ids:
        event = f'{{"id": "{cdr_id}", "start_time": 1788220800000, "customer": "acme", "dest_number": "4477", "sip_code": 200, "duration": 3, "customer_charge": "0.5"}}'
        [cdr], _ = parse_message(event.encode(), NOW)
        rows.append(list(cdr))
    return CdrState(MemoryStates({}, lambda cdr_id: 0), None).plan(0, offset, rows, day=20_700)


async def test_writes_wait_through_an_outage_and_land_once(warehouse_url):
    migrate(connect(warehouse_url))
    outage = Outage(warehouse_url)
    sink = ClickHouseSink(outage.connect, max_backoff=0.2)
    writing = asyncio.ensure_future(sink.insert_batch(batch(0, ["a", "b"]), "batch-1"))
    await asyncio.sleep(1.0)
    assert not writing.done(), "the write must hold the pipeline back while ClickHouse is down"
    assert sink.failures >= 3 and outage.attempts >= 3
    outage.end()
    await asyncio.wait_for(writing, 10)
    await sink.insert_batch(batch(0, ["a", "b"]), "batch-1")  # a replay after a crash: same batch, same token
    client = connect(warehouse_url)
    assert client.query("SELECT count(), sum(customer_charge) FROM cdr FINAL").result_rows[0] == (2, 1)
    assert client.query("SELECT sum(attempts) FROM agg_breakout FINAL").result_rows[0][0] == 2


async def test_a_failure_after_connecting_is_retried_on_the_same_batch(warehouse_url):
    migrate(connect(warehouse_url))
    outage = Outage(warehouse_url)
    outage.down = False
    sink = ClickHouseSink(outage.connect, max_backoff=0.2)
    connected = await asyncio.get_running_loop().run_in_executor(sink.inserts, lambda: sink.client)
    assert connected is not None  # the insert thread connected while ClickHouse was up
    outage.down = True
    writing = asyncio.ensure_future(sink.insert_batch(batch(0, ["a"]), "batch-1"))
    await asyncio.sleep(0.6)
    assert not writing.done() and sink.failures >= 2
    outage.end()
    await asyncio.wait_for(writing, 10)
    assert connect(warehouse_url).query("SELECT count() FROM cdr FINAL").result_rows[0][0] == 1


async def test_the_token_alone_decides_a_replay_whatever_the_rows(warehouse_url):
    """A token seen before drops the insert even when its rows differ (so identical rows are not
    what makes a replay disappear), and a new token stores rows at the same partition and offset."""
    client = connect(warehouse_url)
    migrate(client)
    sink = ClickHouseSink(lambda: connect(warehouse_url))
    await sink.insert_batch(batch(0, ["a", "b"]), "topic-1 batch 0")
    await sink.insert_batch(batch(0, ["c"]), "topic-1 batch 0")
    assert client.query("SELECT sum(attempts) FROM agg_breakout").result_rows[0][0] == 2
    await sink.insert_batch(batch(0, ["c"]), "topic-2 batch 0")  # another topic's batch at the same offset
    assert client.query("SELECT sum(attempts) FROM agg_breakout").result_rows[0][0] == 3


def test_a_batch_message_is_named_by_its_own_id_not_by_where_it_sits():
    assert batch_token({BATCH_ID_HEADER: b"9f2c"}, "app-cdr-batches", 3, 17) == "9f2c"
    assert batch_token({}, "app-cdr-batches", 3, 17) == "app-cdr-batches:3:17"


async def test_a_replayed_batch_is_stored_once_and_gives_its_live_delta_again(warehouse_url, monkeypatch):
    """A worker stopped between the insert and the live topic replays the batch: the warehouse drops
    the insert, and the delta, summed here or by the warehouse, comes again the same."""
    client = connect(warehouse_url)
    migrate(client)
    sink = ClickHouseSink(lambda: connect(warehouse_url))
    changes = batch(0, ["a", "b", "c"])
    assert await sink.insert_batch(changes, "batch-1") is None  # live windows off
    for summed_here in (True, False):
        monkeypatch.setattr("pipeline.live.delta.ROWS_SUMMED_HERE", 10**9 if summed_here else 0)
        delta = orjson.loads(await sink.insert_batch(changes, "batch-1", live=True))
        [[_minute, _newest_end, [key_row], numbers]] = delta["m"]
        assert key_row[:2] == ["acme", ""] and key_row[5:8] == [3, 3, 3] and orjson.loads(numbers)[0][:2] == ["4477", 3]
    assert client.query("SELECT sum(attempts) FROM agg_breakout").result_rows[0][0] == 3


class SlowClient:
    """A client whose inserts take half a second, counting how many run at once."""

    def __init__(self, client, seen: dict) -> None:
        self.client, self.seen = client, seen

    def raw_insert(self, *args, **kwargs):
        with self.seen["lock"]:
            self.seen["running"] += 1
            self.seen["most"] = max(self.seen["most"], self.seen["running"])
        time.sleep(0.5)
        try:
            return self.client.raw_insert(*args, **kwargs)
        finally:
            with self.seen["lock"]:
                self.seen["running"] -= 1


async def test_batches_of_different_partitions_go_in_side_by_side_each_on_a_client_of_its_own(warehouse_url):
    migrate(connect(warehouse_url))
    seen = {"lock": threading.Lock(), "running": 0, "most": 0}
    clients = []

    def slow_connect():
        clients.append(SlowClient(connect(warehouse_url), seen))
        return clients[-1]

    sink = ClickHouseSink(slow_connect, insert_threads=2)
    await asyncio.gather(
        sink.insert_batch(batch(0, ["a", "b"]), "p0 batch 0"), sink.insert_batch(batch(0, ["c"]), "p1 batch 0")
    )
    assert seen["most"] == 2 and len(clients) == 2
    assert connect(warehouse_url).query("SELECT sum(attempts) FROM agg_breakout").result_rows[0][0] == 3
    assert sink.busy_seconds >= 0.5  # two threads busy half a second each, over two threads


async def test_other_writes_keep_their_order_on_a_thread_of_their_own(warehouse_url):
    sink = ClickHouseSink(lambda: connect(warehouse_url), insert_threads=4)
    done = []

    def write(n: int):
        time.sleep(0.05 * (5 - n))  # the first submitted is the slowest
        done.append((n, threading.current_thread().name))

    await asyncio.gather(*(sink.run(lambda n=n: write(n)) for n in range(5)))
    assert [n for n, _ in done] == [0, 1, 2, 3, 4]
    assert {name for _, name in done} == {done[0][1]}
