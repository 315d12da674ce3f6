"""The worker's read-only ClickHouse HTTP port, through clients as they are: clickhouse-connect and plain HTTP."""

from __future__ import annotations

import base64
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

import orjson
import pytest

from consumers.worker import WorkerProcess
from tests.cdr_factory import truth_by_customer
from tests.services import DOCKER
from tests.sql_worker import TOKEN, sql_client, sql_port

pytestmark = pytest.mark.skipif(DOCKER, reason="the port serves the worker's embedded chDB folder")


def post(sql_worker, sql: str, headers: dict[str, str] | None = None, **params: str) -> tuple[int, bytes, dict]:
    """One request as curl would send it: the query in the body, the token as basic auth."""
    url = f"http://127.0.0.1:{sql_port(sql_worker)}/?{urllib.parse.urlencode(params)}"
    basic = base64.b64encode(f"default:{TOKEN}".encode()).decode()
    request = urllib.request.Request(
        url, data=sql.encode(), headers={"Authorization": f"Basic {basic}", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_clickhouse_connect_reads_the_same_rows_as_the_cdrs_sent(sql_worker):
    rows = (
        sql_client(sql_worker)
        .query(
            "SELECT customer, count(), countIf(sip_code BETWEEN 200 AND 299), sum(customer_charge), sum(provider_charge) "
            "FROM cdr FINAL GROUP BY customer"
        )
        .result_rows
    )
    assert {r[0]: (r[1], r[2], Decimal(r[3]), Decimal(r[4])) for r in rows} == truth_by_customer(sql_worker[1])


def test_query_parameters_bind_as_on_a_clickhouse_server(sql_worker):
    [(customer, expected)] = (
        sql_client(sql_worker).query("SELECT customer, count() FROM cdr FINAL GROUP BY customer LIMIT 1").result_rows
    )
    got = sql_client(sql_worker).query(
        "SELECT count() FROM cdr FINAL WHERE customer = {c:String}", parameters={"c": customer}
    )
    assert got.result_rows == [(expected,)]
    status, body, _ = post(sql_worker, "SELECT {n:UInt32} * 2", param_n="21")
    assert (status, body) == (200, b"42\n")


@pytest.mark.parametrize(
    "fmt, expected",
    [("CSVWithNames", b'"x","y"\n1,"a"\n'), ("TabSeparated", b"1\ta\n"), ("JSONEachRow", b'{"x":1,"y":"a"}\n')],
)
def test_the_format_a_client_asks_for(sql_worker, fmt, expected):
    assert post(sql_worker, "SELECT 1 AS x, 'a' AS y", default_format=fmt)[:2] == (200, expected)
    assert post(sql_worker, "SELECT 1 AS x, 'a' AS y", headers={"X-ClickHouse-Format": fmt})[:2] == (200, expected)
    json = orjson.loads(post(sql_worker, "SELECT 1 AS x FORMAT JSON")[1])
    assert json["data"] == [{"x": 1}]


@pytest.mark.parametrize(
    "sql, params",
    [
        ("INSERT INTO cdr (id) VALUES ('x')", {}),
        ("ALTER TABLE cdr DELETE WHERE 1", {}),
        ("DROP TABLE cdr", {}),
        ("CREATE TABLE evil (x UInt8) ENGINE = Memory", {}),
        ("SYSTEM STOP MERGES", {}),
        ("KILL QUERY WHERE 1", {}),
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", {}),
        ("SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'x String')", {}),
        ("SELECT * FROM remote('127.0.0.1', system.one)", {}),
        ("SELECT 1 SETTINGS readonly = 0", {}),
        ("SELECT 1", {"max_execution_time": "3600"}),
        ("SELECT 1", {"readonly": "0"}),
    ],
)
def test_what_would_write_or_lift_a_limit_is_refused_in_clickhouses_words_and_changes_nothing(sql_worker, sql, params):
    before = sql_client(sql_worker).query("SELECT count() FROM cdr FINAL").result_rows
    status, body, headers = post(sql_worker, sql, **params)
    refused_as = (
        b"(ACCESS_DENIED)" if b"FROM file" in sql.encode() or "url(" in sql or "remote(" in sql else b"(READONLY)"
    )
    assert (
        status == 403
        and refused_as in body
        and body.startswith(b"Code: %d. DB::Exception:" % (497 if refused_as == b"(ACCESS_DENIED)" else 164))
    )
    assert headers["X-ClickHouse-Exception-Code"] in ("164", "497")
    assert sql_client(sql_worker).query("SELECT count() FROM cdr FINAL").result_rows == before
    assert sql_client(sql_worker).query("EXISTS TABLE evil").result_rows == [(0,)]


def test_several_statements_in_one_request_are_refused(sql_worker):
    status, body, _ = post(sql_worker, "SELECT 1; DROP TABLE cdr")
    assert status == 400 and b"Multi-statements are not allowed" in body
    assert sql_client(sql_worker).query("EXISTS TABLE cdr").result_rows == [(1,)]


def test_a_query_past_the_time_limit_or_the_row_limit_is_stopped(sql_worker):
    status, body, _ = post(sql_worker, "SELECT count() FROM system.numbers")
    assert status == 408 and b"(TIMEOUT_EXCEEDED)" in body
    status, body, _ = post(sql_worker, "SELECT number FROM numbers(1000001)", wait_end_of_query="1")
    assert status == 500 and b"(TOO_MANY_ROWS_OR_BYTES)" in body
    status, body, _ = post(sql_worker, "SELECT number FROM numbers(1000001)")  # streamed: the error ends the body
    assert status == 200 and body.rstrip().endswith(b"(TOO_MANY_ROWS_OR_BYTES)")
    assert post(sql_worker, "SELECT count() FROM (SELECT number FROM numbers(1000000))")[:2] == (200, b"1000000\n")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"default:wrong").decode()},
        {"X-ClickHouse-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
    ],
)
def test_without_the_token_nothing_is_answered(sql_worker, headers):
    url = f"http://127.0.0.1:{sql_port(sql_worker)}/?query=SELECT+1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
    expected = (
        (401, b"(REQUIRED_PASSWORD)") if not headers else (403, b"(AUTHENTICATION_FAILED)")
    )  # as ClickHouse answers
    assert refused.value.code == expected[0] and expected[1] in refused.value.read()


@pytest.mark.parametrize("header", ["X-ClickHouse-Key", "Authorization"])
def test_the_token_opens_it_as_key_or_bearer(sql_worker, header):
    value = TOKEN if header == "X-ClickHouse-Key" else f"Bearer {TOKEN}"
    url = f"http://127.0.0.1:{sql_port(sql_worker)}/?query=SELECT+1"
    with urllib.request.urlopen(urllib.request.Request(url, headers={header: value}), timeout=10) as response:
        assert response.read() == b"1\n"


def test_a_worker_whose_sql_port_is_taken_runs_on_without_it(settings, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.env["CDRFLOW_SQL_PORT"] = str(taken.getsockname()[1])
    worker.start()
    try:
        worker.wait_until_healthy()
        deadline = time.monotonic() + 30
        while "ad-hoc SQL is off: cannot listen on" not in worker.tail():
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.2)
        worker.wait_until_healthy()  # still running
    finally:
        worker.stop()
        taken.close()
