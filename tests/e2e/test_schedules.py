"""Scheduled reports on a running worker: added with the command line, mailed by the leader's
scheduler to a real SMTP server once, logged; managed on the warehouse when no worker runs."""

from __future__ import annotations

import csv
import email
import io
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email import policy
from zoneinfo import ZoneInfo

import pytest

from consumers.mail.catcher import MailCatcher
from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, newest_revisions, publish
from tests.services import DOCKER, listening_on

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")


def schedule(worker: WorkerProcess, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "schedule", *args], env=worker.env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def attachment_rows(path) -> list[dict]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    [attachment] = list(message.iter_attachments())
    return list(csv.DictReader(io.StringIO(attachment.get_content())))


def day_in(events: list[dict], customer: str, day: datetime) -> dict:
    """The customer's attempts, connected calls and charge over one local day, from the CDRs sent."""
    start_ms, end_ms = day.timestamp() * 1000, (day + timedelta(days=1)).timestamp() * 1000
    calls = [e for e in newest_revisions(events).values() if e["customer"] == customer]
    calls = [e for e in calls if start_ms <= e["start_time"] < end_ms]
    charge = sum(Decimal(str(e["customer_charge"])) for e in calls)
    connected = sum(200 <= e["sip_code"] < 300 for e in calls)
    return {"customer": customer, "attempts": str(len(calls)), "connected": str(connected),
            "customer_charge": f"{charge:.6f}"}  # fmt: skip


def test_the_leader_mails_a_schedule_once_and_the_log_shows_it(settings, tmp_path):
    events = make_cdrs(1500, seed=41)
    publish(settings, events)
    worker = WorkerProcess.on_folder(settings, tmp_path)
    with MailCatcher(tmp_path / "outbox") as catcher:
        worker.env["CDRFLOW_SMTP"] = f"smtp://127.0.0.1:{catcher.port}"
        worker.start()
        try:
            worker.wait_until_caught_up(len(events))
            assert listening_on(worker.port) == {"127.0.0.1"}  # no token: this machine only
            added = schedule(worker, tmp_path, "add", "--name", "yearly-oct", "--email", "billing@example.com",
                             "--every", "0 0 1 10 *", "--group", "customer", "--format", "xlsx")  # fmt: skip
            assert added.returncode == 0, added.stderr
            bad = schedule(worker, tmp_path, "add", "--name", "x", "--email", "nobody", "--every", "daily")
            assert bad.returncode == 2 and "email: not an email address" in bad.stderr
            listed = schedule(worker, tmp_path, "list")
            assert "yearly-oct" in listed.stdout and "billing@example.com" in listed.stdout
            now = datetime.now(timezone.utc)
            next_october = now.year if now < datetime(now.year, 10, 1, tzinfo=timezone.utc) else now.year + 1
            assert f"{next_october}-10-01T01:00:00+00:00" in listed.stdout  # next run: period end + 60 min grace
            deadline = time.monotonic() + 90  # the worker reports its progress, the leader's timer mails
            while not catcher.handler.saved and time.monotonic() < deadline:
                time.sleep(0.5)
            assert len(catcher.handler.saved) == 1
            again = schedule(worker, tmp_path, "run", "yearly-oct")
            assert '"outcome": "done"' in again.stdout  # mailed already: not twice
            assert again.returncode == 2 and "mailed already; --resend mails it again" in again.stderr
            log = schedule(worker, tmp_path, "log", "yearly-oct")
            assert "sent" in log.stdout and "2025-10-01T00:00:00+00:00" in log.stdout

            # a lost daily report, mailed again on demand: once, then only with --resend
            added = schedule(worker, tmp_path, "add", "--name", "daily-acme", "--email", "billing@example.com, noc@example.com",
                             "--every", "daily", "--tz", "Asia/Kolkata", "--customer", "acme", "--group", "customer",
                             "--columns", "attempts,connected,customer_charge", "--skip-empty")  # fmt: skip
            assert added.returncode == 0, added.stderr
            assert '"billing@example.com",\n    "noc@example.com"' in added.stdout  # a comma list is two recipients
            assert '"first_period": ' in added.stdout and "once the pipeline has caught up" in added.stdout
            first = schedule(worker, tmp_path, "run", "daily-acme", "--period-start", "2026-09-05")
            assert first.returncode == 0 and '"outcome": "sent"' in first.stdout, first.stderr
            assert '"period_start": "2026-09-05T00:00:00+05:30"' in first.stdout
            refused = schedule(worker, tmp_path, "run", "daily-acme", "--period-start", "2026-09-05T00:00:00+05:30")
            assert refused.returncode == 2 and "mailed already" in refused.stderr
            resent = schedule(worker, tmp_path, "run", "daily-acme", "--period-start", "2026-09-05", "--resend")
            assert resent.returncode == 0 and '"outcome": "sent"' in resent.stdout, resent.stderr
            wrong = schedule(worker, tmp_path, "run", "daily-acme", "--period-start", "2026-09-05T00:00:00Z")
            assert wrong.returncode == 2 and "no daily period in Asia/Kolkata begins at" in wrong.stderr
            log = schedule(worker, tmp_path, "log", "daily-acme")
            assert log.stdout.count(" sent ") == 2, log.stdout
            assert log.stdout.count("2026-09-05 (Asia/Kolkata)") == 2  # the period as the mail's subject says it
        finally:
            worker.stop()
    kolkata_day = day_in(events, "acme", datetime(2026, 9, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert len(catcher.handler.saved) == 3
    for saved in catcher.handler.saved[1:]:  # the CSV holds what the CDRs sent say, computed here
        assert attachment_rows(saved) == [kolkata_day, kolkata_day | {"customer": "Total"}]
    assert b".xlsx" in catcher.handler.saved[0].read_bytes()
    assert "yearly-oct" in schedule(worker, tmp_path, "list").stdout  # no worker: on the warehouse itself
    removed = schedule(worker, tmp_path, "remove", "yearly-oct")
    assert removed.returncode == 0, removed.stderr
    assert "yearly-oct" not in schedule(worker, tmp_path, "list").stdout
