"""Live benchmark: what live windows and alert rules cost the pipeline, and how soon an alert arrives.

Against a real broker (CDRFLOW_BENCH_BROKER, started by `make bench`):
- `live_throughput`: one topic of CDRs spread over an hour of event time, consumed by a worker with
  live windows off (CDRFLOW_LIVE=off) and by one with them on and 20 alert rules, each on a fresh
  folder, twice each in the order off, on, on, off; the ratio is on / off of the means. The CDRs
  come in random order over the hour; `live_throughput_in_order` sends them minute by minute.
  `live_cpu_per_cdr` (and `_in_order`): what the live path costs in CPU time per CDR over the same
  runs, as the worker's and broker's extra CPU with live windows on (the live path runs in the
  worker, and the broker carries the live topic), and as a share of the whole pipeline's CPU per
  CDR without them (ingest process, worker, broker). Steadier than the rates on a machine whose
  speed changes from run to run: the ingest process's CPU per CDR alone varies by a quarter
  between runs doing the same work, which a whole-pipeline difference would count as the live
  path's.
- `alert_latency_p99`: a paced feed of CDRs ending now; in every minute, numbers that draw a burst
  of calls fire a `dest_number` rule at the next minute step. Measured from the moment the CDR
  that moves the live clock past the step (its end is the step plus the grace) reaches Kafka, to
  the webhook received by a local HTTP receiver: so it includes the pipeline's own latency.
BENCH_SCALE scales the data sizes and the minutes of the latency run.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from statistics import mean

import orjson

from bench.pipeline_bench import PARTITIONS, CpuSeconds, bench_folder, throughput
from consumers.alerts.receiver import WebhookReceiver
from consumers.feed.producer import send_messages
from consumers.feed.switch import FeedShape, SwitchFeed
from consumers.worker import WorkerProcess, free_port

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
THROUGHPUT_CDRS = int(400_000 * SCALE)
EVENT_SPAN_MS = 3_600_000
LATENCY_MINUTES = max(2, int(4 * SCALE))
LATENCY_RATE = 1000  # CDR/s of background traffic
BURST_NUMBERS = 20  # numbers that draw a burst in each minute
GRACE_MS = 60_000

RULES = [
    {"name": f"route-asr-{w}", "scope": ["provider", "provider_destination"], "metric": "asr", "op": "<",
     "threshold": 20, "reset": 30, "window": w, "min_attempts": 50} for w in (5, 15, 60)
] + [
    {"name": f"{scope}-{metric}-{w}", "scope": [scope], "metric": metric, "op": op, "threshold": threshold,
     "window": w, "min_attempts": 20}
    for scope in ("customer", "provider", "customer_destination")
    for metric, op, threshold in (("acd", "<", 30), ("ner", "<", 50), ("pdd_in_avg", ">", 5000))
    for w in (5, 30)
][:15] + [
    {"name": "hot-number", "scope": ["dest_number"], "metric": "attempts", "op": ">", "threshold": 100, "window": 5},
    {"name": "all-traffic", "scope": [], "metric": "attempts", "op": "<", "threshold": 1, "window": 5, "min_attempts": 0},
]  # fmt: skip
SAVE_RULES = """
import sys, orjson
from pipeline.settings import parse_warehouse_url
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from consumers.alerts.rule import alert_rule_from
from consumers.alerts.store import AlertStore
client = connect(parse_warehouse_url("CDRFLOW_CLICKHOUSE", sys.argv[1]))
migrate(client)
store = AlertStore(lambda: client)
for fields in orjson.loads(sys.argv[2]):
    store.save_rule(alert_rule_from(fields))
"""


def save_rules(worker: WorkerProcess, rules: list[dict]) -> None:
    """The rules, in the worker's warehouse before it starts (chDB: one process per folder at a time)."""
    subprocess.run(
        [sys.executable, "-c", SAVE_RULES, worker.env["CDRFLOW_CLICKHOUSE"], orjson.dumps(rules).decode()], check=True
    )


def live_throughput(in_order: bool = False) -> LiveRuns:
    """CDR/s with live windows off, and on with the 20 rules, over the same topic, and CPU µs per
    CDR: each the mean of two runs, in the order off, on, on, off, so that a machine slowing down
    or speeding up during the benchmark weighs on both sides alike. The hour's CDRs come in random
    order, so every batch holds CDRs ending all over the hour (the live path's worst case: a
    batch's delta has a row per key for each minute it touches), or `in_order`, minute after
    minute, as switches emit them."""
    folder, settings = bench_folder("cdrflow-live-bench-")
    feed = SwitchFeed(FeedShape(seed=44))
    start_ms = int(time.time() * 1000) - 2 * EVENT_SPAN_MS
    if in_order:
        per_minute = THROUGHPUT_CDRS // 60
        events = [e for m in range(60) for e in feed.events(start_ms + m * 60_000, per_minute, 60_000)]
    else:
        events = list(feed.events(start_ms, THROUGHPUT_CDRS, EVENT_SPAN_MS))
    asyncio.run(send_messages(settings, [orjson.dumps(e) for e in events]))
    runs: dict[str, list[tuple[float, CpuSeconds]]] = {"off": [], "on": []}
    for run, live in enumerate(("off", "on", "on", "off")):
        run_folder = folder / f"run-{run}-live-{live}"
        run_folder.mkdir()
        worker = WorkerProcess.on_folder(settings, run_folder)
        worker.env |= {"CDRFLOW_LIVE": live, "CDRFLOW_APP_ID": f"{settings.app_id}-{run}-{live}"}
        if live == "on":
            save_rules(worker, RULES)
        try:
            rate, _rss, per_cdr = throughput(worker, len(events))
            runs[live].append((rate, per_cdr))
        finally:
            worker.stop()
    return LiveRuns(
        off=mean(rate for rate, _ in runs["off"]),
        on=mean(rate for rate, _ in runs["on"]),
        pipeline_cpu_off=mean(cpu.ingest + cpu.worker + cpu.broker for _, cpu in runs["off"]),
        worker_broker_cpu_off=mean(cpu.worker - cpu.merges + cpu.broker for _, cpu in runs["off"]),
        worker_broker_cpu_on=mean(cpu.worker - cpu.merges + cpu.broker for _, cpu in runs["on"]),
    )


@dataclass
class LiveRuns:
    """Means of the runs without live windows (off) and with them and the rules (on): CDR/s, and CPU
    µs per CDR of the whole pipeline (ingest process, worker, broker) and of the worker and broker,
    ClickHouse's background merges left out (they come and go with the parts, not the live path)."""

    off: float
    on: float
    pipeline_cpu_off: float
    worker_broker_cpu_off: float
    worker_broker_cpu_on: float

    @property
    def live_cpu(self) -> float:
        """The live path's CPU µs per CDR: it runs in the worker, and the broker carries its topic."""
        return self.worker_broker_cpu_on - self.worker_broker_cpu_off


async def paced_with_bursts(settings, feed: SwitchFeed, minutes: int, crossings: dict[int, float]) -> None:
    """Background CDRs ending now at LATENCY_RATE per second for `minutes`, bursts of 120 calls to
    BURST_NUMBERS numbers each minute; `crossings` gets, per minute step, when the first CDR that
    moves the clock past it (its end at the step plus the grace) was sent."""
    rng = random.Random(7)
    started = time.monotonic()
    for tenth in range(minutes * 600):
        now_ms = int(time.time() * 1000)
        events = list(feed.events(now_ms - 100, LATENCY_RATE // 10, 100))
        for event in events:
            event["duration"] = 0  # ends when it starts: the clock follows the send time
        if tenth % 600 == 300:
            minute = now_ms // 60_000
            events += [
                {"id": f"burst-{minute}-{n}-{i}", "start_time": now_ms - rng.randrange(0, 1000), "customer": "bench",
                 "dest_number": f"99{minute % 1000:03d}{n:04d}", "sip_code": 200, "duration": 0}
                for n in range(BURST_NUMBERS) for i in range(120)
            ]  # fmt: skip
        await send_messages(settings, [orjson.dumps(e) for e in events])
        sent_at = time.time()
        for event in events:  # the step each CDR moves the clock to (it ends when it starts)
            crossings.setdefault((event["start_time"] - GRACE_MS) // 60_000, sent_at)
        await asyncio.sleep(max(0.0, started + (tenth + 1) / 10 - time.monotonic()))


def alert_latency() -> tuple[float, float, int]:
    """p50 and p99 in ms over the `fired` webhooks of the bursts, and how many there were."""
    folder, settings = bench_folder("cdrflow-alert-bench-")
    receiver = WebhookReceiver(free_port()).start()
    worker = WorkerProcess.on_folder(settings, folder)
    worker.env |= {"CDRFLOW_WEBHOOK_ALLOW_NETS": "127.0.0.0/8"}  # the receiver is on this host
    save_rules(worker, [{"name": "hot-number", "scope": ["dest_number"], "metric": "attempts", "op": ">",
                         "threshold": 100, "window": 1, "webhook": receiver.url}])  # fmt: skip
    crossings: dict[int, float] = {}
    try:
        worker.start()
        worker.wait_until_caught_up(timeout=300, partitions=PARTITIONS)
        asyncio.run(paced_with_bursts(settings, SwitchFeed(FeedShape(seed=45)), LATENCY_MINUTES, crossings))
        time.sleep(90)  # the last bursts' step passes once the clock does: send on, then wait
    finally:
        worker.stop()
        receiver.stop()
    latencies = sorted(
        (arrived - crossings[_minute(body["at"])]) * 1000
        for (body, _, _), arrived in zip(receiver.posts, receiver.arrivals)
        if body["transition"] == "fired" and _minute(body["at"]) in crossings
    )
    if not latencies:
        raise RuntimeError(f"no alert arrived: {len(receiver.posts)} webhooks\n{worker.tail()}")
    return (
        latencies[len(latencies) // 2],
        latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        len(latencies),
    )


def _minute(at: str) -> int:
    return int(datetime.fromisoformat(at).timestamp()) // 60


def main() -> int:
    for name, in_order in (("live_throughput", False), ("live_throughput_in_order", True)):
        runs = live_throughput(in_order)
        print(f"bench {name}: {runs.on:.0f} CDR/s with live windows and {len(RULES)} rules "
              f"(without them {runs.off:.0f} CDR/s, ratio {runs.on / runs.off:.2f})")  # fmt: skip
        share = 100 * runs.live_cpu / runs.pipeline_cpu_off
        print(f"bench {name.replace('throughput', 'cpu_per_cdr')}: {runs.live_cpu:.1f} us more in the worker and "
              f"broker with live windows and {len(RULES)} rules ({runs.worker_broker_cpu_on:.1f} against "
              f"{runs.worker_broker_cpu_off:.1f}, merges left out), {share:.0f} % of the pipeline's "
              f"{runs.pipeline_cpu_off:.1f} us without them")  # fmt: skip
    p50, p99, count = alert_latency()
    print(f"bench alert_latency_p50: {p50:.0f} ms ({count} transitions, at {LATENCY_RATE} CDR/s)")
    print(f"bench alert_latency_p99: {p99:.0f} ms ({count} transitions, at {LATENCY_RATE} CDR/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
