"""The live worker's windows, kept in its `live` table so that a restart rebuilds them exactly.

The table holds, under
  b"d|<live offset>"  each batch's delta (pipeline.live_delta), in the order applied
  b"m|<p>"            the offset of the last batch of batch partition p applied
  b"e"                the last minute step rules were evaluated at
The table is written from the live topic's agent only (Faust's stores know a write's partition
from the event being processed), so the wall clock's ticks while the input is idle come through
the live topic too. A batch applied twice (a worker stopped between sending its delta and
recording the batch) sends the same delta again; the marker drops it. A delta kept just before
a stop, without its marker, comes again at the same live offset: its key shows it is in the
rebuilt windows already. Deltas whose newest minute is older than the slices kept are deleted,
so the table holds about two hours of deltas. The windows themselves are built from the table
when this worker takes the live partition, and dropped when it loses it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping

import orjson

from pipeline.live import KEPT_MINUTES, LiveWindows

log = logging.getLogger(__name__)
# Called at every minute step of the live clock (the alert rules' evaluation adds itself).
MinuteStep = Callable[[LiveWindows, int], Awaitable[None]]
EVALUATED = b"e"


def delta_key(live_offset: int) -> bytes:
    return b"d|%020d" % live_offset


def marker_key(partition: int) -> bytes:
    return b"m|%d" % partition


def newest_minute(delta: dict) -> int:
    """The newest minute a delta changes (its minutes are oldest first): once that is older than the
    slices kept, the delta is no longer needed to rebuild the windows."""
    return delta["m"][-1][0]


class LiveState:
    def __init__(
        self, table: MutableMapping[bytes, bytes], grace_ms: int, ready: Callable[[], bool] = lambda: True
    ) -> None:
        self.table = table
        self.grace_ms = grace_ms
        self.ready = ready  # whether this worker holds the live partition, its table recovered
        self.windows: LiveWindows | None = None
        self.minute_steps: list[MinuteStep] = []
        self.kept: deque[tuple[bytes, int]] = deque()  # (delta key, its newest minute), oldest first
        self.last_delta_at = time.monotonic()  # when a batch's delta last came (the input is idle since)

    def built(self) -> LiveWindows:
        """The windows, built from the table the first time they are asked for (empty, and not kept,
        while this worker does not hold the live partition)."""
        if self.windows is None and not self.ready():
            return LiveWindows(self.grace_ms)
        if self.windows is None:
            windows = LiveWindows(self.grace_ms)
            self.kept.clear()
            deltas = sorted((key, value) for key, value in self.table.items() if key.startswith(b"d|"))
            for key, value in deltas:
                delta = orjson.loads(value)
                windows.apply(delta)
                self.kept.append((key, newest_minute(delta)))
            evaluated = self.table.get(EVALUATED)
            windows.evaluated = None if evaluated is None else int(evaluated)
            self.windows = windows
            log.info("live windows rebuilt from %d deltas; clock at %s", len(deltas), windows.clock_ms)
        return self.windows

    def drop(self) -> None:
        """This worker no longer holds the live partition."""
        self.windows = None

    async def apply(self, live_offset: int, value: bytes) -> bool:
        """Apply one message of the live topic: a batch's delta, unless its batch was applied already,
        or a tick of the wall clock while the input is idle; then evaluate the minute steps."""
        windows = self.built()
        delta = orjson.loads(value)
        if "tick" in delta:
            windows.follow_wall_clock(delta["tick"])
            await self.evaluate()
            return False
        self.last_delta_at = time.monotonic()
        marker = marker_key(delta["p"])
        done = self.table.get(marker)
        if done is not None and int(done) >= delta["o"]:
            return False  # the batch's delta came again (the batch was applied twice)
        key = delta_key(live_offset)
        if key in self.table:  # kept before a stop that came before its marker: in the windows already
            self.table[marker] = b"%d" % delta["o"]
            return False
        self.table[key] = value
        self.table[marker] = b"%d" % delta["o"]
        self.kept.append((key, newest_minute(delta)))
        for minute in delta["m"]:  # as if the batch's CDRs had come one minute after another
            windows.apply_minute(*minute)
            await self.evaluate()
        return True

    async def evaluate(self) -> None:
        windows = self.built()
        for step in windows.steps():
            for minute_step in self.minute_steps:
                try:
                    await minute_step(windows, step)
                except Exception:  # a fault of the evaluation must not stop the live windows
                    log.exception("the live clock's minute step %d failed", step)
            self.table[EVALUATED] = b"%d" % step
        self.forget_old()

    def forget_old(self) -> None:
        minute = self.built().minute
        while self.kept and minute is not None and self.kept[0][1] < minute - KEPT_MINUTES:
            del self.table[self.kept.popleft()[0]]
