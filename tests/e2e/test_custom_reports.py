"""Custom reports on a running worker: saved and refused over the API and `cdrflow custom`, run with the
filter bar's parameters over the API and `cdrflow report custom`, and on the folder when no worker runs."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

import orjson
import pytest

from consumers.worker import free_port
from tests.cdr_factory import newest_revisions
from tests.services import DOCKER
from tests.sql_worker import TOKEN

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")

CALLS_BY_CUSTOMER = (
    "SELECT customer, count() AS calls FROM cdr FINAL "
    "WHERE start_time >= {from:DateTime64(3)} AND start_time < {to:DateTime64(3)} "
    "AND (empty({customers:Array(String)}) OR has({customers:Array(String)}, customer)) "
    "GROUP BY customer ORDER BY customer"
)
RANGE = {"from": "2026-07-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}  # every CDR of make_cdrs


def call(worker, method: str, path: str, body: object = None, token: str | None = TOKEN) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}", data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def cdrflow(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", *args], env=env, input=stdin, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def calls_by_customer(events: list[dict], customers: set[str] | None = None) -> dict[str, int]:
    counted = Counter(e["customer"] for e in newest_revisions(events).values())
    return {c: n for c, n in counted.items() if not customers or c in customers}


def test_the_api_saves_refuses_runs_and_removes_custom_reports(sql_worker):
    worker, events = sql_worker
    report = {"name": "calls-api", "title": "Calls by customer", "sql": CALLS_BY_CUSTOMER}
    assert call(worker, "POST", "/api/custom-reports", report, token=None)[0] == 401
    status, body = call(worker, "POST", "/api/custom-reports", report)
    assert (status, orjson.loads(body)["title"]) == (201, "Calls by customer")

    query = urllib.parse.urlencode({**RANGE, "customer": ["acme", "o'neil & sons"]}, doseq=True)
    status, body = call(worker, "GET", f"/api/reports/custom/calls-api?{query}")
    assert status == 200
    assert {r["customer"]: r["calls"] for r in orjson.loads(body)} == calls_by_customer(
        events, {"acme", "o'neil & sons"}
    )
    status, body = call(worker, "GET", f"/api/reports/custom/calls-api?{urllib.parse.urlencode(RANGE)}&format=csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert {r["customer"]: int(r["calls"]) for r in rows} == calls_by_customer(events)

    for sql, reason in (
        ("ALTER TABLE cdr DELETE WHERE 1", "one read-only SELECT"),
        ("SELECT 1; SELECT 2", "Multi-statements"),
    ):
        status, body = call(worker, "POST", "/api/custom-reports", {"name": "bad", "sql": sql})
        assert status == 400 and reason in orjson.loads(body)["error"]
    assert call(worker, "GET", "/api/custom-reports/bad")[0] == 404

    status, body = call(worker, "GET", f"/api/reports/custom/calls-api?from=2026-07-01T00:00:00&to={RANGE['to']}")
    assert (status, orjson.loads(body)) == (
        400, {"error": "from: needs a UTC offset (e.g. Z or +05:30): '2026-07-01T00:00:00'"}
    )  # fmt: skip
    status, body = call(worker, "GET", f"/api/reports/custom/calls-api?from=2026-07-01&to={RANGE['to']}")
    assert status == 200, body  # a local date, as the command line takes it
    assert call(worker, "GET", f"/api/reports/custom/nope?{urllib.parse.urlencode(RANGE)}")[0] == 404

    status, body = call(
        worker, "POST", f"/api/reports/custom?{urllib.parse.urlencode(RANGE)}", {"sql": CALLS_BY_CUSTOMER}
    )
    assert {r["customer"]: r["calls"] for r in orjson.loads(body)} == calls_by_customer(events)
    status, body = call(worker, "POST", f"/api/reports/custom?{urllib.parse.urlencode(RANGE)}", {"sql": "SELECT nope"})
    assert status == 400 and "UNKNOWN_IDENTIFIER" in orjson.loads(body)["error"]

    assert call(worker, "DELETE", "/api/custom-reports/calls-api")[0] == 200
    assert call(worker, "DELETE", "/api/custom-reports/calls-api")[0] == 404
    assert "calls-api" not in [r["name"] for r in orjson.loads(call(worker, "GET", "/api/custom-reports")[1])]


def test_the_schema_lists_the_tables_a_report_may_read(sql_worker):
    status, body = call(sql_worker[0], "GET", "/api/schema")
    tables = orjson.loads(body)
    assert status == 200 and {"cdr", "agg_breakout", "agg_number", "schedule_runs"} <= set(tables)
    assert {"name": "customer_charge", "type": "Decimal(18, 6)"} in tables["cdr"]


def test_the_command_line_through_the_worker(sql_worker, tmp_path):
    worker, events = sql_worker
    env = {**worker.env, "CDRFLOW_API_TOKEN": TOKEN}
    added = cdrflow(
        env, "custom", "add", "--name", "calls-cli", "--title", "Calls", "--sql-file", "-", stdin=CALLS_BY_CUSTOMER
    )
    assert added.returncode == 0, added.stderr
    refused = cdrflow(env, "custom", "add", "--name", "bad", "--sql", "INSERT INTO cdr (id) VALUES ('x')")
    assert (refused.returncode, refused.stderr) == (
        2,
        "cdrflow: custom add: sql: a custom report is one read-only SELECT: "
        "Code: 164. DB::Exception: default: Cannot execute query in readonly mode. (READONLY)\n",
    )
    listed = cdrflow(env, "custom", "list")
    assert "calls-cli" in listed.stdout and "bad" not in listed.stdout
    assert CALLS_BY_CUSTOMER in cdrflow(env, "custom", "show", "calls-cli").stdout
    ran = cdrflow(env, "report", "custom", "calls-cli", "--from", RANGE["from"], "--to", RANGE["to"],
                  "--customer", "acme", "--format", "csv")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["customer,calls", f"acme,{calls_by_customer(events)['acme']}"]
    unknown = cdrflow(env, "report", "custom", "nope", "--from", "yesterday")
    assert (unknown.returncode, unknown.stderr) == (2, "cdrflow: report: no custom report named 'nope'\n")
    assert cdrflow(env, "custom", "remove", "calls-cli").returncode == 0
    assert cdrflow(env, "custom", "remove", "calls-cli").returncode == 2


def test_the_command_line_on_the_folder_when_no_worker_runs(tmp_path):
    env = {**os.environ, "CDRFLOW_CLICKHOUSE": f"chdb://{tmp_path / 'clickhouse'}",
           "CDRFLOW_WEB_PORT": str(free_port()), "CDRFLOW_SQL_PORT": str(free_port())}  # fmt: skip
    assert cdrflow(env, "migrate").returncode == 0
    added = cdrflow(env, "custom", "add", "--name", "numbers", "--sql", "SELECT number AS n FROM system.numbers "
                    "WHERE {to:DateTime64(3)} > {from:DateTime64(3)} LIMIT 3")  # fmt: skip
    assert added.returncode == 0, added.stderr
    ran = cdrflow(env, "report", "custom", "numbers", "--from", "yesterday", "--format", "json")
    assert (ran.returncode, orjson.loads(ran.stdout)) == (0, [{"n": 0}, {"n": 1}, {"n": 2}]), ran.stderr
