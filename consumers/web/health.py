"""The worker's own pages: `/api/health` (200 when consuming; on the worker keeping the live windows,
`"live": {"clock", "behind_seconds"}`) and `/metrics` (Prometheus text)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from pipeline.app import app, batches, holds_live, ingest, live, metrics, recovery, settings, sink, table

LAG_SECONDS = 2.0  # a scrape does not wait longer for the broker to tell the batch lag


@app.page("/api/health")
class Health(View):
    async def get(self, request: Request) -> Response:
        consuming = app.consumer is not None and bool(app.consumer.assignment())
        now = time.time()
        body = {"status": "ok" if consuming else "starting", "sink_last_write": sink.last_write, "time": now}
        if settings.live and holds_live():
            body["live"] = live_clock(now)
        return self.json(body, status=200 if consuming else 503)


def live_clock(now: float) -> dict:
    """The live clock, and how far it trails the wall clock less the grace (negative: leads it)."""
    clock_ms = live.built().clock_ms
    if clock_ms is None:
        return {"clock": None, "behind_seconds": None}
    clock = datetime.fromtimestamp(clock_ms / 1000, timezone.utc)
    behind = now - settings.live_grace_seconds - clock_ms / 1000
    return {"clock": clock.isoformat().replace("+00:00", "Z"), "behind_seconds": round(behind, 1)}


@app.page("/metrics")
class Metrics(View):
    async def get(self, request: Request) -> Response:
        metrics.counters["cdrflow_sink_rows_total"] = sink.rows_written
        metrics.counters["cdrflow_sink_failures_total"] = sink.failures
        if settings.state == "rocksdb":
            metrics.counters["cdrflow_state_changelog_read_total"] = table.data.changelog_read
        try:
            applying_lag = await asyncio.wait_for(recovery.batch_lag(), LAG_SECONDS)
        except (asyncio.TimeoutError, KafkaError):  # the broker is away: the lag is not known
            applying_lag = -1
        input_lag = ingest.lag()
        metrics.gauges["cdrflow_lag"] = -1 if min(input_lag, applying_lag) < 0 else input_lag + applying_lag
        metrics.gauges["cdrflow_input_partitions"] = ingest.partitions
        metrics.gauges["cdrflow_batch_partitions"] = sum(
            1 for tp in app.consumer.assignment() if tp.topic == batches.get_topic_name()
        )
        holder = settings.live and holds_live()
        metrics.gauges["cdrflow_live_holder"] = int(holder)
        metrics.gauges["cdrflow_live_clock_seconds"] = (live.built().clock_ms or 0) // 1000 if holder else 0
        metrics.counters["cdrflow_live_late_total"] = live.built().late if holder else 0
        metrics.counters["cdrflow_live_future_total"] = live.built().future if holder else 0
        return self.text(metrics.render(), content_type="text/plain; version=0.0.4")
