"""The ClickHouse JDBC driver from Maven Central (deploy/jdbc) reads the worker's SQL port, as DBeaver would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cdr_factory import newest_revisions
from tests.services import DOCKER
from tests.sql_worker import TOKEN

ROOT = Path(__file__).parents[3]
DRIVER = ROOT / "deploy" / "jdbc" / "lib"
pytestmark = pytest.mark.skipif(DOCKER, reason="the port serves the worker's embedded chDB folder")


def test_a_prepared_statement_through_the_jdbc_driver(sql_worker):
    assert any(DRIVER.glob("clickhouse-jdbc-*.jar")), "run `make setup`: it resolves the JDBC driver"
    process, events = sql_worker
    customer = next(iter(newest_revisions(events).values()))["customer"]
    expected = sum(1 for e in newest_revisions(events).values() if e["customer"] == customer)
    done = subprocess.run(
        ["java", "-cp", f"{DRIVER}/*", str(Path(__file__).with_name("JdbcQuery.java")),
         f"jdbc:clickhouse:http://127.0.0.1:{process.env['CDRFLOW_SQL_PORT']}/cdrflow", TOKEN,
         "SELECT customer, count() AS calls FROM cdr FINAL WHERE customer = ? GROUP BY customer", customer],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [f"{customer}\t{expected}"]


def test_the_jdbc_drivers_metadata_lists_the_tables_and_columns(sql_worker):
    process, _ = sql_worker
    done = subprocess.run(
        ["java", "-cp", f"{DRIVER}/*", str(Path(__file__).with_name("JdbcMetadata.java")),
         f"jdbc:clickhouse:http://127.0.0.1:{process.env['CDRFLOW_SQL_PORT']}/cdrflow", TOKEN, "cdrflow", "cdr"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    tables = {line[1] for line in lines if line[0] == "table"}
    assert {"cdr", "agg_breakout", "agg_number", "schedule_runs", "alert_events"} <= tables
    columns = {line[1]: line[2] for line in lines if line[0] == "column"}
    assert "String" in columns["customer"] and "customer_charge" in columns
