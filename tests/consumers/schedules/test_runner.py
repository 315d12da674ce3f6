"""Scheduled reports through a real SMTP server (aiosmtpd) over a warehouse of known CDRs."""

import asyncio
import csv
import email
import io
import time
from datetime import datetime, timedelta, timezone
from email import policy

from consumers.mail.catcher import MailCatcher
from consumers.reports.request import query_runner, report_rows
from consumers.schedules.schedule import Schedule
from consumers.schedules.runner import ScheduleRunner
from consumers.schedules.store import ScheduleStore
from consumers.worker import free_port
from pipeline.settings import parse_smtp_url
from pipeline.warehouse import connect

NOW = datetime(2026, 9, 3, 2, 0, tzinfo=timezone.utc)  # Sep 2 closed in UTC; the CDRs span Sep 1 - Oct 10


def runner_for(client, port: int, retry_after: float = 30.0) -> ScheduleRunner:
    async def warehouse(work):
        return work()

    smtp = parse_smtp_url("CDRFLOW_SMTP", f"smtp://127.0.0.1:{port}")
    return ScheduleRunner(
        ScheduleStore(lambda: client),
        warehouse,
        query_runner(lambda: client),
        smtp,
        "reports@localhost",
        retry_after=retry_after,
    )


def attachment_rows(path) -> list[dict]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    [attachment] = list(message.iter_attachments())
    return list(csv.DictReader(io.StringIO(attachment.get_content())))


def fresh(loaded, tmp_path):
    client, newest, url = loaded
    client = connect(url)
    client.command("TRUNCATE TABLE IF EXISTS schedules")
    client.command("TRUNCATE TABLE IF EXISTS schedule_runs")
    return client


def test_a_period_is_mailed_once_with_the_report_attached(loaded, tmp_path):
    client = fresh(loaded, tmp_path)
    schedule = Schedule(
        "daily-acme", ("billing@example.com",), every="daily", customers=("acme",), groups=("customer", "provider")
    )
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, catcher.port)
        runner.store.save(schedule)
        assert asyncio.run(runner.tick(NOW)) == {"daily-acme": "sent"}
        assert asyncio.run(runner.tick(NOW + timedelta(hours=5))) == {}  # the same period: nothing more
    [saved] = catcher.handler.saved
    start, end = schedule.period_before(NOW)
    expected = report_rows(schedule.request(start, end), runner.run_query)
    got = attachment_rows(saved)
    assert [(r["customer"], r["provider"], int(r["attempts"]), r["customer_charge"]) for r in got] == [
        (r["customer"], r["provider"], r["attempts"], str(r["customer_charge"])) for r in expected
    ]
    assert got and {r["customer"] for r in got} == {"acme"}
    [run] = runner.store.log("daily-acme")
    assert (run["status"], run["rows"], run["attempt"]) == ("sent", len(expected), 1)


def test_a_restart_after_handing_the_mail_to_smtp_does_not_send_it_again(loaded, tmp_path):
    client = fresh(loaded, tmp_path)
    schedule = Schedule("daily", ("noc@example.com",))
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, catcher.port)
        runner.store.save(schedule)
        start, end = schedule.period_before(NOW)
        # what a worker killed between the SMTP transaction and logging 'sent' leaves behind
        runner.store.record({"schedule": "daily", "period_start": start, "period_end": end, "attempt": 1,
                             "status": "sending", "started": NOW, "finished": None, "rows": 3, "error": "",
                             "message_id": "<x@cdrflow>"})  # fmt: skip
        assert asyncio.run(runner.tick(NOW)) == {}
    assert catcher.handler.saved == []


def test_smtp_refusing_connections_is_retried_with_backoff_until_it_comes_back(loaded, tmp_path):
    client = fresh(loaded, tmp_path)
    port = free_port()  # nothing listens yet: connections are refused
    runner = runner_for(client, port, retry_after=1.0)
    runner.store.save(Schedule("daily", ("noc@example.com",)))
    assert asyncio.run(runner.tick(NOW)) == {"daily": "failed"}
    assert asyncio.run(runner.tick(NOW)) == {}  # backing off
    time.sleep(1.1)
    with MailCatcher(tmp_path / "outbox", port=port) as catcher:
        assert asyncio.run(runner.tick(NOW)) == {"daily": "sent"}
    assert len(catcher.handler.saved) == 1
    statuses = [(r["attempt"], r["status"]) for r in reversed(runner.store.log("daily"))]
    assert statuses == [(1, "failed"), (2, "sent")]
    assert "ConnectionRefusedError" in next(r["error"] for r in runner.store.log("daily") if r["status"] == "failed")


def test_an_empty_period_is_skipped_when_asked(loaded, tmp_path):
    client = fresh(loaded, tmp_path)
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, catcher.port)
        runner.store.save(Schedule("quiet", ("noc@example.com",), customers=("nobody",), skip_empty=True))
        runner.store.save(Schedule("loud", ("noc@example.com",), customers=("nobody",)))
        assert asyncio.run(runner.tick(NOW)) == {"loud": "sent", "quiet": "skipped"}
    assert len(catcher.handler.saved) == 1
