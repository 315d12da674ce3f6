"""The broker away for a minute while the worker is caught up: the worker stays up, its timers
log one line per failure and run again, and it resumes exact once the broker is back."""

from __future__ import annotations

import time

import pytest

from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, publish, truth_by_customer
from tests.chdb_query import aggregated_by_customer
from tests.deploy.test_broker import free_port_pair
from tests.services import DOCKER, pipeline_settings, run_broker

pytestmark = pytest.mark.skipif(DOCKER, reason="stops and starts a broker of its own")
OUTAGE_SECONDS = 60


def test_a_minute_without_the_broker_leaves_the_worker_up_exact_and_without_tracebacks(tmp_path):
    port, kafka_data = free_port_pair(), tmp_path / "kafka"
    bootstrap = run_broker("start", port, kafka_data).stdout.strip().splitlines()[-1].removeprefix("bootstrap=")
    settings = pipeline_settings(f"kafka://{bootstrap}", "outage", tmp_path)
    worker = WorkerProcess.on_folder(settings, tmp_path)
    try:
        before, after = make_cdrs(2000, seed=131), make_cdrs(2000, seed=132)
        publish(settings, before)
        worker.start()
        worker.wait_until_caught_up(len(before))
        run_broker("stop", port, kafka_data)
        away_until = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < away_until:
            assert worker.process.poll() is None, f"the worker stopped while the broker was away\n{worker.tail()}"
            time.sleep(1)
        run_broker("start", port, kafka_data)
        publish(settings, after)
        metrics = worker.wait_until_caught_up(len(before) + len(after), timeout=180)
        assert worker.process.poll() is None
    finally:
        worker.stop()
        run_broker("stop", port, kafka_data, check=False)
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(before + after)
    log = worker.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]
    failed = {name: count for name, count in metrics.items() if name.startswith("cdrflow_timer_failures_total")}
    assert sum(failed.values()) >= 1, f"the outage reached no timer: {failed}"
