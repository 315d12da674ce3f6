"""A long ad-hoc query on the SQL port does not stop the pipeline."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import pytest

from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, publish, truth_by_customer
from tests.chdb_query import aggregated_by_customer
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="the port serves the worker's embedded chDB folder")


def test_cdrs_are_applied_while_a_20_s_query_runs(settings, tmp_path):
    first, second = make_cdrs(2000, seed=111), make_cdrs(3000, seed=112)
    publish(settings, first)
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.env["CDRFLOW_SQL_MAX_SECONDS"] = "20"
    worker.start()
    answers: list[int] = []

    def long_query() -> None:
        url = f"http://127.0.0.1:{worker.env['CDRFLOW_SQL_PORT']}/?query=SELECT+count()+FROM+system.numbers"
        try:
            urllib.request.urlopen(url, timeout=60)
        except urllib.error.HTTPError as error:
            answers.append(error.code)

    try:
        worker.wait_until_caught_up(len(first))
        query = threading.Thread(target=long_query)
        query.start()
        time.sleep(0.5)
        publish(settings, second)
        worker.wait_until_caught_up(len(first) + len(second), timeout=19)  # within the 20 s query
        assert query.is_alive(), "the CDRs were applied while the query ran"
        query.join()
        assert answers == [408]  # stopped at CDRFLOW_SQL_MAX_SECONDS: TIMEOUT_EXCEEDED, as ClickHouse answers it
    finally:
        worker.stop()
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(first + second)
