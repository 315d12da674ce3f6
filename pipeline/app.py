"""The Faust app: `faust -A pipeline.app worker` or `cdrflow worker`.

input topic ─► CdrIngest in its own process (bulk read, validate, DLQ) ─► batch topic (by CDR id)
    ─► apply_batches agent: CdrState (dedup and rerates over the `state` table)
    ─► ClickHouseSink (raw CDRs, aggregate deltas; sums the batch's live delta) ─► live topic
    ─► record the batch in the table
live topic (one partition) ─► apply_live_deltas agent: LiveState (windows listed in the `live` table)
    ─► the minute steps of the live clock (alert rules)
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from datetime import datetime, timezone
from typing import NoReturn

import faust
import orjson
from aiohttp import web
from faust.web import Request, Response, View

from pipeline.browser_rules import BrowserRules
from pipeline.changelog import ChangelogWriter
from pipeline.collector import collect_less_often, freeze_start_up
from pipeline.ingest import OLDEST_INPUT_HEADER, partition_of
from pipeline.ingest_process import IngestProcess
from pipeline.live_state import LiveState
from pipeline.live_topic import read_live_deltas
from pipeline.metrics import WorkerMetrics
from pipeline.migrations import migrate
from pipeline.progress import record_progress
from pipeline.settings import SettingsError, ensure_data_dir, get_settings
from pipeline.sink import ClickHouseSink, batch_token
from pipeline.state import BatchChanges, CdrState
from pipeline.state_store import MemoryStates, PartitionStates, RocksDBStates, StateMemory
from pipeline.topics import ensure_topics
from pipeline.warehouse import connect

log = logging.getLogger(__name__)
collect_less_often()
EXIT_UNAVAILABLE = 69  # exit codes of the README's table: Kafka, ClickHouse or needed batches unavailable
EXIT_CONFIG = 78  # a bad setting
FORGET_EVERY_SECONDS = 3600.0
PROGRESS_EVERY_SECONDS = 10.0
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
try:
    settings = get_settings()
    faust_dir = ensure_data_dir(settings)
except SettingsError as error:
    print(f"cdrflow: bad setting: {error}", file=sys.stderr)
    sys.exit(EXIT_CONFIG)
metrics = WorkerMetrics()
browser_rules = BrowserRules(settings.allowed_hosts, settings.web_host, settings.web_port)


@web.middleware
async def refuse_other_sites(request: web.Request, handler):
    """The browser rules (pipeline.browser_rules) on every page of the worker's web server."""
    refusal = browser_rules.refusal(
        request.headers.get("Host"), request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site")
    )
    if refusal is not None:
        return web.json_response({"error": f"refused: {refusal}"}, status=403)
    return await handler(request)


class CdrflowApp(faust.App):
    async def on_started(self) -> None:
        await super().on_started()
        freeze_start_up()
        if not settings.api_token and settings.web_host not in ("127.0.0.1", "localhost", "::1"):
            log.warning(
                "the web server listens on %s without CDRFLOW_API_TOKEN: anyone who reaches it can read "
                "reports and change schedules",
                settings.web_host,
            )

    async def on_first_start(self) -> None:
        await super().on_first_start()
        await ensure_topics(settings)
        await sink.run(lambda: migrate(sink.client))


app = CdrflowApp(
    settings.app_id,
    broker=settings.broker,
    store="cdrflow-rocksdb://" if settings.state == "rocksdb" else "memory://",
    datadir=str(faust_dir),
    web_port=settings.web_port,
    web_bind=settings.web_host,  # the address listened on (Faust's web_host only names it in URLs)
    web_host=settings.web_host,
    web_application_options={"middlewares": [refuse_other_sites]},
    # Faust's own pages (/router, /table, /graph, /stats, /performance) show internals unguarded.
    web_router_enabled=False,
    web_tables_enabled=False,
    web_graph_enabled=False,
    web_stats_enabled=False,
    web_metrics_enabled=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication,
    processing_guarantee="at_least_once",
    broker_commit_every=1000,
    broker_commit_interval=1.0,
    # A worker killed without leaving its group holds its partitions until this expires.
    broker_session_timeout=10.0,
    stream_wait_empty=False,
    producer_max_request_size=8 * 1024 * 1024,
    origin="pipeline.app",
    # The reports API, the scheduler, the report console and the SQL port live with the consumers.
    autodiscover=[
        "consumers.web.api",
        "consumers.web.live",
        "consumers.schedules.timer",
        "consumers.web.console",
        "consumers.sql.port",
        "consumers.alerts.on_worker",
    ],  # fmt: skip
    consumer_max_fetch_size=8 * 1024 * 1024,
)
batches = app.topic(settings.batch_topic, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
table = app.Table(
    "state", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes,
    options={"memory": StateMemory(total_mb=settings.state_memory_mb)} if settings.state == "rocksdb" else None,
)  # fmt: skip
sink = ClickHouseSink(lambda: connect(settings.clickhouse))
live_deltas = app.topic(settings.live_topic, value_serializer="raw", partitions=1)
live_table = app.Table(
    "live", default=None, partitions=1, key_type=bytes, value_type=bytes,
    options={"memory": StateMemory(total_mb=32)} if settings.state == "rocksdb" else None,
)  # fmt: skip
live = LiveState(
    live_table, settings.live_grace_seconds * 1000, lambda offsets: read_live_deltas(settings, offsets),
    ready=lambda: holds_live(),
)  # fmt: skip


changelog = app.service(ChangelogWriter(settings, table.changelog_topic.get_topic_name()))


def id_partition(cdr_id: bytes) -> int:
    return partition_of(cdr_id.decode(), settings.partitions)


def table_states() -> PartitionStates:
    """The table's store as CdrState reads it: the store's own databases or dict (recovery writes
    into them), not the store's Mapping wrapper, whose per-key cost exceeds the rest of planning."""
    if settings.state == "rocksdb":
        return RocksDBStates(table.data)
    return MemoryStates(table.data.data, id_partition)


cdr_state = CdrState(table_states(), changelog.write)
ingest = app.service(IngestProcess(settings, metrics))


skip_lost_batches = False  # set by `cdrflow worker --skip-lost-batches`
in_flight: dict[int, asyncio.Future] = {}  # per batch-topic partition: the batch being sunk and recorded
forget_due_at = time.monotonic() + FORGET_EVERY_SECONDS


@app.agent(batches)
async def apply_batches(stream) -> None:
    """Plan each batch, then sink and record it while the next batch (of another partition) is planned.

    Batches of one partition stay strictly in order: a batch is planned only after the one before
    it in its partition is recorded. Partitions hold disjoint ids, so their batches can overlap.
    """
    async for event in stream.events():
        message = event.message
        partition = message.partition
        if partition in in_flight:
            await in_flight.pop(partition)
        if await skipped_batches_before(message.tp, message.offset):
            continue
        if time.monotonic() >= forget_due_at:
            await forget_old_ids()
        changes = cdr_state.plan(partition, message.offset, orjson.loads(event.value), today())
        if changes is None:
            metrics.inc("cdrflow_batches_replayed_total")
            continue
        in_flight[partition] = asyncio.ensure_future(sink_and_record(changes, dict(message.headers or ())))


async def sink_and_record(changes: BatchChanges, headers: dict[str, bytes]) -> None:
    token = batch_token(headers, settings.batch_topic, changes.partition, changes.offset)
    delta = await sink.write(changes, token, live=settings.live)
    if delta is not None:
        try:
            await (await live_deltas.send(value=delta))  # delivered before the batch counts
        except Exception as error:
            stop_unrecorded(changes, "the live topic", error)
    try:
        await cdr_state.record(changes)
    except Exception as error:
        stop_unrecorded(changes, "the state's changelog", error)
    oldest_input_ms = headers.get(OLDEST_INPUT_HEADER)
    if oldest_input_ms is not None:
        metrics.observe_latency(time.time() - int(oldest_input_ms) / 1000)
    metrics.inc("cdrflow_batches_applied_total")
    metrics.inc("cdrflow_cdrs_applied_total", len(changes.newest))


def stop_unrecorded(changes: BatchChanges, refused_by: str, error: Exception) -> NoReturn:
    """The live topic or the state's changelog did not take all of a batch: this worker stops at once
    (exit 69), before any later write could land after the lost ones, and starts again from what
    Kafka holds; the batch is planned again from its marker, its insert is dropped as a replay, and
    its live delta is sent again."""
    log.critical(
        "%s did not take batch %s[%d] (%s); stopping to recover from Kafka",
        refused_by, settings.batch_topic, changes.partition, error,
    )  # fmt: skip
    logging.shutdown()
    os._exit(EXIT_UNAVAILABLE)


async def finish_batches_in_flight() -> None:
    while in_flight:
        await in_flight.popitem()[1]


@app.on_partitions_revoked.connect
async def record_before_handing_over(sender, revoked, **kwargs) -> None:
    """A batch being sunk is recorded, and its changelog sent, before another worker takes its partition."""
    await finish_batches_in_flight()
    await changelog.flush()
    if any(tp.topic == settings.live_topic for tp in revoked):
        live.drop()


@app.agent(live_deltas)
async def apply_live_deltas(stream) -> None:
    """Add each applied batch's delta to the live windows, in the order the batches were applied."""
    async for event in stream.events():
        await live.apply(event.message.offset, event.value)


def holds_live() -> bool:
    """Whether this worker keeps the live windows (it holds the live partition, recovered)."""
    return recovered() and any(tp.topic == settings.live_topic for tp in app.consumer.assignment())


@app.timer(interval=1.0)
async def build_the_live_windows() -> None:
    """A worker that has taken the live partition builds its windows without waiting for a delta
    (`build` does nothing on a worker that does not hold it, or has built them already)."""
    if settings.live:
        await live.build()


@app.timer(interval=1.0)
async def follow_the_wall_clock_when_idle() -> None:
    """While the input is caught up and no CDR arrived for CDRFLOW_LIVE_IDLE_SECONDS, the live clock
    follows the wall clock, so that rules on traffic that stopped can fire."""
    if not settings.live or not holds_live():
        return
    if time.monotonic() - live.last_delta_at < settings.live_idle_seconds or ingest.lag() != 0:
        return
    await live_deltas.send(value=orjson.dumps({"tick": int(time.time() * 1000)}))


@app.on_rebalance_complete.connect
async def fetch_from_the_markers(sender, **kwargs) -> None:
    """Once the table is recovered, make each batch partition resume at the batch after its marker.

    Faust resumes from its committed offset, which can be past batches the table never recorded
    (a worker that stopped while recording a batch had acked the events after it), and nothing
    would reveal that gap: the refetch in skipped_batches_before needs a later batch to arrive.
    So the markers are committed here, and Faust's own seek to the committed offsets, which comes
    next and runs before any fetch, starts there. (Seeking here instead would be undone by it, and
    seeking later races the consumer's fetcher thread.) That seek passes over a committed offset
    of 0 (aiokafka's seek_to_committed), leaving the position of the previous commit: those
    partitions are sought to 0 here."""
    consumer = app.consumer
    mine = [tp for tp in consumer.assignment() if tp.topic == settings.batch_topic]
    if not mine:
        return
    earliest = await consumer.earliest_offsets(*mine)
    resume_at = {tp: max(cdr_state.next_offset(tp.partition), earliest[tp]) for tp in mine}
    await consumer._commit(resume_at)
    for tp, offset in resume_at.items():
        if offset == 0:
            await consumer.seek(tp, 0)


def stop_on_lost_batches(tp, expected: int, earliest: int) -> NoReturn:
    """Batches the table never applied are gone from Kafka (kept less long than the warehouse was
    down, or deleted by hand): their CDRs would be missing from every report. The worker stops
    (exit 69) rather than go on without them; `cdrflow worker --skip-lost-batches` goes on,
    logging and counting what is lost, once those CDRs are replayed from the switches' files or
    given up."""
    log.critical(
        "batches %s[%d] %d..%d were deleted before this worker applied them (the topic now starts at %d); "
        "replay their CDRs (cdrflow replay) and start with `cdrflow worker --skip-lost-batches` to go on without them",
        tp.topic, tp.partition, expected, earliest - 1, earliest,
    )  # fmt: skip
    logging.shutdown()
    os._exit(EXIT_UNAVAILABLE)


async def forget_old_ids() -> None:
    """Keep the dedup state bounded: forget ids not changed for CDRFLOW_DEDUP_DAYS (between batches)."""
    global forget_due_at
    forget_due_at = time.monotonic() + FORGET_EVERY_SECONDS
    await finish_batches_in_flight()
    forgotten = await cdr_state.forget_before(today() - settings.dedup_days, my_batch_partitions(), still_mine)
    metrics.inc("cdrflow_ids_forgotten_total", forgotten)


async def skipped_batches_before(tp, offset: int) -> bool:
    """Whether batches before `offset` were never handed to the agent; if so, fetch them again.

    Around rebalances and table recovery Faust's fetcher can drop records it has read without
    seeking back, and Faust's committed offset can pass batches the table never applied. The
    batch topic has no gaps (no transactions, no compaction), so a batch past the table's
    marker means skipped batches: the partition is fetched again from the marker, and batches
    applied already are recognised by the marker and skipped.
    """
    expected = cdr_state.next_offset(tp.partition)
    if offset <= expected:
        return False
    earliest = (await app.consumer.earliest_offsets(tp))[tp]
    if earliest > expected:
        if not skip_lost_batches:
            stop_on_lost_batches(tp, expected, earliest)
        log.error("batches %s[%d] %d..%d were deleted before they were applied: their CDRs are not counted",
                  tp.topic, tp.partition, expected, earliest - 1)  # fmt: skip
        metrics.inc("cdrflow_batches_lost_total", earliest - expected)
        return False
    log.warning("batches %s[%d] %d..%d were skipped; fetching them again", tp.topic, tp.partition, expected, offset - 1)
    await app.consumer.seek(tp, expected)
    metrics.inc("cdrflow_batch_refetches_total")
    return True


@app.timer(interval=PROGRESS_EVERY_SECONDS)
async def report_progress() -> None:
    """Record how far this worker has caught up (pipeline/progress.py), for scheduled reports.

    The ingest's caught-up moment is read before the batch lag: the batches it had forwarded by
    then are in the batch topic's end offsets, so no lag there means they are applied too."""
    caught_up_at = ingest.caught_up_at
    if caught_up_at is None or await batch_lag() != 0:
        return
    through = datetime.fromtimestamp(caught_up_at, timezone.utc)
    try:
        await sink.run(lambda: record_progress(sink.client, WORKER_NAME, through))
    except Exception as error:  # the warehouse is down: the next report tries again
        log.warning("could not record the pipeline's progress: %s", error)
        return
    metrics.gauges["cdrflow_caught_up_through_seconds"] = int(caught_up_at)


def my_batch_partitions() -> list[int]:
    return sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == settings.batch_topic)


def still_mine(partition: int) -> bool:
    return not app.rebalancing and partition in my_batch_partitions()


def today() -> int:
    return int(time.time() // 86400)


def recovered() -> bool:
    return not app.rebalancing and app.tables.recovery.completed.is_set()


async def unapplied_batches() -> dict:
    """Per assigned batch-topic partition: (first batch not applied yet, end offset), from the table."""
    consumer = app.consumer
    mine = [tp for tp in consumer.assignment() if tp.topic == settings.batch_topic]
    if not mine:
        return {}
    ends = await consumer.highwaters(*mine)
    return {tp: (cdr_state.next_offset(tp.partition), ends[tp]) for tp in mine}


async def batch_lag() -> int:
    """Batches in the batch topic not applied yet, over this worker's partitions; -1 while recovering."""
    if not recovered():
        return -1
    return sum(max(0, end - wanted) for wanted, end in (await unapplied_batches()).values())


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
        if settings.state == "rocksdb":
            metrics.counters["cdrflow_state_changelog_read_total"] = table.data.changelog_read
        input_lag, applying_lag = ingest.lag(), await batch_lag()
        metrics.gauges["cdrflow_lag"] = -1 if min(input_lag, applying_lag) < 0 else input_lag + applying_lag
        metrics.gauges["cdrflow_input_partitions"] = ingest.partitions
        metrics.gauges["cdrflow_batch_partitions"] = sum(
            1 for tp in app.consumer.assignment() if tp.topic == batches.get_topic_name()
        )
        holder = settings.live and holds_live()
        metrics.gauges["cdrflow_live_holder"] = int(holder)
        metrics.gauges["cdrflow_live_clock_seconds"] = (live.built().clock_ms or 0) // 1000 if holder else 0
        metrics.counters["cdrflow_live_late_total"] = live.built().late if holder else 0
        return self.text(metrics.render(), content_type="text/plain; version=0.0.4")
