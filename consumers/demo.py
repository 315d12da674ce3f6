"""`make demo`: the whole pipeline on a synthetic switch feed, a breakout report, one report email.

Expects a running broker (CDRFLOW_BROKER; `make demo` starts one on a free port and stops it).
Keeps the warehouse under ./var/clickhouse and the delivered mail under ./var/outbox/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from consumers.mail_catcher import MailCatcher
from consumers.mailer import Attachment, report_message, send
from consumers.report_request import parse_report, query_runner, report_rows
from consumers.report_table import to_csv, to_html, to_text_table
from consumers.worker_process import WorkerProcess, free_port
from pipeline.settings import Settings, parse_smtp_url
from pipeline.warehouse import connect

RATE, SECONDS = 3000, 10
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


def main() -> int:
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


if __name__ == "__main__":
    sys.exit(main())
