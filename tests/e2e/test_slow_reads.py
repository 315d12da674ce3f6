"""One slow thing never stalls another: a report held up on purpose, or one past its time limit,
while CDRs flow; batches keep being applied, the live clock keeps stepping, health answers at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, publish, truth_by_customer
from tests.chdb_query import aggregated_by_customer
from tests.faults import inject_faults
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="faults are injected into the worker's own process")
SLOW_READ_SECONDS = 20
JDBC_DRIVER = Path(__file__).parents[2] / "deploy" / "jdbc" / "lib"
JDBC_QUERY = Path(__file__).parents[1] / "consumers" / "sql" / "JdbcQuery.java"


def get(worker: WorkerProcess, path: str, timeout: float = 60) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post(worker: WorkerProcess, path: str, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}{path}", orjson.dumps(body), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def assert_answered_at_once(health_seconds: list[float], slow_work_seconds: float) -> None:
    """Health answered as a free event loop answers: nine answers in ten within 200 ms (a busy
    2-core machine delays a few), and none waited anywhere near the slow work's own time, as an
    answer queued behind it would."""
    slow = [round(s, 3) for s in health_seconds if s >= 0.2]
    assert len(slow) <= len(health_seconds) // 10, (
        f"{len(slow)} of {len(health_seconds)} answers took 200 ms or more: {slow}"
    )
    assert max(health_seconds) < slow_work_seconds / 4, f"an answer waited {max(health_seconds):.1f} s: {slow}"


class SteadyFeed(threading.Thread):
    """CDRs that ended 20 s ago, `per_second` each second until stopped: the live clock follows them."""

    def __init__(self, settings, per_second: int = 200) -> None:
        super().__init__(daemon=True)
        self.settings, self.per_second = settings, per_second
        self.sent: list[dict] = []
        self.sent_by: list[tuple[float, int]] = [(0.0, 0)]  # (monotonic time, CDRs published by then)
        self.stopping = threading.Event()

    def published_by(self, moment: float) -> int:
        return max(count for at, count in self.sent_by if at <= moment)

    def run(self) -> None:
        second = 0
        while not self.stopping.is_set():
            now_ms = int(time.time() * 1000)
            events = [
                dict(
                    event, id=f"steady-{second}-{i}", rev=0, start_time=now_ms - 20_000 - int(event["duration"] * 1000)
                )
                for i, event in enumerate(make_cdrs(self.per_second, seed=1000 + second, rerate_share=0))
            ]
            publish(self.settings, events)
            self.sent += events
            self.sent_by.append((time.monotonic(), len(self.sent)))
            second += 1
            self.stopping.wait(max(0.0, 1.0 - (time.time() * 1000 - now_ms) / 1000))


def test_a_report_held_up_20_s_stalls_nothing_else(settings, tmp_path):
    worker = WorkerProcess.on_folder(settings, tmp_path)
    inject_faults(worker, slow_reads=str(SLOW_READ_SECONDS))
    worker.start()
    feed = SteadyFeed(settings)
    answers: list[tuple[int, bytes]] = []
    try:
        worker.wait_until_healthy()
        feed.start()
        deadline = time.monotonic() + 120
        while worker.metrics()["cdrflow_live_clock_seconds"] == 0:  # applying, and keeping the live windows
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.5)
        report = threading.Thread(
            target=lambda: answers.append(
                get(worker, "/api/reports/breakout?from=2026-09-01T00:00:00Z&to=2026-10-15T00:00:00Z")
            )
        )
        started = time.monotonic()
        report.start()
        behind, clocks, health_seconds = [], [], []
        while report.is_alive() and time.monotonic() - started < SLOW_READ_SECONDS - 1:
            asked = time.monotonic()
            assert get(worker, "/api/health", timeout=5)[0] == 200
            health_seconds.append(time.monotonic() - asked)
            metrics = worker.metrics()
            behind.append(feed.published_by(asked - 2.0) - metrics["cdrflow_cdrs_applied_total"])
            clocks.append(metrics["cdrflow_live_clock_seconds"])
            time.sleep(max(0.0, 1.0 - (time.monotonic() - asked)))
        assert report.is_alive(), f"the report was held up for the whole time: {answers}"
        assert len(behind) >= SLOW_READ_SECONDS - 4
        assert max(behind) <= 0, f"CDRs published 2 s before each look and not applied yet: {behind}"
        assert clocks[-1] >= clocks[0] + len(clocks) - 4, str(clocks)
        assert_answered_at_once(health_seconds, SLOW_READ_SECONDS)
        report.join()
        assert answers[0][0] == 200
        feed.stopping.set()
        feed.join()
        worker.wait_until_caught_up(len(feed.sent))
    finally:
        feed.stopping.set()
        feed.join()
        worker.stop()
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(feed.sent)


def test_a_report_past_its_time_limit_is_refused_with_the_reason_and_the_worker_goes_on(settings, tmp_path):
    publish(settings, make_cdrs(1000, seed=121))
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.env["CDRFLOW_REPORT_MAX_SECONDS"] = "3"
    worker.start()
    try:
        worker.wait_until_caught_up(1)
        endless = "SELECT count() FROM system.numbers WHERE {to:DateTime64(3)} > {from:DateTime64(3)}"
        status, body = post(
            worker, "/api/reports/custom?from=2026-09-01T00:00:00Z&to=2026-09-02T00:00:00Z", {"sql": endless}
        )
        assert status == 400
        assert orjson.loads(body)["error"] == (
            "report refused: it ran past CDRFLOW_REPORT_MAX_SECONDS = 3 s: narrow its range, groups or numbers"
        )
        assert post(worker, "/api/custom-reports", {"name": "endless", "sql": endless})[0] == 201
        cli = subprocess.run(
            [sys.executable, "-m", "consumers.cli", "report", "custom", "endless", "--from", "2026-09-01",
             "--to", "2026-09-02"],
            env=worker.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cli.returncode == 2
        assert "ran past CDRFLOW_REPORT_MAX_SECONDS = 3 s" in cli.stderr
        more = make_cdrs(500, seed=122)
        publish(settings, more)
        worker.wait_until_caught_up(1500, timeout=60)
        assert (
            get(worker, "/api/reports/breakout?from=2026-08-01T00:00:00Z&to=2026-11-01T00:00:00Z&group=customer")[0]
            == 200
        )
    finally:
        worker.stop()


def test_health_answers_at_once_while_a_million_row_export_and_a_million_row_jdbc_query_run(settings, tmp_path):
    assert any(JDBC_DRIVER.glob("clickhouse-jdbc-*.jar")), "run `make setup`: it resolves the JDBC driver"
    publish(settings, make_cdrs(200, seed=141))
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.start()
    million = "SELECT number, toString(number) AS text FROM system.numbers WHERE {to:DateTime64(3)} > {from:DateTime64(3)} LIMIT 1000000"
    exported: list[tuple[int, bytes]] = []
    try:
        worker.wait_until_caught_up(200)
        export = threading.Thread(target=lambda: exported.append(post(
            worker, "/api/reports/custom?from=2026-09-01T00:00:00Z&to=2026-09-02T00:00:00Z&format=xlsx", {"sql": million}
        )))  # fmt: skip
        jdbc = subprocess.Popen(
            ["java", "-cp", f"{JDBC_DRIVER}/*", str(JDBC_QUERY), f"jdbc:clickhouse:http://127.0.0.1:{worker.env['CDRFLOW_SQL_PORT']}/cdrflow",
             "", "SELECT number, toString(number) FROM system.numbers WHERE ? != '' LIMIT 1000000", "x"],
            stdout=(tmp_path / "jdbc.out").open("w"), stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        export.start()
        started = time.monotonic()
        health_seconds = []
        deadline = time.monotonic() + 300
        while (export.is_alive() or jdbc.poll() is None) and time.monotonic() < deadline:
            asked = time.monotonic()
            assert get(worker, "/api/health", timeout=5)[0] == 200
            health_seconds.append(time.monotonic() - asked)
            time.sleep(0.2)
        _, err = jdbc.communicate(timeout=60)
        export.join()
        slow_work_seconds = time.monotonic() - started
    finally:
        worker.stop()
    assert jdbc.returncode == 0, err[-3000:]
    assert len((tmp_path / "jdbc.out").read_text().splitlines()) == 1_000_000
    status, body = exported[0]
    assert status == 200 and body[:2] == b"PK" and len(body) > 10_000_000
    assert len(health_seconds) >= 10
    assert_answered_at_once(health_seconds, slow_work_seconds)
