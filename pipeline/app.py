"""The Faust app: `faust -A pipeline.app worker` or `cdrflow worker`.

input topic ─► CdrIngest in its own process (bulk read, validate, DLQ) ─► batch topic (by CDR id)
    ─► apply_batches agent: CdrState (dedup and rerates over the `state` table)
    ─► ClickHouseSink (raw CDRs, aggregate deltas; sums the batch's live delta) ─► live topic
    ─► record the batch in the table
live topic (one partition) ─► apply_live_deltas agent: LiveState (windows listed in the `live` table)
    ─► the minute steps of the live clock (alert rules)

Each batch partition resumes at the state table's marker (pipeline.state.recovery). The worker's
HTTP pages, the SQL port, schedules and alerts are the consumers' modules, found by autodiscovery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from datetime import datetime, timezone
from functools import partial
from typing import NoReturn

import faust
import orjson
from aiohttp import web

from pipeline.browser_rules import BrowserRules
from pipeline.caught_up import CaughtUpMark
from pipeline.client_logs import quiet_repeated_client_lines
from pipeline.collector import collect_less_often, freeze_start_up
from pipeline.end_offsets import EndOffsets
from pipeline.ingest.process import IngestProcess
from pipeline.ingest.reader import OLDEST_INPUT_HEADER, READ_HEADER, partition_of
from pipeline.live.delta import stamped
from pipeline.live.state import LiveState
from pipeline.live.topic import read_live_deltas
from pipeline.metrics import WorkerMetrics
from pipeline.settings import SettingsError, ensure_data_dir, get_settings
from pipeline.state.cdr_state import BatchChanges, CdrState
from pipeline.state.changelog import ChangelogWriter
from pipeline.state.recovery import BatchRecovery
from pipeline.state.store import MemoryStates, PartitionStates, RocksDBStates, StateMemory
from pipeline.timers import every
from pipeline.topics import ensure_topics
from pipeline.warehouse.client import connect, connect_read_only
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.progress import insert_progress
from pipeline.warehouse.reads import ReadLimits, WarehouseReads
from pipeline.warehouse.sink import ClickHouseSink, batch_token

log = logging.getLogger(__name__)
collect_less_often()
# While another thread runs Python (rendering a large export, building a mail), the event loop
# waits this long for the interpreter's lock at each hand-over instead of 5 ms: a request that
# takes several hand-overs (/api/health, the SQL port's next block) still answers in milliseconds.
sys.setswitchinterval(0.001)
EXIT_UNAVAILABLE = 69  # exit codes of the README's table: Kafka, ClickHouse or needed batches unavailable
EXIT_CONFIG = 78  # a bad setting
FORGET_EVERY_SECONDS = 3600.0
MARK_EVERY_SECONDS = 1.0
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
    refusal = browser_rules.refusal(request.headers)
    if refusal is not None:
        return web.json_response({"error": f"refused: {refusal}"}, status=403)
    return await handler(request)


class CdrflowApp(faust.App):
    async def on_started(self) -> None:
        await super().on_started()
        quiet_repeated_client_lines()
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
    # How the other workers reach this one (the live windows' holder answers /api/live for all).
    canonical_url=settings.canonical_url,
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
        "consumers.web.health",
        "consumers.web.sql_port",
        "consumers.alerts.on_worker",
    ],  # fmt: skip
    consumer_max_fetch_size=8 * 1024 * 1024,
)
batches = app.topic(settings.batch_topic, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
table = app.Table(
    "state", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes,
    options={"memory": StateMemory(total_mb=settings.state_memory_mb)} if settings.state == "rocksdb" else None,
)  # fmt: skip
CORES = os.cpu_count() or 2
sink = ClickHouseSink(lambda: connect(settings.clickhouse), insert_threads=max(1, min(settings.partitions, CORES)))
# The reading door, in two pools so that people's reports never hold up the worker's own reads:
# `reads` for reports (CDRFLOW_REPORT_MAX_SECONDS), `bookkeeping_reads` for short reads of saved
# rules, schedules and alert states. Reports run on at most half the cores between them (one
# report at a time on two cores): the other half stays with the pipeline, whose inserts would
# otherwise get a share of the CPU too small to keep up with the feed.
REPORT_CORES = max(1, CORES // 2)
reads = WarehouseReads(
    lambda limits: connect_read_only(settings.clickhouse, limits),
    ReadLimits(settings.report_max_seconds, max_threads=max(1, REPORT_CORES // 2)),
    threads=min(2, REPORT_CORES), name="reads",
)  # fmt: skip
bookkeeping_reads = WarehouseReads(
    lambda limits: connect_read_only(settings.clickhouse, limits), ReadLimits(30, setting="its bookkeeping limit"),
    threads=1, waiting=256, name="bookkeeping",
)  # fmt: skip
live_deltas = app.topic(settings.live_topic, value_serializer="raw", partitions=1)
live_table = app.Table(
    "live", default=None, partitions=1, key_type=bytes, value_type=bytes,
    options={"memory": StateMemory(total_mb=32)} if settings.state == "rocksdb" else None,
)  # fmt: skip
live = LiveState(
    live_table, settings.live_grace_seconds * 1000, lambda offsets: read_live_deltas(settings, offsets),
    ready=lambda: holds_live(), idle_ms=settings.live_idle_seconds * 1000, partitions=settings.partitions,
)  # fmt: skip


changelog = app.service(ChangelogWriter(settings, table.changelog_topic.get_topic_name()))
guarded_timer = partial(every, app, metrics)  # @guarded_timer(seconds): a timer whose errors never end it


def id_partition(cdr_id: bytes) -> int:
    return partition_of(cdr_id.decode(), settings.partitions)


def table_states() -> PartitionStates:
    """The table's store as CdrState reads it: the store's own databases or dict (recovery writes
    into them), not the store's Mapping wrapper, whose per-key cost exceeds the rest of planning."""
    if settings.state == "rocksdb":
        return RocksDBStates(table.data)
    return MemoryStates(table.data.data, id_partition)


cdr_state = CdrState(table_states(), changelog.send)
ingest = app.service(IngestProcess(settings, metrics, lambda: sink.busy_seconds))


recovery = BatchRecovery(app, cdr_state, settings.batch_topic, metrics, app.service(EndOffsets(settings)))
caught_up = CaughtUpMark()
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
        if await recovery.skipped_batches_before(message.tp, message.offset):
            continue
        if time.monotonic() >= forget_due_at:
            await forget_old_ids()
        changes = cdr_state.plan(partition, message.offset, orjson.loads(event.value), today())
        if changes is None:
            metrics.inc("cdrflow_batches_replayed_total")
            continue
        headers = dict(message.headers or ())
        in_flight[partition] = asyncio.ensure_future(sink_and_record(changes, headers, message.timestamp))


async def sink_and_record(changes: BatchChanges, headers: dict[str, bytes], appended_at: float) -> None:
    """Store the batch, deliver its live delta, record it; `appended_at`: when the batch topic took it."""
    planned_at = time.time()
    token = batch_token(headers, settings.batch_topic, changes.partition, changes.offset)
    delta = await sink.insert_batch(changes, token, live=settings.live)
    stored_at = time.time()
    if delta is not None:
        try:
            await (
                await live_deltas.send(value=stamped(delta, int(stored_at * 1000)))
            )  # delivered before the batch counts
        except Exception as error:
            stop_unrecorded(changes, "the live topic", error)
    delivered_at = time.time()
    try:
        await cdr_state.mark_applied(changes)
    except Exception as error:
        stop_unrecorded(changes, "the state's changelog", error)
    recorded_at = time.time()
    if OLDEST_INPUT_HEADER in headers:
        oldest_input = int(headers[OLDEST_INPUT_HEADER]) / 1000
        read = int(headers.get(READ_HEADER, headers[OLDEST_INPUT_HEADER])) / 1000
        metrics.observe_latency(recorded_at - oldest_input)
        metrics.observe_stages((
            read - oldest_input, appended_at - read, planned_at - appended_at, stored_at - planned_at,
            delivered_at - stored_at, recorded_at - delivered_at,
        ))  # fmt: skip
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
    return recovery.recovered() and any(tp.topic == settings.live_topic for tp in app.consumer.assignment())


@guarded_timer(1.0)
async def build_the_live_windows() -> None:
    """A worker that has taken the live partition builds its windows without waiting for a delta
    (`build` does nothing on a worker that does not hold it, or has built them already)."""
    if settings.live:
        await live.build()


@guarded_timer(5.0)
async def evaluate_a_failed_minute_step_again() -> None:
    """A minute step whose evaluation failed is evaluated again (through the live topic, whose agent
    alone writes the live table), every few seconds until it passes."""
    if settings.live and holds_live() and live.failed_step is not None:
        await live_deltas.send(value=orjson.dumps({"evaluate": int(time.time() * 1000)}))


@guarded_timer(1.0)
async def follow_the_wall_clock_when_idle() -> None:
    """While the input is caught up and no CDR arrived for CDRFLOW_LIVE_IDLE_SECONDS, the live clock
    follows the wall clock, so that rules on traffic that stopped can fire."""
    if not settings.live or not holds_live():
        return
    if time.monotonic() - live.last_delta_at < settings.live_idle_seconds or ingest.lag() != 0:
        return
    await live_deltas.send(value=orjson.dumps({"tick": int(time.time() * 1000)}))


@app.on_rebalance_complete.connect
async def resume_at_the_markers(sender, **kwargs) -> None:
    await recovery.resume_at_the_markers()


async def forget_old_ids() -> None:
    """Keep the dedup state bounded: forget ids not changed for CDRFLOW_DEDUP_DAYS (between batches)."""
    global forget_due_at
    forget_due_at = time.monotonic() + FORGET_EVERY_SECONDS
    await finish_batches_in_flight()
    forgotten = await cdr_state.forget_before(
        today() - settings.dedup_days, recovery.my_partitions(), recovery.still_mine
    )
    metrics.inc("cdrflow_ids_forgotten_total", forgotten)


@guarded_timer(MARK_EVERY_SECONDS)
async def follow_how_far_caught_up() -> None:
    """Move this worker's caught-up mark (pipeline/caught_up.py). The ingest's moment is read
    before the batch topic's end offsets: the batches it had forwarded by then are in them."""
    forwarded_through = ingest.forwarded_through
    if not recovery.recovered():
        return
    batches = await asyncio.wait_for(recovery.unapplied_batches(), MARK_EVERY_SECONDS * 5)
    if forwarded_through is not None:
        caught_up.forwarded(forwarded_through, {tp.partition: end for tp, (_, end) in batches.items()})
    through = caught_up.applied({tp.partition: applied for tp, (applied, _) in batches.items()})
    if through is not None:
        metrics.gauges["cdrflow_caught_up_through_seconds"] = int(through)


@guarded_timer(PROGRESS_EVERY_SECONDS)
async def report_progress() -> None:
    """Record how far this worker has caught up (pipeline/warehouse/progress.py), for scheduled reports."""
    if caught_up.through is not None:
        through = datetime.fromtimestamp(caught_up.through, timezone.utc)
        await sink.run(lambda: insert_progress(sink.client, WORKER_NAME, through))


def today() -> int:
    return int(time.time() // 86400)
