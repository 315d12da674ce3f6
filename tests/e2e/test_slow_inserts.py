"""Inserts made slow on purpose (as when reports take the CPU): the ingest gathers longer, so the
worker writes fewer and larger batches and keeps up, and every CDR counts once."""

from __future__ import annotations

import time

import pytest

from consumers.worker import WorkerProcess
from tests.cdr_factory import truth_by_customer
from tests.chdb_query import aggregated_by_customer
from tests.e2e.test_slow_reads import SteadyFeed
from tests.faults import inject_faults
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="faults are injected into the worker's own process")
SLOW_INSERT_SECONDS = 0.3


def test_slow_inserts_lengthen_the_ingest_linger_and_lose_nothing(settings, tmp_path):
    worker = WorkerProcess.on_folder(settings, tmp_path)
    inject_faults(worker, slow_inserts=str(SLOW_INSERT_SECONDS))
    worker.start()
    feed = SteadyFeed(settings, per_second=300)
    lingers, busy = [], []
    try:
        worker.wait_until_healthy()
        assert worker.metrics()["cdrflow_ingest_linger_seconds"] == 0.15  # nothing written yet
        feed.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not lingers or lingers[-1] < 1.0):
            time.sleep(0.5)
            metrics = worker.metrics()
            lingers.append(metrics["cdrflow_ingest_linger_seconds"])
            busy.append(metrics["cdrflow_write_busy_ratio"])
        assert lingers[-1] == 1.0, f"lingers {lingers}, write busy {busy}"
        applied = worker.metrics()["cdrflow_batches_applied_total"]
        time.sleep(5)
        batches = worker.metrics()["cdrflow_batches_applied_total"] - applied
        # Once a second one batch per partition, at most: fewer inserts than the feed's seconds
        # times the partitions, each with the CDRs of a second.
        assert batches <= 6 * settings.partitions, batches
        feed.stopping.set()
        feed.join()
        worker.wait_until_caught_up(len(feed.sent))
    finally:
        feed.stopping.set()
        if feed.is_alive():
            feed.join()
        worker.stop()
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(feed.sent)
