"""The ClickHouse sink holds the pipeline back while ClickHouse fails, then stores each row once."""

import asyncio

from pipeline.events import parse_message
from pipeline.migrations import migrate
from pipeline.sink import ClickHouseSink
from pipeline.state import CdrState
from pipeline.warehouse import connect

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
    return CdrState({}, None).plan(0, offset, rows, day=20_700)


async def test_writes_wait_through_an_outage_and_land_once(warehouse_url):
    migrate(connect(warehouse_url))
    outage = Outage(warehouse_url)
    sink = ClickHouseSink(outage.connect, max_backoff=0.2)
    writing = asyncio.ensure_future(sink.write(batch(0, ["a", "b"])))
    await asyncio.sleep(1.0)
    assert not writing.done(), "the write must hold the pipeline back while ClickHouse is down"
    assert sink.failures >= 3 and outage.attempts >= 3
    outage.end()
    await asyncio.wait_for(writing, 10)
    await sink.write(batch(0, ["a", "b"]))  # a replay after a crash: same batch, same deduplication token
    client = connect(warehouse_url)
    assert client.query("SELECT count(), sum(customer_charge) FROM cdr FINAL").result_rows[0] == (2, 1)
    assert client.query("SELECT sum(attempts) FROM agg_breakout FINAL").result_rows[0][0] == 2


async def test_a_failure_after_connecting_is_retried_on_the_same_batch(warehouse_url):
    migrate(connect(warehouse_url))
    outage = Outage(warehouse_url)
    outage.down = False
    sink = ClickHouseSink(outage.connect, max_backoff=0.2)
    assert sink.client is not None  # connected while ClickHouse was up
    outage.down = True
    writing = asyncio.ensure_future(sink.write(batch(0, ["a"])))
    await asyncio.sleep(0.6)
    assert not writing.done() and sink.failures >= 2
    outage.end()
    await asyncio.wait_for(writing, 10)
    assert connect(warehouse_url).query("SELECT count() FROM cdr FINAL").result_rows[0][0] == 1
