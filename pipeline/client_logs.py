"""The Kafka client's own log lines, at most one of a kind per QUIET_SECONDS.

While the broker is away aiokafka logs the same few errors ("Unable connect to node with id 1")
every 100 ms from each of its clients: thousands of lines a minute that bury everything else.
A line seen in the last QUIET_SECONDS is held back; the next one that passes says how many were.
"""

from __future__ import annotations

import logging
import time

QUIET_SECONDS = 30.0
CLIENT_LOGGERS = ("aiokafka",)


class RepeatedLines(logging.Filter):
    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        super().__init__()
        self.quiet_seconds = quiet_seconds
        self.last_seen: dict[tuple[str, object], float] = {}
        self.held_back: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(CLIENT_LOGGERS):
            return True
        kind = (record.name, record.msg)
        now = time.monotonic()
        if now - self.last_seen.get(kind, -self.quiet_seconds) < self.quiet_seconds:
            self.held_back[kind] = self.held_back.get(kind, 0) + 1
            return False
        self.last_seen[kind] = now
        held = self.held_back.pop(kind, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.quiet_seconds:g} s)"
        return True


def quiet_repeated_client_lines() -> None:
    """Hold back the Kafka client's repeated lines on every handler of this process's root logger
    (a handler's filter sees the lines of every logger below it)."""
    repeated = RepeatedLines()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatedLines) for f in handler.filters):
            handler.addFilter(repeated)
