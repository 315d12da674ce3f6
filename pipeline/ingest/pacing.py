"""How long the ingest gathers CDRs before it forwards them, set by how busy the worker's
warehouse writes are.

Every batch message costs the worker one insert, and an insert costs ClickHouse some 35-40 ms of
CPU whatever its size (each of `cdr_changes`' three views plans its query and writes a part)
against some 8 µs per row. Gathered for 0.15 s at 10k CDR/s over 4 partitions, that is 27 inserts a
second, more than one thread could write: batches would queue behind it, and event-to-queryable
grow by the second. So the worker measures the share of time its insert threads were busy, and the
ingest gathers longer while that share is high and shorter while it is low: a trickle goes in at
once, and a flood, or the same feed while reports take the CPU, goes in fewer and larger inserts.
Batches stay what they were (one message per partition per forward, each its own insert and
deduplication token), so this changes their size, never their exactness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class IngestPacing:
    """The ingest's linger, moved by each measured busy share of the insert threads.

    The linger is multiplied by `busy / target_busy` (at most doubled or halved a step), within
    [shortest, longest]: the forwarding rate falls until the writes keep up with room to spare."""

    shortest: float = 0.15  # seconds: what a quiet pipeline adds to event-to-queryable
    longest: float = 1.0
    target_busy: float = 0.5  # the share of time the insert threads may be busy before the linger grows
    linger: float = 0.15

    def update(self, busy_share: float) -> float:
        """The linger after a window in which the insert threads were busy `busy_share` of the time."""
        factor = min(2.0, max(0.5, busy_share / self.target_busy))
        self.linger = min(self.longest, max(self.shortest, self.linger * factor))
        return self.linger


class BusyShare:
    """The share of wall time the insert threads spent writing, between two looks."""

    def __init__(self, busy_seconds: Callable[[], float], now: Callable[[], float]) -> None:
        self._busy_seconds = busy_seconds
        self._now = now
        self._last = (now(), busy_seconds())

    def __call__(self) -> float:
        now, busy = self._now(), self._busy_seconds()
        then, busy_then = self._last
        self._last = (now, busy)
        return 0.0 if now <= then else min(1.0, (busy - busy_then) / (now - then))
