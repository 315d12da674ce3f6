"""Two workers on two addresses (127.0.0.2 and 127.0.0.3, one port): each reaches the other at its
advertised URL, so both answer /api/live and /api/alerts with the rows of the one that keeps the
live windows."""

from __future__ import annotations

import time
import urllib.request
import uuid

import orjson
import pytest

from consumers.worker import WorkerProcess, free_port
from tests.cdr_factory import make_cdrs, publish
from tests.services import DOCKER, pipeline_settings

pytestmark = pytest.mark.skipif(DOCKER, reason="each worker runs on an embedded chDB folder of its own")
RULE = {"name": "any-traffic", "scope": ["customer"], "metric": "attempts", "op": ">", "threshold": 0, "window": 60}


def ask(worker: WorkerProcess, method: str, path: str, body: object = None) -> object:
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(
        f"http://{worker.host}:{worker.port}{path}", data, {"Content-Type": "application/json"}, method=method
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return orjson.loads(answer.read())


def test_both_workers_answer_live_and_alerts_with_the_same_rows(kafka, tmp_path):
    settings = pipeline_settings(kafka.url, f"hosts{uuid.uuid4().hex[:8]}", tmp_path)
    port = free_port()
    workers = []
    for address in ("127.0.0.2", "127.0.0.3"):
        worker = WorkerProcess.on_folder(settings, tmp_path / address)
        worker.env |= {"CDRFLOW_WEB_HOST": address, "CDRFLOW_WEB_PORT": str(port)}
        worker.port = port
        workers.append(worker)
    try:
        for worker in workers:
            (tmp_path / worker.host).mkdir()
            worker.start()
            worker.wait_until_healthy()
            ask(worker, "POST", "/api/alert-rules", RULE)  # each warehouse keeps its own rules
        events = make_cdrs(3000, seed=161)
        publish(settings, events)
        deadline = time.monotonic() + 180
        while True:
            answers = [ask(w, "GET", "/api/live?group=customer&window=60") for w in workers]
            firing = [ask(w, "GET", "/api/alerts") for w in workers]
            if answers[0]["rows"] and firing[0] and answers[0] == answers[1] and firing[0] == firing[1]:
                break
            assert time.monotonic() < deadline, (answers, firing, [w.tail() for w in workers])
            time.sleep(1)
        holders = [w.metrics()["cdrflow_live_holder"] for w in workers]
        assert sorted(holders) == [0, 1]
        assert {tuple(t["key"].values()) for t in firing[0]} <= {(e["customer"],) for e in events}
    finally:
        for worker in workers:
            worker.stop()
