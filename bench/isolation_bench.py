"""Isolation benchmark: event-to-queryable p99 while people run heavy reports, against the same
feed without them.

One worker on a folder that already holds months of CDRs (generated inside ClickHouse as
bench/reports_bench.py does, into the same views). A paced feed of LATENCY_RATE CDR/s runs twice,
on a fresh start of the worker each time: alone, then while REPORT_CLIENTS clients loop a
month-long `provider,sip_code` breakout and a six-month Per Number call list through the API.
BENCH_SCALE scales the CDRs held and the seconds of feed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.pipeline_bench import PARTITIONS, bench_folder, paced, stage_split
from bench.reports_bench import BLOCK, GENERATE
from consumers.feed.switch import FeedShape, SwitchFeed
from consumers.worker import WorkerProcess

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
HELD_CDRS = int(2_000_000 * SCALE)
DAYS = 180
LATENCY_RATE = 5_000
LATENCY_SECONDS = max(5, int(30 * SCALE))
REPORT_CLIENTS = 4


def load(folder: Path) -> None:
    """HELD_CDRS over the DAYS before now into the chDB folder; prints the two busiest numbers."""
    from pipeline.settings import parse_warehouse_url
    from pipeline.warehouse.client import connect
    from pipeline.warehouse.migrations import migrate

    client = connect(parse_warehouse_url("CDRFLOW_CLICKHOUSE", f"chdb://{folder}"))
    migrate(client)
    end_ms = int(time.time() * 1000)
    for first in range(0, HELD_CDRS, BLOCK):
        client.command(GENERATE, parameters={
            "start_ms": end_ms - DAYS * 86_400_000, "span_ms": DAYS * 86_400_000, "first": first,
            "count": min(BLOCK, HELD_CDRS - first),
        })  # fmt: skip
    busiest = client.query("SELECT dest_number FROM cdr GROUP BY dest_number ORDER BY count() DESC LIMIT 2")
    print(" ".join(row[0] for row in busiest.result_rows))


def heavy_reports(worker: WorkerProcess, numbers: list[str]) -> list[str]:
    """The API paths the report clients loop over."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    month = {"from": (now - timedelta(days=30)).isoformat(), "to": now.isoformat(), "group": "provider,sip_code"}
    six_months = {"from": (now - timedelta(days=180)).isoformat(), "to": now.isoformat(), "number": numbers,
                  "calls": "true"}  # fmt: skip
    return [
        f"http://127.0.0.1:{worker.port}/api/reports/breakout?" + urllib.parse.urlencode(month),
        f"http://127.0.0.1:{worker.port}/api/reports/per-number?" + urllib.parse.urlencode(six_months, doseq=True),
    ]


def p99_ms(worker: WorkerProcess, settings, feed: SwitchFeed, reports: list[str] | None) -> tuple[float, int, str]:
    """The worker's event-to-queryable p99 over a paced feed, with clients looping `reports`;
    how many reports they got answered, and the stage split (bench.pipeline_bench.stage_split)."""
    worker.start()
    stopping, answered = threading.Event(), []

    def client(url: str) -> None:
        while not stopping.is_set():
            with urllib.request.urlopen(url, timeout=600) as answer:
                answer.read()
            answered.append(url)

    urls = reports or []
    clients = [
        threading.Thread(target=client, args=(urls[i % len(urls)],)) for i in range(REPORT_CLIENTS if urls else 0)
    ]
    try:
        worker.wait_until_caught_up(timeout=600, partitions=PARTITIONS)
        for thread in clients:
            thread.start()
        asyncio.run(paced(settings, feed, LATENCY_RATE, LATENCY_SECONDS))
        seen = worker.wait_until_caught_up(timeout=600, partitions=PARTITIONS)
    finally:
        stopping.set()
        for thread in clients:
            thread.join()
        worker.stop()
    return seen['cdrflow_event_to_queryable_seconds{quantile="0.99"}'] * 1000, len(answered), stage_split(seen)


def main() -> int:
    folder, settings = bench_folder("cdrflow-isolation-bench-")
    loaded = subprocess.run(
        [sys.executable, "-m", "bench.isolation_bench", "load", str(folder / "clickhouse")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    numbers = loaded.stdout.split()
    feed = SwitchFeed(FeedShape(seed=44))
    worker = WorkerProcess.on_folder(settings, folder)
    alone, _, alone_stages = p99_ms(worker, settings, feed, None)
    loaded_p99, answered, loaded_stages = p99_ms(worker, settings, feed, heavy_reports(worker, numbers))
    print(
        f"bench latency_under_reports: {loaded_p99:.0f} ms p99 at {LATENCY_RATE} CDR/s while {REPORT_CLIENTS} "
        f"clients run heavy reports ({answered} answered; alone {alone:.0f} ms, ratio {loaded_p99 / alone:.2f})"
    )
    print(f"bench latency_under_reports_stages: {loaded_stages} (alone {alone_stages}; p50/p99 ms)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["load"]:
        load(Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
