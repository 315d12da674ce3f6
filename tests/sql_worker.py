"""A worker with the SQL port open, CDRs applied and a token set, shared by the session's SQL tests."""

from __future__ import annotations

import uuid

import clickhouse_connect
import pytest

from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, publish
from tests.services import pipeline_settings

TOKEN = "s3cret-token"


@pytest.fixture(scope="session")
def sql_worker(tmp_path_factory, kafka):
    """(the running WorkerProcess, the events it applied)."""
    folder = tmp_path_factory.mktemp("sql-port")
    settings = pipeline_settings(kafka.url, f"sqlport{uuid.uuid4().hex[:8]}", folder)
    events = make_cdrs(400, seed=101)
    publish(settings, events)
    process = WorkerProcess.on_folder(settings, folder)
    process.env |= {"CDRFLOW_API_TOKEN": TOKEN, "CDRFLOW_SQL_MAX_SECONDS": "2"}
    process.start()
    try:
        process.wait_until_caught_up(len(events))
        yield process, events
    finally:
        process.stop()


def sql_port(sql_worker) -> int:
    return int(sql_worker[0].env["CDRFLOW_SQL_PORT"])


def sql_client(sql_worker):
    """clickhouse-connect's HTTP client on the worker's SQL port, the token as password."""
    return clickhouse_connect.get_client(
        host="127.0.0.1", port=sql_port(sql_worker), password=TOKEN, database="cdrflow"
    )
