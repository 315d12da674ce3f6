"""Live statistics: metric sums per minute of CDR end time, and the live clock (live-and-alerts.md).

Each applied batch yields one delta: the sums its newest revisions add and the revisions they
replace take back, per minute of end time (`start + duration`) and per key of the five
dimensions (customer, provider, customer_destination, provider_destination, switch), and per
minute and `dest_number`. Any grouping of the dimensions is a sum over those keys. The deltas
go, in the order the batches are applied, to one live worker (the live topic has one
partition), which adds them to `LiveWindows` and keeps them in its table until they are older
than the slices kept, so that a restart rebuilds the same windows.

The live clock is the newest end time applied less the grace. While CDRs flow it only moves
forward; a CDR whose minute is older than the clock less the longest window counts in history
only (`late`). When the input has been idle for a while the clock follows the wall clock, and
the next CDRs set it back to their own newest end time, so a replay runs on its own time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from pipeline.state import BatchChanges

LIVE_SUMS = (
    "attempts",
    "connected",
    "reached",  # attempts that reached the far end: 2xx, 480, 486, 487, 603 (for ner)
    "duration_us",
    "customer_charge_micros",
    "provider_charge_micros",
    "dtmf",
    "dtmf_calls",
    "pdd_in_sum",
    "pdd_in_count",
    "pdd_out_sum",
    "pdd_out_count",
    "short_calls",
)
DIMENSIONS = ("customer", "provider", "customer_destination", "provider_destination", "switch")
NUMBER = "dest_number"
REACHED_CODES = frozenset((480, 486, 487, 603))
MINUTE_MS = 60_000
LONGEST_WINDOW = 60  # minutes
KEPT_MINUTES = 120  # slices older than this behind the clock are dropped
SHORT_CALL_US = 6_000_000
Sums = list[int]


def add(into: Sums, sums: Sequence[int]) -> None:
    for i, value in enumerate(sums):
        into[i] += value


def batch_delta(changes: BatchChanges) -> bytes:
    """The live delta of one applied batch, as the live topic carries it:
    {"p": batch partition, "o": batch offset, "e": newest end time of its new revisions (ms),
     "m": [[minute, newest end time of the new revisions ending in it], ...],
     "k": [[minute, customer, provider, customer_destination, provider_destination, switch, *sums], ...],
     "n": [[minute, dest_number, *sums], ...]}."""
    by_key: dict[tuple, Sums] = {}
    by_number: dict[tuple, Sums] = {}
    newest_end = None
    ends: dict[int, int] = {}
    for sign, rows in ((1, changes.newest), (-1, changes.replaced)):
        for row in rows:
            (_id, _rev, start_ms, customer, provider, c_dest, p_dest, _cli, number, code, duration_us, _cd, _pd,
             charge, cost, dtmf, pdd_in, pdd_out, switch) = row  # fmt: skip
            end_ms = start_ms + duration_us // 1000
            minute = end_ms // MINUTE_MS
            if sign > 0:
                if newest_end is None or end_ms > newest_end:
                    newest_end = end_ms
                if end_ms > ends.get(minute, -1):
                    ends[minute] = end_ms
            connected = 200 <= code <= 299
            sums = [
                sign,
                sign if connected else 0,
                sign if connected or code in REACHED_CODES else 0,
                sign * duration_us if connected else 0,
                sign * charge,
                sign * cost,
                sign * dtmf,
                sign if connected and dtmf else 0,
                0 if pdd_in is None else sign * pdd_in,
                0 if pdd_in is None else sign,
                0 if pdd_out is None else sign * pdd_out,
                0 if pdd_out is None else sign,
                sign if connected and duration_us < SHORT_CALL_US else 0,
            ]
            key = (minute, customer, provider, c_dest, p_dest, switch)
            held = by_key.get(key)
            if held is None:
                by_key[key] = sums
            else:
                add(held, sums)
            key = (minute, number)
            held = by_number.get(key)
            if held is None:
                by_number[key] = sums.copy()
            else:
                add(held, sums)
    return orjson.dumps(
        {
            "p": changes.partition,
            "o": changes.offset,
            "e": newest_end,
            "m": sorted(ends.items()),
            "k": [[*key, *sums] for key, sums in by_key.items()],
            "n": [[*key, *sums] for key, sums in by_number.items()],
        }
    )


@dataclass
class Slice:
    """One minute of end time: sums per dimension key and per dest_number."""

    by_key: dict[tuple, Sums] = field(default_factory=dict)
    by_number: dict[str, Sums] = field(default_factory=dict)


@dataclass
class LiveWindows:
    grace_ms: int
    slices: dict[int, Slice] = field(default_factory=dict)  # by minute (epoch ms // 60000)
    newest_end_ms: int | None = None  # of the CDRs applied since the clock last followed the wall clock
    wall_clock_ms: int | None = None  # set while the input is idle: the clock follows it
    late: int = 0  # CDR revisions older than the clock less the longest window: history only
    evaluated: int | None = None  # the last minute step handed out by steps()

    @property
    def clock_ms(self) -> int | None:
        if self.wall_clock_ms is not None:
            return self.wall_clock_ms
        return None if self.newest_end_ms is None else self.newest_end_ms - self.grace_ms

    @property
    def minute(self) -> int | None:
        """The clock's minute step: windows end at its start."""
        clock = self.clock_ms
        return None if clock is None else clock // MINUTE_MS

    def apply(self, delta: dict) -> None:
        """Add one batch's delta (see batch_delta), a minute of end time at a time."""
        for minute, newest_end, key_rows, number_rows in minutes_of(delta):
            self.apply_minute(minute, newest_end, key_rows, number_rows)

    def apply_minute(self, minute: int, newest_end: int | None, key_rows: list[list], number_rows: list[list]) -> None:
        """Add the rows of one minute of a delta; `newest_end` (of its new revisions) moves the clock."""
        if newest_end is not None:
            if self.wall_clock_ms is not None:  # CDRs again after an idle spell: their own time
                self.wall_clock_ms, self.newest_end_ms = None, newest_end
            elif self.newest_end_ms is None or newest_end > self.newest_end_ms:
                self.newest_end_ms = newest_end
        clock = self.minute
        if clock is not None and minute < clock - LONGEST_WINDOW:
            self.late += sum(abs(row[6]) for row in key_rows)
            return
        found = self.slice(minute)
        for row in key_rows:
            key = tuple(row[1:6])
            held = found.by_key.get(key)
            if held is None:
                found.by_key[key] = row[6:]
            else:
                add(held, row[6:])
        for row in number_rows:
            held = found.by_number.get(row[1])
            if held is None:
                found.by_number[row[1]] = row[2:]
            else:
                add(held, row[2:])
        self.drop_old()

    def slice(self, minute: int) -> Slice:
        found = self.slices.get(minute)
        if found is None:
            found = self.slices[minute] = Slice()
        return found

    def follow_wall_clock(self, now_ms: int) -> None:
        """The input is caught up and idle: the clock follows the wall clock (less the grace)."""
        wall = now_ms - self.grace_ms
        if self.clock_ms is None or wall > self.clock_ms or self.wall_clock_ms is not None:
            self.wall_clock_ms = wall
        self.drop_old()

    def drop_old(self) -> None:
        minute = self.minute
        if minute is None:
            return
        for old in [m for m in self.slices if m < minute - KEPT_MINUTES]:
            del self.slices[old]

    def steps(self) -> list[int]:
        """The minute steps to evaluate rules at since the last call: every minute the clock
        passed, or only the new one when it jumped by more than the longest window (or back)."""
        now = self.minute
        if now is None or now == self.evaluated:
            return []
        last, self.evaluated = self.evaluated, now
        if last is None or now < last or now - last > LONGEST_WINDOW:
            return [now]
        return list(range(last + 1, now + 1))

    def window_sums(
        self, group: Sequence[str], minutes: int, at: int | None = None,
        customers: Iterable[str] = (), providers: Iterable[str] = (),
    ) -> dict[tuple, Sums]:  # fmt: skip
        """Sums per key of `group` (dimensions, or ["dest_number"]) over the `minutes` whole
        minutes before the minute step `at` (default: the clock's); filtered by customer and provider
        (dest_number sums are not: they carry no customer)."""
        at = self.minute if at is None else at
        if at is None:
            return {}
        wanted_customers, wanted_providers = set(customers), set(providers)
        totals: dict[tuple, Sums] = {}
        for minute in range(at - minutes, at):
            found = self.slices.get(minute)
            if found is None:
                continue
            if list(group) == [NUMBER]:
                for number, sums in found.by_number.items():
                    _add_to(totals, (number,), sums)
                continue
            positions = [DIMENSIONS.index(g) for g in group]
            for key, sums in found.by_key.items():
                if wanted_customers and key[0] not in wanted_customers:
                    continue
                if wanted_providers and key[1] not in wanted_providers:
                    continue
                _add_to(totals, tuple(key[p] for p in positions), sums)
        return totals

    def keys(
        self, group: Sequence[str], at: int | None = None, customers: Iterable[str] = (), providers: Iterable[str] = ()
    ) -> set[tuple]:
        """Every key of `group` with traffic in the slices kept before the minute step `at` (so a key
        whose traffic stopped is still known, and one that has just begun is not yet)."""
        return set(self.window_sums(group, KEPT_MINUTES, at, customers, providers))


def minutes_of(delta: dict) -> list[tuple[int, int | None, list[list], list[list]]]:
    """A delta's rows by minute of end time, oldest first: (minute, newest end, key rows, number rows)."""
    by_minute: dict[int, list] = {}
    for minute, end in delta["m"]:
        by_minute[minute] = [end, [], []]
    for row in delta["k"]:
        by_minute.setdefault(row[0], [None, [], []])[1].append(row)
    for row in delta["n"]:
        by_minute.setdefault(row[0], [None, [], []])[2].append(row)
    return [(minute, *by_minute[minute]) for minute in sorted(by_minute)]


def _add_to(totals: dict[tuple, Sums], key: tuple, sums: Sums) -> None:
    held = totals.get(key)
    if held is None:
        totals[key] = list(sums)
    else:
        add(held, sums)
