"""clickhouse-connect's SQLAlchemy dialect on the worker's SQL port, as Superset and pandas use it:
the inspector lists tables and columns, pandas reads a query."""

from __future__ import annotations

import pandas
import pytest
import sqlalchemy

from tests.cdr_factory import newest_revisions
from tests.services import DOCKER
from tests.sql_worker import TOKEN, sql_port

pytestmark = pytest.mark.skipif(DOCKER, reason="the port serves the worker's embedded chDB folder")


@pytest.fixture
def engine(sql_worker):
    engine = sqlalchemy.create_engine(f"clickhousedb://default:{TOKEN}@127.0.0.1:{sql_port(sql_worker)}/cdrflow")
    yield engine
    engine.dispose()


def test_the_inspector_lists_the_tables_and_a_tables_columns(engine):
    inspector = sqlalchemy.inspect(engine)
    assert {"cdr", "agg_breakout", "agg_number", "schedule_runs", "alert_events"} <= set(inspector.get_table_names())
    columns = {column["name"] for column in inspector.get_columns("cdr")}
    assert {"id", "customer", "provider", "customer_charge", "start_time"} <= columns
    assert inspector.has_table("cdr")


def test_pandas_reads_a_query(engine, sql_worker):
    frame = pandas.read_sql("SELECT customer, count() AS calls FROM cdr FINAL GROUP BY customer", engine)
    assert int(frame["calls"].sum()) == len(newest_revisions(sql_worker[1]))
