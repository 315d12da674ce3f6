"""Scheduled reports through a real SMTP server (aiosmtpd) over warehouses of known CDRs: mailed
once the pipeline is caught up past the period plus the grace, once, whatever races or fails."""

import asyncio
import csv
import email
import io
import re
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email import policy

import pytest
from aiosmtpd.controller import Controller

from consumers.mail.catcher import MailCatcher
from consumers.reports.custom import FIELDS as CUSTOM_FIELDS
from consumers.reports.custom import CustomReports
from consumers.reports.request import query_runner
from consumers.schedules.runner import ScheduleRunner, age_text, complete_text
from consumers.schedules.schedule import Schedule
from consumers.schedules.service import ScheduleService
from consumers.schedules.store import ScheduleStore
from consumers.sql.engine import ReadOnlyRows, SqlLimits
from consumers.store import SavedTable, Warehouse
from consumers.worker import free_port
from pipeline.settings import parse_smtp_url
from pipeline.warehouse.client import connect
from pipeline.warehouse.progress import Progress, insert_progress
from tests.warehouse_data import fresh_url, load_events

NOW = datetime(2026, 9, 3, 2, 0, tzinfo=timezone.utc)  # Sep 2 closed in UTC; the CDRs span Sep 1 - Oct 10
SEP_2, SEP_3 = datetime(2026, 9, 2, tzinfo=timezone.utc), datetime(2026, 9, 3, tzinfo=timezone.utc)


def custom_reports_on(client, url) -> CustomReports:
    async def warehouse(work):
        return work()

    reader = ReadOnlyRows(url, SqlLimits())
    return CustomReports(
        SavedTable(lambda: client, "custom_reports", CUSTOM_FIELDS), Warehouse.through(warehouse), reader.query
    )


def runner_for(client, url, port: int, retry_after: float = 30.0, yielding: bool = False) -> ScheduleRunner:
    """A runner as a process of its own would have, on the database of `url`; `yielding` lets
    concurrent runs interleave at every warehouse call, as the worker's warehouse thread does."""

    async def warehouse(work):
        if yielding:
            await asyncio.sleep(0)
        return work()

    smtp = parse_smtp_url("CDRFLOW_SMTP", f"smtp://127.0.0.1:{port}")
    return ScheduleRunner(
        ScheduleStore(lambda: client), Warehouse.through(warehouse), query_runner(lambda: client), smtp, "reports@localhost",
        custom_reports_on(client, url), retry_after=retry_after,
    )  # fmt: skip


def attachment_rows(path) -> list[dict]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    [attachment] = list(message.iter_attachments())
    return list(csv.DictReader(io.StringIO(attachment.get_content())))


def body_text(path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


def fresh(loaded):
    client, newest, url = loaded
    client = connect(url)
    for table in ("schedules", "schedule_runs", "pipeline_progress"):
        client.command(f"TRUNCATE TABLE IF EXISTS {table}")
    insert_progress(client, "worker-1", NOW)  # the pipeline has caught up to NOW
    return client, newest


def by_route(events, start: datetime, end: datetime, customer: str) -> dict:
    """(customer, provider) -> (attempts, connected, customer_charge), summed from the CDRs themselves."""
    sums: dict = defaultdict(lambda: [0, 0, Decimal(0)])
    for event in events:
        if event["customer"] == customer and start.timestamp() * 1000 <= event["start_time"] < end.timestamp() * 1000:
            row = sums[(event["customer"], event["provider"] or "(none)")]  # an unrouted call, as mailed
            row[0] += 1
            row[1] += 200 <= event["sip_code"] < 300
            row[2] += Decimal(str(event["customer_charge"]))
    return {key: (a, c, f"{charge:.6f}") for key, (a, c, charge) in sums.items()}


def test_a_period_is_mailed_once_with_the_calls_of_that_period(loaded, tmp_path):
    client, newest = fresh(loaded)
    schedule = Schedule(
        "daily-acme", ("billing@example.com",), every="daily", customers=("acme",), groups=("customer", "provider")
    )
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(schedule)
        assert asyncio.run(runner.tick(NOW)) == {"daily-acme": "sent"}
        assert asyncio.run(runner.tick(NOW + timedelta(hours=5))) == {}  # the same period: nothing more
    [saved] = catcher.handler.saved
    *routes, total = attachment_rows(saved)
    got = {
        (r["customer"], r["provider"]): (int(r["attempts"]), int(r["connected"]), r["customer_charge"]) for r in routes
    }
    expected = by_route(newest.values(), SEP_2, SEP_3, "acme")
    assert got == expected and got
    attempts, connected = sum(a for a, _, _ in expected.values()), sum(c for _, c, _ in expected.values())
    charge = sum(Decimal(c) for _, _, c in expected.values())
    assert (total["customer"], total["provider"], int(total["attempts"]), total["customer_charge"]) == (
        "Total",
        "",
        attempts,
        f"{charge:.6f}",
    )
    assert total["asr"] == f"{Decimal(100 * connected) / attempts:.2f}"  # the ratio of the sums
    text = body_text(saved)
    assert f"attempts {attempts}, connected {connected}, asr {total['asr']}, acd {total['acd']}" in text
    assert re.search(r"complete up to 2026-09-03 02:00 \(UTC\), as reported \d+ s ago", text)
    [run] = runner.store.log("daily-acme")
    assert (run["status"], run["rows"], run["attempt"]) == ("sent", len(got), 1)


def test_a_period_waits_for_the_pipeline_past_its_end_plus_the_grace(clickhouse, tmp_path):
    """A call from 23:50 to 00:20 reaches Kafka at 00:20: the day is mailed after the grace, with it."""
    day_ms = int(SEP_2.timestamp() * 1000)
    day = [{"id": f"day-{n}", "start_time": day_ms + n * 600_000, "customer": "acme", "dest_number": "4420",
            "sip_code": 200, "duration": 60, "customer_charge": "1.000000"} for n in range(100)]  # fmt: skip
    late = {"id": "late", "start_time": day_ms + 86_400_000 - 600_000, "customer": "acme", "dest_number": "4420",
            "sip_code": 200, "duration": 1800, "customer_charge": "30.000000"}  # fmt: skip
    url = fresh_url(clickhouse, "grace")
    load_events(url, day)
    client = connect(url)
    schedule = Schedule(
        "daily", ("noc@example.com",), groups=("customer",), columns=("attempts", "customer_charge"), skip_empty=True
    )
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, url, catcher.port)
        runner.store.save(schedule)
        insert_progress(client, "worker-1", SEP_3 + timedelta(seconds=30))
        # within the grace the latest complete day is Sep 1 (no calls): Sep 2 waits
        assert asyncio.run(runner.tick(SEP_3 + timedelta(seconds=30))) == {"daily": "skipped"}
        load_events(url, [late])  # hang-up at 00:20
        insert_progress(client, "worker-1", SEP_3 + timedelta(minutes=59))
        assert asyncio.run(runner.tick(SEP_3 + timedelta(hours=3))) == {}  # the pipeline is not past the grace
        insert_progress(client, "worker-1", SEP_3 + timedelta(hours=1, seconds=30))
        assert asyncio.run(runner.tick(SEP_3 + timedelta(hours=1, seconds=30))) == {"daily": "sent"}
    [saved] = catcher.handler.saved
    assert attachment_rows(saved) == [
        {"customer": "acme", "attempts": "101", "customer_charge": "130.000000"},
        {"customer": "Total", "attempts": "101", "customer_charge": "130.000000"},
    ]
    assert "complete up to 2026-09-03 01:00 (UTC)" in body_text(saved)


def test_nothing_is_mailed_while_no_worker_reports_its_progress(loaded, tmp_path):
    client, _ = fresh(loaded)
    client.command("TRUNCATE TABLE pipeline_progress")
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(Schedule("daily", ("noc@example.com",)))
        assert asyncio.run(runner.tick(NOW)) == {}
    assert catcher.handler.saved == []


def test_a_restart_after_handing_the_mail_to_smtp_does_not_send_it_again(loaded, tmp_path):
    client, _ = fresh(loaded)
    schedule = Schedule("daily", ("noc@example.com",))
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(schedule)
        # what a worker killed between the SMTP transaction and logging 'sent' leaves behind
        runner.store.insert_run({"schedule": "daily", "period_start": SEP_2, "period_end": SEP_3, "attempt": 1,
                             "status": "sending", "started": NOW, "finished": None, "rows": 3, "error": "",
                             "message_id": "<x@cdrflow>", "claim": "c1"})  # fmt: skip
        assert asyncio.run(runner.tick(NOW)) == {}
    assert catcher.handler.saved == []


def test_smtp_refusing_connections_is_retried_with_backoff_until_it_comes_back(loaded, tmp_path):
    client, _ = fresh(loaded)
    port = free_port()  # nothing listens yet: connections are refused
    runner = runner_for(client, loaded[2], port, retry_after=1.0)
    runner.store.save(Schedule("daily", ("noc@example.com",)))
    assert asyncio.run(runner.tick(NOW)) == {"daily": "failed"}
    assert asyncio.run(runner.tick(NOW)) == {}  # backing off
    time.sleep(1.1)
    with MailCatcher(tmp_path / "outbox", port=port) as catcher:
        assert asyncio.run(runner.tick(NOW)) == {"daily": "sent"}
    assert len(catcher.handler.saved) == 1
    statuses = [(r["attempt"], r["status"]) for r in reversed(runner.store.log("daily"))]
    assert statuses == [(1, "failed"), (2, "sent")]
    failed = next(r["error"] for r in runner.store.log("daily") if r["status"] == "failed")
    assert re.fullmatch(r"SMTP smtp://127\.0\.0\.1:\d+ \(CDRFLOW_SMTP\) refused the connection", failed)


class HangUpMidMessage:
    """An SMTP server that takes the whole message, then drops the connection instead of answering."""

    async def handle_DATA(self, server, session, envelope):
        server.transport.close()
        return "250 never heard"


def test_a_connection_dropped_mid_message_fails_the_attempt_and_it_is_retried(loaded, tmp_path):
    client, _ = fresh(loaded)
    port = free_port()
    runner = runner_for(client, loaded[2], port, retry_after=1.0)
    runner.store.save(Schedule("daily", ("noc@example.com",)))
    dropping = Controller(HangUpMidMessage(), hostname="127.0.0.1", port=port)
    dropping.start()
    try:
        assert asyncio.run(runner.tick(NOW)) == {"daily": "failed"}  # returns: nothing escapes the timer
    finally:
        dropping.stop()
    [failed] = runner.store.log("daily")
    assert failed["status"] == "failed" and "SMTPServerDisconnected" in failed["error"]
    time.sleep(1.1)
    with MailCatcher(tmp_path / "outbox", port=port) as catcher:
        assert asyncio.run(runner.tick(NOW)) == {"daily": "sent"}
    assert len(catcher.handler.saved) == 1


def test_a_schedule_that_no_longer_makes_a_report_fails_alone(loaded, tmp_path):
    client, _ = fresh(loaded)
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(Schedule("good", ("noc@example.com",)))
        client.insert("schedules", [["broken", ["noc@example.com"], "breakout", "daily", "UTC", ["planet"]]],
                      column_names=["name", "email", "report", "every", "tz", "groups"])  # fmt: skip
        assert asyncio.run(runner.tick(NOW)) == {"broken": "failed", "good": "sent"}
    assert len(catcher.handler.saved) == 1


def test_a_tick_and_a_run_of_one_process_take_turns(loaded, tmp_path):
    client, _ = fresh(loaded)
    schedule = Schedule("daily", ("noc@example.com",))
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port, yielding=True)
        runner.store.save(schedule)

        async def together():
            return await asyncio.gather(runner.tick(NOW), runner.run(schedule, SEP_2, SEP_3))

        tick, run = asyncio.run(together())
    assert sorted([tick.get("daily", "done"), run]) == ["done", "sent"]  # whichever went first mailed it
    assert len(catcher.handler.saved) == 1


class LookingStore(ScheduleStore):
    """A store that notes when its runner has read a period's attempts."""

    def __init__(self, client, looked: set, name: str) -> None:
        super().__init__(lambda: client)
        self.looked, self.name = looked, name

    def attempts(self, name, period_start):
        rows = super().attempts(name, period_start)
        self.looked.add(self.name)
        return rows


def test_a_tick_and_a_run_of_two_processes_racing_for_one_period_mail_it_once(loaded, tmp_path):
    """Both read the run log before either claims the period: the claims read back decide, in
    eight rounds (the claims' random ids come in either order)."""
    client, _ = fresh(loaded)
    schedule = Schedule("daily", ("noc@example.com",))
    looked: set[str] = set()

    async def warehouse(work):
        first_look = not looked
        result = work()
        for _ in range(1000 if first_look else 0):  # the first look at the log waits for the other one
            if len(looked) == 2:
                break
            await asyncio.sleep(0)
        return result

    with MailCatcher(tmp_path / "outbox") as catcher:
        smtp = parse_smtp_url("CDRFLOW_SMTP", f"smtp://127.0.0.1:{catcher.port}")
        timer, operator = (
            ScheduleRunner(
                LookingStore(client, looked, name),
                Warehouse.through(warehouse),
                query_runner(lambda: client),
                smtp,
                "r@localhost",
                custom_reports_on(client, loaded[2]),
            )  # fmt: skip
            for name in ("timer", "operator")
        )
        timer.store.save(schedule)

        async def racing():
            return await asyncio.gather(timer.tick(NOW), operator.run(schedule, SEP_2, SEP_3))

        for round_ in range(8):
            client.command("TRUNCATE TABLE schedule_runs")
            looked.clear()
            tick, run = asyncio.run(racing())
            assert looked == {"timer", "operator"}
            assert sorted([tick["daily"], run]) == ["sent", "superseded"], round_
            assert sorted(r["status"] for r in timer.store.log("daily")) == ["sent", "superseded"]
    assert len(catcher.handler.saved) == 8  # once a round


def test_an_empty_period_is_skipped_when_asked(loaded, tmp_path):
    client, _ = fresh(loaded)
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(Schedule("quiet", ("noc@example.com",), customers=("nobody",), skip_empty=True))
        runner.store.save(Schedule("loud", ("noc@example.com",), customers=("nobody",)))
        assert asyncio.run(runner.tick(NOW)) == {"loud": "sent", "quiet": "skipped"}
    assert len(catcher.handler.saved) == 1


@pytest.mark.parametrize("report", ["breakout", "custom:quiet-by-provider"])
def test_an_empty_period_is_mailed_as_a_report_with_its_header_and_0_rows(loaded, tmp_path, report):
    client, _ = fresh(loaded)
    sql = "SELECT provider, count() AS calls FROM cdr FINAL WHERE has({customers:Array(String)}, customer) GROUP BY provider"
    asyncio.run(custom_reports_on(client, loaded[2]).add({"name": "quiet-by-provider", "sql": sql}))
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        groups = () if report.startswith("custom:") else ("provider",)
        runner.store.save(Schedule("quiet", ("noc@example.com",), report=report, customers=("nobody",), groups=groups))
        assert asyncio.run(runner.tick(NOW)) == {"quiet": "sent"}
    [saved] = catcher.handler.saved
    message = email.message_from_bytes(saved.read_bytes(), policy=policy.default)
    [attachment] = list(message.iter_attachments())
    header = attachment.get_content().splitlines()[0]
    assert header.startswith("provider,") and ("calls" in header or "attempts" in header)
    assert ": 0 rows for 2026-09-02 (UTC). Data complete" in body_text(saved)


def test_a_custom_report_is_mailed_with_its_own_columns_for_the_period(loaded, tmp_path):
    client, newest = fresh(loaded)
    runner_reports = custom_reports_on(client, loaded[2])
    sql = (
        "SELECT provider, count() AS calls, sum(customer_charge) AS charged FROM cdr FINAL "
        "WHERE start_time >= {from:DateTime64(3)} AND start_time < {to:DateTime64(3)} "
        "AND has({customers:Array(String)}, customer) GROUP BY provider ORDER BY provider"
    )
    asyncio.run(runner_reports.add({"name": "acme-by-provider", "title": "Acme by provider", "sql": sql}))
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(Schedule("acme-custom", ("billing@example.com",), report="custom:acme-by-provider",
                                   customers=("acme",), format="csv"))  # fmt: skip
        assert asyncio.run(runner.tick(NOW)) == {"acme-custom": "sent"}
    [saved] = catcher.handler.saved
    rows = attachment_rows(saved)
    expected = {  # a custom report's values as its SQL gives them: an unrouted call's provider empty
        "" if provider == "(none)" else provider: (n, charge)
        for (_, provider), (n, _, charge) in by_route(newest.values(), SEP_2, SEP_3, "acme").items()
    }
    assert {r["provider"]: (int(r["calls"]), r["charged"]) for r in rows} == expected and expected
    assert list(rows[0]) == ["provider", "calls", "charged"]  # no Total row: the columns are the report's own
    calls, charged = sum(n for n, _ in expected.values()), sum(Decimal(c) for _, c in expected.values())
    assert f"Acme by provider 2026-09-02 (UTC): {len(rows)} rows; calls {calls}, charged {charged:.6f}." in body_text(
        saved
    )
    message = email.message_from_bytes(saved.read_bytes(), policy=policy.default)
    assert [a.get_filename() for a in message.iter_attachments()] == ["acme-by-provider-202609020000.csv"]


def test_the_run_log_shows_a_period_in_its_schedules_zone(loaded, tmp_path):
    client, _ = fresh(loaded)
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(Schedule("kolkata", ("noc@example.com",), tz="Asia/Kolkata"))
        assert asyncio.run(runner.tick(NOW)) == {"kolkata": "sent"}
        [run] = asyncio.run(ScheduleService(runner).log("kolkata"))
    assert (run["period_start"], run["period_end"]) == ("2026-09-02T00:00:00+05:30", "2026-09-03T00:00:00+05:30")
    assert run["started"].endswith("+00:00")
    [saved] = catcher.handler.saved
    assert (
        email.message_from_bytes(saved.read_bytes(), policy=policy.default)["Subject"]
        == "kolkata: 2026-09-02 (Asia/Kolkata)"
    )


def test_adding_a_schedule_warns_of_names_without_traffic_and_of_costs_mailed_to_a_customer(loaded, tmp_path):
    client, _ = fresh(loaded)
    service = ScheduleService(runner_for(client, loaded[2], free_port()))
    answer = asyncio.run(service.add({"name": "acme", "email": ["billing@acme.example"], "customers": ["acme", "acmee"],
                                      "providers": ["tata", "tatta"]}))  # fmt: skip
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    assert answer["first_period"] == f"{yesterday} (UTC)"  # the latest closed day goes out first
    assert answer["first_mail"].endswith("once the pipeline has caught up past the period's end plus 60 min")
    assert answer["warnings"] == [
        "customer: no traffic of 'acmee' in the warehouse; closest: 'acme'",
        "provider: no traffic of 'tatta' in the warehouse; closest: 'tata'",
        "columns: a report for customers that shows provider_duration, provider_charge, profit, profit_percent; "
        "for a customer's mailbox choose columns without them",
    ]
    safe = {"name": "acme", "email": ["billing@acme.example"], "customers": ["acme"], "columns": ["attempts", "asr"]}
    assert "warnings" not in asyncio.run(service.add(safe))
    assert [s.name for s in service.store.all()] == ["acme"]  # saved either way


def test_days_that_closed_while_no_worker_ran_are_mailed_oldest_first_since_the_schedule_was_saved(loaded, tmp_path):
    client, newest = fresh(loaded)
    schedule = Schedule("daily-catch-up", ("noc@example.com",), groups=("customer",), columns=("attempts",))
    with MailCatcher(tmp_path / "outbox") as catcher:
        runner = runner_for(client, loaded[2], catcher.port)
        runner.store.save(schedule)
        saved_at = datetime(2026, 9, 1, 0, 30, tzinfo=timezone.utc)  # then the workers stopped until NOW
        # its first save, as ClickHouse keeps it: the newest row of a name wins, the oldest says since when
        client.insert("schedules", [["daily-catch-up", saved_at]], column_names=["name", "updated_at"])
        assert asyncio.run(runner.tick(NOW)) == {"daily-catch-up": "sent"}
        assert asyncio.run(runner.tick(NOW)) == {}
    runs = sorted(runner.store.log("daily-catch-up"), key=lambda r: r["started"])
    assert [(r["period_start"].day, r["status"]) for r in runs] == [(1, "sent"), (2, "sent")]  # Aug 31 closed before
    first, second = (attachment_rows(p)[-1] for p in sorted(catcher.handler.saved, key=lambda p: p.stat().st_mtime))
    day = lambda d: sum(1 for e in newest.values() if d <= e["start_time"] / 1000 < d + 86_400)  # noqa: E731
    assert (int(first["attempts"]), int(second["attempts"])) == (
        day(SEP_2.timestamp() - 86_400),
        day(SEP_2.timestamp()),
    )


def test_the_mail_says_how_old_the_workers_newest_report_of_their_progress_is():
    now = datetime(2026, 9, 3, 2, 0, 5, tzinfo=timezone.utc)
    reported = Progress(now - timedelta(minutes=1), now - timedelta(seconds=4))
    assert (
        complete_text(reported, "Asia/Kolkata", now)
        == "complete up to 2026-09-03 07:29 (Asia/Kolkata), as reported 4 s ago"
    )
    stopped = Progress(None, now - timedelta(hours=3, minutes=12))
    assert complete_text(stopped, "UTC", now) == (
        "completeness unknown: the newest report of how far the workers have caught up is 3 h 12 min old"
    )
    assert complete_text(Progress(None, None), "UTC", now) == (
        "completeness unknown: no worker has reported how far it has caught up"
    )
    assert [age_text(timedelta(seconds=s)) for s in (0, 59, 60, 3600, 86400, 90000)] == [
        "0 s", "59 s", "1 min", "1 h 0 min", "1 d", "1 d 1 h"]  # fmt: skip
