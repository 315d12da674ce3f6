"""Scheduled reports on a running worker: added with the command line, mailed by the leader's
scheduler to a real SMTP server once, logged; managed on the warehouse when no worker runs."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from consumers.mail.catcher import MailCatcher
from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, publish
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")


def schedule(worker: WorkerProcess, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "schedule", *args], env=worker.env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_leader_mails_a_schedule_once_and_the_log_shows_it(settings, tmp_path):
    events = make_cdrs(1500, seed=41)
    publish(settings, events)
    worker = WorkerProcess.on_folder(settings, tmp_path)
    with MailCatcher(tmp_path / "outbox") as catcher:
        worker.env["CDRFLOW_SMTP"] = f"smtp://127.0.0.1:{catcher.port}"
        worker.start()
        try:
            worker.wait_until_caught_up(len(events))
            added = schedule(worker, tmp_path, "add", "--name", "yearly-oct", "--email", "billing@example.com",
                             "--every", "0 0 1 10 *", "--group", "customer", "--format", "xlsx")  # fmt: skip
            assert added.returncode == 0, added.stderr
            bad = schedule(worker, tmp_path, "add", "--name", "x", "--email", "nobody", "--every", "daily")
            assert bad.returncode == 2 and "email: not an email address" in bad.stderr
            listed = schedule(worker, tmp_path, "list")
            assert "yearly-oct" in listed.stdout and "billing@example.com" in listed.stdout
            deadline = time.monotonic() + 60
            while not catcher.handler.saved and time.monotonic() < deadline:
                time.sleep(0.5)
            assert len(catcher.handler.saved) == 1
            again = schedule(worker, tmp_path, "run", "yearly-oct")
            assert '"outcome": "done"' in again.stdout  # mailed already: not twice
            log = schedule(worker, tmp_path, "log", "yearly-oct")
            assert "sent" in log.stdout and "2025-10-01T00:00:00+00:00" in log.stdout
        finally:
            worker.stop()
    assert b".xlsx" in catcher.handler.saved[0].read_bytes()
    assert "yearly-oct" in schedule(worker, tmp_path, "list").stdout  # no worker: on the warehouse itself
    removed = schedule(worker, tmp_path, "remove", "yearly-oct")
    assert removed.returncode == 0, removed.stderr
    assert "yearly-oct" not in schedule(worker, tmp_path, "list").stdout
