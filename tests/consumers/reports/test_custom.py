"""Custom reports: checked when saved, run read-only with the filter bar's parameters, rows equal to
an independent computation from the CDRs."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from consumers.reports.custom import FIELDS, CustomReports
from consumers.sql.engine import ReadOnlyRows, SqlLimits
from consumers.store import SavedTable, UnknownName, Warehouse
from queries.errors import ReportError
from tests.cdr_factory import BASE_MS

CHARGE_BY_CUSTOMER = """
SELECT customer, count() AS calls, sum(customer_charge) AS charged
FROM cdr FINAL
WHERE start_time >= {from:DateTime64(3)} AND start_time < {to:DateTime64(3)}
  AND (empty({customers:Array(String)}) OR has({customers:Array(String)}, customer))
  AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, provider))
GROUP BY customer ORDER BY customer
"""
START = datetime.fromtimestamp(BASE_MS / 1000, timezone.utc) + timedelta(days=3)
END = START + timedelta(days=10)


@pytest.fixture(scope="module")
def custom(loaded):
    client, newest, url = loaded
    reader = ReadOnlyRows(url, SqlLimits(max_seconds=5))

    async def warehouse(work):
        return work()

    yield (
        CustomReports(SavedTable(lambda: client, "custom_reports", FIELDS), Warehouse.through(warehouse), reader.query),
        newest,
        client,
    )
    reader.close()


def run(coroutine):
    return asyncio.run(coroutine)


def truth(newest: dict, customers: set[str], providers: set[str]) -> dict[str, tuple[int, Decimal]]:
    rows: dict = defaultdict(lambda: [0, Decimal(0)])
    for event in newest.values():
        moment = datetime.fromtimestamp(event["start_time"] / 1000, timezone.utc)
        if START <= moment < END and (not customers or event["customer"] in customers):
            if not providers or event["provider"] in providers:
                rows[event["customer"]][0] += 1
                rows[event["customer"]][1] += Decimal(str(event.get("customer_charge", 0)))
    return {customer: tuple(v) for customer, v in rows.items()}


def params(**extra: list[str]) -> dict[str, list[str]]:
    return {"from": [START.isoformat()], "to": [END.isoformat()], **extra}


def test_a_saved_report_runs_with_a_range_and_filters_and_equals_the_cdrs(custom):
    reports, newest, _ = custom
    saved = run(reports.add({"name": "charge-by-customer", "title": "Charges", "sql": CHARGE_BY_CUSTOMER}))
    assert saved["title"] == "Charges"
    report = run(reports.get("charge-by-customer"))
    for customers, providers in (([], []), (["acme", "o'neil & sons"], []), (["acme"], ["tata", ""])):
        body = run(reports.answer(report, params(customer=customers, provider=providers)))
        got = {row["customer"]: (row["calls"], Decimal(row["charged"])) for row in orjson.loads(body)}
        assert got == truth(newest, set(customers), set(providers))
        assert got


def test_csv_has_the_query_columns_in_order(custom):
    reports, newest, _ = custom
    run(reports.add({"name": "charge-csv", "sql": CHARGE_BY_CUSTOMER}))
    body = run(reports.answer(run(reports.get("charge-csv")), params(format=["csv"], customer=["acme"])))
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["customer", "calls", "charged"]
    assert rows[1:] == [["acme", str(n), f"{charge:.6f}"] for n, charge in truth(newest, {"acme"}, set()).values()]


def test_xlsx_and_html_render_times_and_text(custom):
    reports, _, _ = custom
    sql = "SELECT customer, min(start_time) AS first, '=1+1' AS formula FROM cdr FINAL GROUP BY customer"
    report = run(reports.get(run(reports.add({"name": "first-call", "sql": sql}))["name"]))
    assert run(reports.answer(report, params(format=["xlsx"])))[:2] == b"PK"
    assert b"=1+1" in run(reports.answer(report, params(format=["html"])))


@pytest.mark.parametrize(
    "sql, reason",
    [
        ("INSERT INTO cdr (id) VALUES ('x')", "sql: a custom report is one read-only SELECT: Code: 164"),
        ("DROP TABLE cdr", "sql: a custom report is one read-only SELECT: Code: 164"),
        ("SHOW TABLES", "sql: a custom report is one read-only SELECT: Code: 164"),
        ("SELECT 1 INTO OUTFILE 'x.pth'", "INTO_OUTFILE_NOT_ALLOWED"),
        ("SELECT sql FROM custom_reports", "ACCESS_DENIED"),
        ("SELECT 1; SELECT 2", "Multi-statements are not allowed"),
        ("SELEC customer FROM cdr", "sql: Code: 62. DB::Exception: Syntax error"),
        ("SELECT customer FROM cdr WHERE", "Syntax error"),
        ("SELECT count() FROM no_such_table", "UNKNOWN_TABLE"),
        ("SELECT * FROM file('/etc/passwd')", "ACCESS_DENIED"),
        ("SELECT 1 SETTINGS max_result_rows = 0", "READONLY"),
        ("SELECT {number:String}", "Substitution `number` is not set"),
        ("", "sql: required"),
    ],
)
def test_saving_refuses_what_is_not_one_read_only_select_that_runs(custom, sql, reason):
    reports, _, client = custom
    before = client.query("SELECT count() FROM custom_reports").result_rows
    with pytest.raises(ReportError, match=reason.replace("(", r"\(")):
        run(reports.add({"name": "bad", "sql": sql}))
    assert client.query("SELECT count() FROM custom_reports").result_rows == before


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"name": "Upper", "sql": "SELECT 1"}, "name: 1 to 64 characters"),
        ({"name": "x" * 65, "sql": "SELECT 1"}, "name: 1 to 64 characters"),
        ({"name": "a b", "sql": "SELECT 1"}, "name: 1 to 64 characters"),
        ({"sql": "SELECT 1"}, "name and sql are required"),
        ({"name": "t", "sql": "SELECT 1", "title": "two\nlines"}, "title: at most 200 characters on one line"),
        ({"name": "t", "sql": "SELECT 1", "owner": "me"}, "unknown field 'owner'"),
        ({"name": "t", "sql": 1}, "sql: a string"),
    ],
)
def test_fields_are_checked_by_name(custom, fields, reason):
    with pytest.raises(ReportError, match=reason):
        run(custom[0].add(fields))


def test_a_percent_sign_in_a_report_without_parameters_is_sql_not_a_format(custom):
    reports, _, _ = custom
    run(reports.add({"name": "like", "sql": "SELECT count() AS n FROM cdr FINAL WHERE dest_number LIKE '4477%'"}))
    [row] = orjson.loads(run(reports.answer(run(reports.get("like")), params())))
    assert row["n"] > 0


def test_run_parameters_follow_the_built_in_reports_rules(custom):
    reports, _, _ = custom
    report = run(reports.get(run(reports.add({"name": "count", "sql": "SELECT count() AS n FROM cdr"}))["name"]))
    for bad, reason in (
        ({"to": [END.isoformat()]}, "from: required"),
        (params(group=["customer"]), "unknown parameter 'group'"),
        (params(tz=["Mars/Base"]), "tz: unknown time zone"),
        (params(format=["pdf"]), "format: unknown format"),
        ({"from": [END.isoformat()], "to": [START.isoformat()]}, "from must be before to"),
        ({"from": ["2026-11-01T00:00:00"], "to": [END.isoformat()]}, "from: needs a UTC offset"),
    ):
        with pytest.raises(ReportError, match=reason):
            run(reports.answer(report, bad))


def test_a_report_past_the_row_limit_stops_with_clickhouses_reason(loaded):
    client, _, url = loaded
    reader = ReadOnlyRows(url, SqlLimits(max_rows=1000))

    async def warehouse(work):
        return work()

    reports = CustomReports(
        SavedTable(lambda: client, "custom_reports", FIELDS), Warehouse.through(warehouse), reader.query
    )
    try:
        run(
            reports.add(
                {
                    "name": "numbers",
                    "sql": (
                        "SELECT number FROM system.numbers WHERE {to:DateTime64(3)} > {from:DateTime64(3)} LIMIT 5000"
                    ),
                }
            )
        )
        with pytest.raises(ReportError, match="numbers: .*TOO_MANY_ROWS"):
            run(reports.answer(run(reports.get("numbers")), params()))
    finally:
        reader.close()


def test_removed_reports_are_gone_and_unknown_names_say_so(custom):
    reports, _, _ = custom
    run(reports.add({"name": "short-lived", "sql": "SELECT 1"}))
    assert "short-lived" in [r["name"] for r in run(reports.list())]
    assert run(reports.remove("short-lived")) is True
    assert run(reports.remove("short-lived")) is False
    assert "short-lived" not in [r["name"] for r in run(reports.list())]
    with pytest.raises(UnknownName, match="no custom report named 'short-lived'"):
        run(reports.get("short-lived"))


def test_a_report_a_schedule_mails_cannot_be_removed_until_the_schedule_is(custom):
    reports, _, client = custom
    run(reports.add({"name": "mailed-daily", "sql": "SELECT 1"}))
    client.insert("schedules", [["noc-daily", "custom:mailed-daily"]], column_names=["name", "report"])
    with pytest.raises(ReportError, match="is mailed by the schedule noc-daily: remove or change it first"):
        run(reports.remove("mailed-daily"))
    assert "mailed-daily" in [r["name"] for r in run(reports.list())]
    client.insert("schedules", [["noc-daily", 1]], column_names=["name", "deleted"])
    assert run(reports.remove("mailed-daily")) is True
