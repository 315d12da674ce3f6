"""The Kafka client's repeated lines are held back, and the next one says how many were."""

import logging

from pipeline.client_logs import RepeatedLines


def record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), None)


def test_the_same_client_line_passes_once_per_quiet_spell_and_others_always(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("pipeline.client_logs.time.monotonic", lambda: now[0])
    lines = RepeatedLines(quiet_seconds=30)
    unable = "Unable connect to node with id %s: %s"
    passed = []
    for _ in range(600):  # a minute of retries every 100 ms
        passed.append(lines.filter(r := record("aiokafka.conn", unable)) and r.getMessage())
        passed.append(lines.filter(r := record("pipeline.app", "timer failed")) and r.getMessage())
        now[0] += 0.1
    client_lines = [p for p in passed if p and p.startswith("Unable")]
    assert len(client_lines) == 2
    assert client_lines[1].endswith("(and 299 more like it in the last 30 s)")
    assert passed.count("timer failed") == 600  # the worker's own lines are never held back
