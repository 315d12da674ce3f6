"""The Faust app: `faust -A pipeline.app worker` or `cdrflow worker`.

    input topic ─► CdrIngest (bulk read, validate, DLQ) ─► batch topic (by CDR id)
        ─► apply_batches agent: CdrState (dedup, rerates, aggregates in the `state` table)
        ─► ClickHouseSink (raw CDRs, aggregates) ─► record the batch in the table
"""

from __future__ import annotations

import logging
import time

import faust
import orjson
from faust.web import Request, Response, View

from pipeline.ingest import CdrIngest
from pipeline.metrics import WorkerMetrics
from pipeline.migrations import migrate
from pipeline.settings import get_settings
from pipeline.sink import ClickHouseSink
from pipeline.state import CdrState
from pipeline.topics import ensure_topics
from pipeline.warehouse import connect

log = logging.getLogger(__name__)
settings = get_settings()
metrics = WorkerMetrics()
(settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)


class CdrflowApp(faust.App):
    async def on_first_start(self) -> None:
        await super().on_first_start()
        await ensure_topics(settings)
        await sink.run(lambda: migrate(sink.client))


app = CdrflowApp(
    settings.app_id,
    broker=settings.broker,
    store="memory://",
    datadir=str(settings.data_dir / "faust"),
    web_port=settings.web_port,
    web_host="0.0.0.0",
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    processing_guarantee="at_least_once",
    broker_commit_every=1000,
    broker_commit_interval=1.0,
    stream_wait_empty=False,
    producer_max_request_size=8 * 1024 * 1024,
    consumer_max_fetch_size=8 * 1024 * 1024,
)
batches = app.topic(settings.batch_topic, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
table = app.Table("state", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes)
sink = ClickHouseSink(lambda: connect(settings.clickhouse))


async def send_changelog(partition: int, key: bytes, value: bytes) -> object:
    return await app.producer.send(table.changelog_topic.get_topic_name(), key, value, partition, None, None)


cdr_state = CdrState(table.data, send_changelog)
ingest = app.service(CdrIngest(settings, metrics))


applied_offsets: dict[int, int] = {}


@app.agent(batches)
async def apply_batches(stream) -> None:
    async for event in stream.events():
        message = event.message
        applied_offsets[message.partition] = message.offset
        changes = cdr_state.plan(message.partition, message.offset, orjson.loads(event.value))
        if changes is None:
            metrics.inc("cdrflow_batches_replayed_total")
            continue
        await sink.write(changes)
        await cdr_state.record(changes)
        metrics.inc("cdrflow_batches_applied_total")
        metrics.inc("cdrflow_cdrs_applied_total", len(changes.newest))


async def batch_lag() -> int:
    """Batches in the batch topic not applied yet, over this worker's partitions; -1 while recovering."""
    if app.rebalancing or not app.tables.recovery.completed.is_set():
        return -1
    consumer = app.consumer
    mine = [tp for tp in consumer.assignment() if tp.topic == settings.batch_topic]
    if not mine:
        return 0
    ends = await consumer.highwaters(*mine)
    lag = 0
    for tp in mine:
        done = applied_offsets[tp.partition] + 1 if tp.partition in applied_offsets else await consumer.position(tp) or 0
        lag += max(0, ends[tp] - done)
    return lag


@app.page("/api/health")
class Health(View):
    async def get(self, request: Request) -> Response:
        consuming = app.consumer is not None and bool(app.consumer.assignment())
        body = {"status": "ok" if consuming else "starting", "sink_last_write": sink.last_write, "time": time.time()}
        return self.json(body, status=200 if consuming else 503)


@app.page("/metrics")
class Metrics(View):
    async def get(self, request: Request) -> Response:
        metrics.counters["cdrflow_sink_rows_total"] = sink.rows_written
        metrics.counters["cdrflow_sink_failures_total"] = sink.failures
        input_lag, applying_lag = await ingest.lag(), await batch_lag()
        metrics.gauges["cdrflow_lag"] = -1 if min(input_lag, applying_lag) < 0 else input_lag + applying_lag
        return self.text(metrics.render(), content_type="text/plain; version=0.0.4")
