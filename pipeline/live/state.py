"""The live worker's windows, listed in its `live` table so that a restart rebuilds them exactly.

The table holds, under
  b"d|<live offset>"  the newest minute of each batch's delta applied (the delta itself stays in
                      the live topic, which pipeline.live.topic reads again to rebuild)
  b"m|<p>"            the offset of the last batch of batch partition p applied
  b"e"                the last minute step rules were evaluated at
The table is written from the live topic's agent only (Faust's stores know a write's partition
from the event being processed), so the wall clock's ticks while the input is idle come through
the live topic too. A batch applied twice (a worker stopped between sending its delta and
recording the batch) sends the same delta again; the marker drops it. A delta listed just before
a stop, without its marker, comes again at the same live offset: its key shows it is in the
rebuilt windows already. Deltas whose newest minute is older than the slices kept leave the
list, so it names about two hours of deltas. The windows are built from the listed deltas when
this worker takes the live partition, and dropped when it loses it. Listing the deltas rather
than keeping a copy spares the table's store and changelog a second copy of the live topic (the
live topic is kept as long as the input topic, like the batch topic).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping

import orjson

from pipeline.live.windows import KEPT_MINUTES, LiveWindows

log = logging.getLogger(__name__)
# Called at every minute step of the live clock (the alert rules' evaluation adds itself).
MinuteStep = Callable[[LiveWindows, int], Awaitable[None]]
ReadDeltas = Callable[[list[int]], Awaitable[dict[int, bytes]]]
EVALUATED = b"e"


def delta_key(live_offset: int) -> bytes:
    return b"d|%020d" % live_offset


def offset_of(key: bytes) -> int:
    return int(key[2:])


def marker_key(partition: int) -> bytes:
    return b"m|%d" % partition


def newest_minute(delta: dict) -> int:
    """The newest minute a delta changes (its minutes are oldest first): once that is older than the
    slices kept, the delta is no longer needed to rebuild the windows."""
    return delta["m"][-1][0]


class LiveState:
    def __init__(
        self,
        table: MutableMapping[bytes, bytes],
        grace_ms: int,
        read_deltas: ReadDeltas,
        ready: Callable[[], bool] = lambda: True,
        idle_ms: int = 300_000,
        partitions: int = 0,
    ) -> None:
        self.table = table
        self.grace_ms = grace_ms
        self.idle_ms = idle_ms
        self.partitions = partitions  # of the batch topic, each feeding the clock
        self.read_deltas = read_deltas  # the live topic's messages at the given offsets (those it holds)
        self.ready = ready  # whether this worker holds the live partition, its table recovered
        self.windows: LiveWindows | None = None
        self.building = asyncio.Lock()
        self.minute_steps: list[MinuteStep] = []
        self.kept: deque[tuple[bytes, int]] = deque()  # (delta key, its newest minute), oldest first
        self.last_delta_at = time.monotonic()  # when a batch's delta last came (the input is idle since)
        self.failed_step: int | None = None  # a minute step whose evaluation failed: evaluated again

    def built(self) -> LiveWindows:
        """The windows (empty, and not kept, until `build` has made them: while this worker does not
        hold the live partition, or has just taken it)."""
        return self.new_windows() if self.windows is None else self.windows

    def new_windows(self) -> LiveWindows:
        return LiveWindows(self.grace_ms, idle_ms=self.idle_ms, partitions=self.partitions)

    async def build(self) -> LiveWindows:
        """Make the windows from the deltas the table lists, read from the live topic, once this
        worker holds the live partition."""
        async with self.building:
            if self.windows is not None or not self.ready():
                return self.built()
            listed = sorted((key, value) for key, value in self.table.items() if key.startswith(b"d|"))
            # tables written before the deltas stayed in the live topic hold the deltas themselves
            wanted = [offset_of(key) for key, value in listed if not value.startswith(b"{")]
            fetched: dict[int, bytes] | None = None
            delay = 0.5
            while fetched is None and self.ready():
                try:
                    fetched = await self.read_deltas(wanted)
                except Exception as error:  # Kafka unavailable: the live windows wait for it
                    log.warning("could not read the live topic to rebuild the windows, retrying in %.1f s: %s",
                                delay, error)  # fmt: skip
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, 10.0)
            if fetched is None or not self.ready():  # the partition went to another worker meanwhile
                return self.built()
            windows = self.new_windows()
            self.kept.clear()
            missing = []
            for key, value in listed:
                raw = value if value.startswith(b"{") else fetched.get(offset_of(key))
                if raw is None:
                    missing.append(offset_of(key))
                    continue
                delta = orjson.loads(raw)
                windows.apply(delta)
                self.kept.append((key, newest_minute(delta)))
            if missing:
                log.error(
                    "live deltas at offsets %s are gone from the live topic (kept less long than the worker was "
                    "down): the live windows lack their CDRs until those minutes leave the windows",
                    missing,
                )
            evaluated = self.table.get(EVALUATED)
            windows.evaluated = None if evaluated is None else int(evaluated)
            self.windows = windows
            log.info("live windows rebuilt from %d deltas; clock at %s", len(listed), windows.clock_ms)
            return windows

    def drop(self) -> None:
        """This worker no longer holds the live partition."""
        self.windows = None

    async def apply(self, live_offset: int, value: bytes) -> bool:
        """Apply one message of the live topic: a batch's delta, unless its batch was applied already,
        or a tick of the wall clock while the input is idle; then evaluate the minute steps."""
        windows = await self.build()
        delta = orjson.loads(value)
        if "tick" in delta:
            windows.follow_wall_clock(delta["tick"])
            await self.evaluate()
            return False
        if "evaluate" in delta:  # a failed minute step's turn again
            await self.evaluate()
            return False
        self.last_delta_at = time.monotonic()
        marker = marker_key(delta["p"])
        done = self.table.get(marker)
        if done is not None and int(done) >= delta["o"]:
            return False  # the batch's delta came again (the batch was applied twice)
        key = delta_key(live_offset)
        if key in self.table:  # listed before a stop that came before its marker: in the windows already
            self.table[marker] = b"%d" % delta["o"]
            return False
        newest = newest_minute(delta)
        self.table[key] = b"%d" % newest
        self.table[marker] = b"%d" % delta["o"]
        self.kept.append((key, newest))
        for minute in delta["m"]:  # as if the batch's CDRs had come one minute after another
            windows.apply_minute(*minute, partition=delta["p"], sent_ms=delta.get("t"))
            await self.evaluate()
        return True

    async def evaluate(self) -> None:
        """Evaluate the minute steps the clock passed, in order. A step whose evaluation fails (the
        warehouse away) stops there and is evaluated again, with those after it, on the next
        message: its transitions come late, never lost."""
        windows = self.built()
        for step in windows.steps():
            try:
                for minute_step in self.minute_steps:
                    await minute_step(windows, step)
            except Exception as error:  # a fault of the evaluation must not stop the live windows
                if self.failed_step != step:
                    log.warning("the live clock's minute step %d failed, evaluated again until it passes: %s",
                                step, error)  # fmt: skip
                self.failed_step = step
                windows.evaluated = step - 1
                break
            self.failed_step = None
            self.table[EVALUATED] = b"%d" % step
        self.forget_old()

    def forget_old(self) -> None:
        minute = self.built().minute
        while self.kept and minute is not None and self.kept[0][1] < minute - KEPT_MINUTES:
            del self.table[self.kept.popleft()[0]]
