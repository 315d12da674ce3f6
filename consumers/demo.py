"""`make demo` and `make run`: cdrflow on a synthetic switch feed, on this machine.

`make demo` (`python -m consumers.demo`): the whole pipeline on ten seconds of feed, a breakout
report, one report email; ends by itself. `make run` (`python -m consumers.demo --run`): a
worker and a paced feed (with a day of yesterday's calls on a new topic, so reports have a
past) that keep running, with a local mail catcher for scheduled reports and alerts (unless
CDRFLOW_SMTP names a server), the console's URL and commands to try; Ctrl-C stops them.

Both expect a running broker (CDRFLOW_BROKER; make starts one and stops it after). The
warehouse lives under ./var/clickhouse, the delivered mail under ./var/outbox/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from consumers.feed.producer import send_messages, send_paced
from consumers.feed.switch import FeedShape, SwitchFeed
from consumers.mail.catcher import MailCatcher
from consumers.mail.smtp import Attachment, report_message, send
from consumers.reports.request import parse_report, query_runner, report_rows
from consumers.reports.table import to_csv, to_html, to_text_table
from consumers.worker import WorkerProcess, free_port
from pipeline.settings import Settings, parse_smtp_url
from pipeline.topics import ensure_topics
from pipeline.warehouse.client import connect

RATE, SECONDS = 3000, 10
RUN_RATE, YESTERDAY_CDRS = 300, 50_000
COLUMNS = [
    "customer",
    "provider",
    "attempts",
    "connected",
    "asr",
    "acd",
    "customer_charge",
    "provider_charge",
    "profit",
]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def breakout_rows(settings: Settings, start: datetime, end: datetime) -> list[dict]:
    """The breakout by customer and provider, busiest first."""
    request = parse_report("breakout", {"from": [start.isoformat()], "to": [end.isoformat()]})
    client = connect(settings.clickhouse)
    return sorted(report_rows(request, query_runner(lambda: client)), key=lambda r: -r["attempts"])


def demo() -> int:
    var = Path("var").resolve()
    run = uuid.uuid4().hex[:6]
    env = {
        "CDRFLOW_BROKER": os.environ.get("CDRFLOW_BROKER", "kafka://127.0.0.1:9092"),
        "CDRFLOW_TOPIC": f"demo-{run}.cdr.rated",
        "CDRFLOW_APP_ID": f"demo-{run}",
        "CDRFLOW_PARTITIONS": "4",
        "CDRFLOW_CLICKHOUSE": f"chdb://{var / 'clickhouse'}",
        "CDRFLOW_DATA_DIR": str(var),
        "CDRFLOW_WEB_PORT": str(free_port()),
        "CDRFLOW_SQL_PORT": str(free_port()),
    }
    settings = Settings.from_env(env, env_file=None)
    var.mkdir(exist_ok=True)
    worker = WorkerProcess(env, var)
    started = datetime.now(timezone.utc).replace(microsecond=0)

    step(f"worker: {sys.executable} -m consumers.cli worker  (log: {worker.log})")
    worker.start()
    try:
        worker.wait_until_healthy(timeout=120)
        step(f"feed: cdrflow generate --rate {RATE} --seconds {SECONDS}")
        subprocess.run(
            [sys.executable, "-m", "consumers.cli", "generate", "--rate", str(RATE), "--seconds", str(SECONDS)],
            env={**os.environ, **env}, check=True,
        )  # fmt: skip
        seen = worker.wait_until_caught_up(RATE * SECONDS, timeout=300)
        p99 = seen['cdrflow_event_to_queryable_seconds{quantile="0.99"}']
        print(
            f"applied {seen['cdrflow_cdrs_applied_total']:.0f} CDR revisions; event to queryable p99 {p99 * 1000:.0f} ms"
        )
    finally:
        worker.stop()

    end = datetime.now(timezone.utc) + timedelta(seconds=1)
    rows = breakout_rows(settings, started, end)
    step(f"breakout by customer, provider  {started.isoformat()} .. {end.isoformat(timespec='seconds')}")
    print(to_text_table(COLUMNS, rows[:15]))
    if len(rows) > 15:
        print(f"... {len(rows) - 15} more rows in the emailed report")

    step("scheduled report: email to billing@localhost through a local mail catcher")
    with MailCatcher(var / "outbox") as catcher:
        total = sum(r["customer_charge"] for r in rows)
        text = f"Breakout {started:%Y-%m-%d %H:%M} UTC: {sum(r['attempts'] for r in rows)} attempts, customer charge {total}."
        message = report_message(
            "reports@localhost", ["billing@localhost"], "cdrflow: demo breakout", text,
            to_html(COLUMNS, rows[:10], "Top routes", intro=text),
            Attachment("breakout.csv", to_csv(COLUMNS, rows), "text", "csv"),
        )  # fmt: skip
        send(parse_smtp_url("CDRFLOW_SMTP", f"smtp://127.0.0.1:{catcher.port}"), message)
        for _ in range(50):
            if catcher.handler.saved:
                break
            time.sleep(0.1)
    print(f"saved {catcher.handler.saved[0]}")
    return 0


def run(folder: Path, rate: int) -> int:
    """A worker and a paced feed until Ctrl-C; the warehouse and state under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "CDRFLOW_WEB_PORT": "6066",
        "CDRFLOW_CLICKHOUSE": f"chdb://{folder / 'clickhouse'}",
        "CDRFLOW_DATA_DIR": str(folder),
        **{name: value for name, value in os.environ.items() if name.startswith("CDRFLOW_")},
    }
    with contextlib.ExitStack() as running:
        if "CDRFLOW_SMTP" not in env:  # scheduled reports and alerts go to a local mail catcher
            catcher = running.enter_context(MailCatcher(folder / "outbox"))
            env["CDRFLOW_SMTP"] = f"smtp://127.0.0.1:{catcher.port}"
            step(f"mail: a local catcher at {env['CDRFLOW_SMTP']} saves every message in {folder / 'outbox'}")
        return run_worker_and_feed(env, folder, rate)


def run_worker_and_feed(env: dict[str, str], folder: Path, rate: int) -> int:
    settings = Settings.from_env(env, env_file=None)
    created = asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(env, folder)
    step(f"worker: cdrflow worker  (log: {worker.log})")
    worker.start()
    try:
        worker.wait_until_healthy(timeout=180)
        feed = SwitchFeed(FeedShape(seed=int(time.time())))
        if settings.topic in created:
            asyncio.run(send_yesterday(settings, feed))
        print_try_it(settings, rate)
        asyncio.run(feed_until_stopped(settings, feed, rate))
        step("stopping the worker")
    except KeyboardInterrupt:  # before the feed started
        step("stopping the worker")
    finally:
        worker.stop()
    print("stopped: nothing of cdrflow is left running", flush=True)
    return 0


async def feed_until_stopped(settings: Settings, feed: SwitchFeed, rate: int) -> None:
    """The paced feed until SIGINT (Ctrl-C) or SIGTERM; the second being sent is finished first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await send_paced(settings, feed, rate, None, stop=stop)


async def send_yesterday(settings: Settings, feed: SwitchFeed) -> None:
    today_ms = int(time.time() // 86400 * 86400 * 1000)
    step(f"feed: {YESTERDAY_CDRS} CDRs of yesterday (UTC), so that reports have a past")
    events = feed.events(today_ms - 86_400_000, YESTERDAY_CDRS, 86_400_000)
    await send_messages(settings, (orjson.dumps(event) for event in events))


def print_try_it(settings: Settings, rate: int) -> None:
    env = "" if settings.web_port == 6066 else f"CDRFLOW_WEB_PORT={settings.web_port} "
    today = datetime.now(timezone.utc).date()
    step(f"running: the console is at http://127.0.0.1:{settings.web_port}/  (Ctrl-C stops everything)")
    print(
        f"""feed: {rate} CDRs a second, with rerates and resends, into {settings.topic}
mail: scheduled reports and alerts go to {settings.smtp.shown}

try, in another terminal:
  {env}.venv/bin/cdrflow report breakout --from today --group customer --format table
  {env}.venv/bin/cdrflow report breakout --from yesterday --group provider,provider_destination
  {env}.venv/bin/cdrflow report dtmf --from yesterday --to today
  {env}.venv/bin/cdrflow schedule add --name daily-noc --email noc@localhost --every daily
  curl http://127.0.0.1:{settings.web_port}/api/health
  curl 'http://127.0.0.1:{settings.web_port}/api/reports/breakout?from={today}T00:00:00Z&to={today + timedelta(days=1)}T00:00:00Z&group=customer'
""",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumers.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="keep a worker and a paced feed running until Ctrl-C")
    parser.add_argument("--folder", type=Path, default=Path("var"), help="warehouse and state (with --run)")
    parser.add_argument("--rate", type=int, default=RUN_RATE, help="CDRs per second (with --run)")
    args = parser.parse_args(argv)
    return run(args.folder.resolve(), args.rate) if args.run else demo()


if __name__ == "__main__":
    sys.exit(main())
