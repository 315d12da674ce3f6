"""Live statistics: metric sums per minute of CDR end time, and the live clock (live-and-alerts.md).

Each applied batch yields one delta: the sums its newest revisions add and the revisions they
replace take back, per minute of end time (`start + duration`) and per key of the five
dimensions (customer, provider, customer_destination, provider_destination, switch), and per
minute and `dest_number` (summed by the warehouse: pipeline.live.delta). Any grouping of the
dimensions is a sum over those keys. The deltas go, in the order the batches are applied, to one
live worker (the live topic has one partition), which adds them to `LiveWindows` and lists them
in its table until they are older than the slices kept, so that a restart rebuilds the same
windows from the live topic. A window's sums are slid from one minute step to the next while the
slices it covers stay as they were.

The live clock is a watermark less the grace: the newest end time applied, per batch partition,
and the least of those over the partitions that carried CDRs lately, so that a partition behind
the others (a backlog, batches applied in another order) does not find its CDRs counted as late.
No switch can push it: a CDR that ends after the moment its batch was applied plus the grace (a
switch whose clock runs fast) counts in its slice, which the windows reach when the clock does,
but does not move the clock (`future`), and the clock is never ahead of that moment less the
grace. While CDRs flow it only moves forward; a CDR whose minute is older than the clock less the
longest window counts in history only (`late`). When the input has been idle for a while the
clock follows the wall clock, and the next CDRs set it back to their own newest end time, so a
replay runs on its own time. Every moment used is carried by the deltas (the time each was
sent), so windows rebuilt from the live topic are the windows that were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import add as plus
from operator import itemgetter
from operator import sub as minus

from pipeline.live.numbers import MinuteNumbers, NumberWindow

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
NUMBERS_KEPT = LONGEST_WINDOW + 1  # minutes behind the clock whose per-number sums are kept: no window reads older
SHORT_CALL_US = 6_000_000
Sums = list[int]


@dataclass(eq=False)
class Slice:
    """One minute of end time: sums per dimension key and per dest_number, and the sums per grouping
    the rules and queries asked for (made again after the slice changes).

    A delta's per-number rows are kept as the JSON text they came in until the minute is past
    (pipeline.live.numbers): a batch has about as many numbers as CDRs, and only the windows of
    `dest_number` rules and queries read them."""

    by_key: dict[tuple, Sums] = field(default_factory=dict)
    numbers: MinuteNumbers = field(default_factory=MinuteNumbers)
    version: int = 0
    grouped: dict[tuple, tuple[int, dict[tuple, Sums]]] = field(default_factory=dict)

    @property
    def by_number(self) -> dict[str, Sums]:
        return self.numbers.as_dict()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slice) and (self.by_key, self.by_number) == (other.by_key, other.by_number)

    def group_sums(
        self, group: tuple[str, ...], customers: frozenset[str], providers: frozenset[str]
    ) -> dict[tuple, Sums]:
        """Sums per key of a grouping of the dimensions (dest_number is NumberWindow's)."""
        wanted = (group, customers, providers)
        cached = self.grouped.get(wanted)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        project = _projection([DIMENSIONS.index(g) for g in group])
        totals = _summed(
            (project(key), sums)
            for key, sums in self.by_key.items()
            if not (customers and key[0] not in customers) and not (providers and key[1] not in providers)
        )
        self.grouped[wanted] = (self.version, totals)
        return totals


@dataclass
class LiveWindows:
    grace_ms: int
    slices: dict[int, Slice] = field(default_factory=dict)  # by minute (epoch ms // 60000)
    newest_end_ms: int | None = None  # the watermark of the CDRs applied since the clock last followed the wall clock
    wall_clock_ms: int | None = None  # set while the input is idle: the clock follows it
    late: int = 0  # CDR revisions older than the clock less the longest window: history only
    future: int = 0  # CDR revisions that ended after their batch was applied plus the grace
    idle_ms: int = 300_000  # CDRFLOW_LIVE_IDLE_SECONDS: a partition without CDRs this long holds nothing back
    partitions: int = 0  # of the batch topic: until each has carried CDRs (or idle_ms passed) the clock waits
    partition_ends: dict[int, int] = field(default_factory=dict)  # per batch partition, its newest end time
    counting_since: int | None = None  # when the partitions' ends were first gathered (sent ms)
    partition_seen: dict[int, int] = field(default_factory=dict)  # per batch partition, when it last carried CDRs
    sent_ms: int | None = None  # when the latest delta was sent: the clock is never ahead of it less the grace
    numbers_unread: set[int] = field(default_factory=set)  # minutes with per-number rows waiting (JSON text)
    number_minutes: set[int] = field(default_factory=set)  # minutes whose slice holds per-number sums
    evaluated: int | None = None  # the last minute step handed out by steps()
    # window_sums and keys answers until a slice they cover changes: rules on the same scope and
    # window (an ASR and an ACD rule on routes, say) are summed once per minute step
    answers: dict[tuple, tuple[range, object]] = field(default_factory=dict, compare=False, repr=False)
    answers_pruned_at: int | None = field(default=None, compare=False, repr=False)
    # each window's last sums, so that the next minute step's are the same sums with the minutes
    # that entered added and those that left taken back (until a slice the window covers changes)
    sliding: dict[tuple, WindowSums] = field(default_factory=dict, compare=False, repr=False)

    @property
    def clock_ms(self) -> int | None:
        if self.wall_clock_ms is not None:
            return self.wall_clock_ms
        if self.newest_end_ms is None:
            return None
        clock = self.newest_end_ms - self.grace_ms
        return clock if self.sent_ms is None else min(clock, self.sent_ms - self.grace_ms)

    @property
    def minute(self) -> int | None:
        """The clock's minute step: windows end at its start."""
        clock = self.clock_ms
        return None if clock is None else clock // MINUTE_MS

    def apply(self, delta: dict) -> None:
        """Add one batch's delta (see pipeline.live.delta), a minute of end time at a time."""
        for minute in delta["m"]:
            self.apply_minute(*minute, partition=delta.get("p", 0), sent_ms=delta.get("t"))

    def apply_minute(
        self, minute: int, newest_end: int | None, key_rows: list[list], number_rows: str | list[list],
        partition: int = 0, sent_ms: int | None = None,
    ) -> None:  # fmt: skip
        """Add the rows of one minute of a delta of batch partition `partition`, sent at `sent_ms`
        (its per-number rows as JSON text, or read already); `newest_end` (of its new revisions)
        moves the clock, unless it lies in the future."""
        if sent_ms is not None:
            self.sent_ms = sent_ms if self.sent_ms is None else max(self.sent_ms, sent_ms)
        if newest_end is not None:
            if sent_ms is not None and newest_end > sent_ms + self.grace_ms:
                self.future += sum(row[5] for row in key_rows if row[5] > 0)
            else:
                self._watermark(partition, newest_end, sent_ms)
        clock = self.minute
        if clock is not None and minute < clock - LONGEST_WINDOW:
            self.late += sum(abs(row[5]) for row in key_rows)
            return
        found = self.slice(minute)
        found.version += 1
        self.changed(minute)
        by_key = found.by_key
        for row in key_rows:
            key = tuple(row[:5])
            held = by_key.get(key)
            by_key[key] = row[5:] if held is None else list(map(plus, held, row[5:]))
        found.numbers.add(number_rows)
        self.numbers_unread.add(minute)
        self.number_minutes.add(minute)
        self.drop_old()

    def _watermark(self, partition: int, newest_end: int, sent_ms: int | None) -> None:
        """Move the clock with a partition's newest end time: to the least of the partitions that
        carried CDRs in the last `idle_ms` (forward only while CDRs flow)."""
        if self.wall_clock_ms is not None:  # CDRs again after an idle spell: their own time
            self.wall_clock_ms, self.newest_end_ms, self.counting_since = None, None, None
            self.partition_ends.clear()
        ends = self.partition_ends
        ends[partition] = max(ends.get(partition, newest_end), newest_end)
        if sent_ms is None:
            watermark = min(ends.values())
        else:
            self.partition_seen[partition] = sent_ms
            self.counting_since = self.counting_since or sent_ms
            recent = sent_ms - self.idle_ms
            if len(ends) < self.partitions and self.counting_since > recent:
                return  # a partition that has carried nothing yet may hold the oldest CDRs: wait for it
            watermark = min(end for p, end in ends.items() if self.partition_seen.get(p, recent) >= recent)
        if self.newest_end_ms is None or watermark > self.newest_end_ms:
            self.newest_end_ms = watermark

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
        if minute != self.answers_pruned_at:  # answers for steps the clock has left are not asked again
            self.answers = {question: held for question, held in self.answers.items() if held[0].stop >= minute}
            self.answers_pruned_at = minute
        for old in [m for m in self.slices if m < minute - KEPT_MINUTES]:
            del self.slices[old]
            self.changed(old)
        for past in [m for m in self.numbers_unread if m < minute - 1]:  # a past minute's text, read when due
            if past not in self.slices or self.slices[past].numbers.compact_if_due():
                self.numbers_unread.discard(past)
        for old in [m for m in self.number_minutes if m < minute - NUMBERS_KEPT]:
            self.number_minutes.discard(old)
            self.numbers_unread.discard(old)
            if old in self.slices:
                self.slices[old].numbers = MinuteNumbers()
                self.changed(old)

    def changed(self, minute: int) -> None:
        """The slice of `minute` changed: forget the answers and windows that cover it."""
        self.answers = {question: held for question, held in self.answers.items() if minute not in held[0]}
        self.sliding = {which: window for which, window in self.sliding.items() if minute not in window.covers}

    def _answered(self, question: tuple, covers: range, answer: Callable[[], object]) -> object:
        """The answer to `question`, which sums the slices of the minutes `covers`, since one of
        those last changed (answers are never modified)."""
        held = self.answers.get(question)
        if held is None:
            held = self.answers[question] = (covers, answer())
        return held[1]

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
        if list(group) == [NUMBER]:
            return self.top_numbers(minutes, None, at)
        wanted = (tuple(group), frozenset(customers), frozenset(providers))

        def grouped(minute: int) -> dict[tuple, Sums]:
            found = self.slices.get(minute)
            return {} if found is None else found.group_sums(*wanted)

        def summed() -> dict[tuple, Sums]:
            earlier = self.sliding.get((wanted, minutes))
            if earlier is not None and earlier.at < at < earlier.at + minutes:
                window = earlier.slid(at, grouped)
            else:
                window = WindowSums.over(at, minutes, grouped)
            self.sliding[(wanted, minutes)] = window
            return window.totals

        return self._answered(("sums", wanted, minutes, at), range(at - minutes, at), summed)

    def number_window(self, minutes: int, at: int | None = None) -> NumberWindow:
        """The sums per dest_number over the `minutes` whole minutes before the minute step `at`."""
        at = self.minute if at is None else at
        if at is None:
            return NumberWindow(())
        return NumberWindow(self.slices[m].numbers for m in range(at - minutes, at) if m in self.slices)

    def top_numbers(self, minutes: int, count: int | None, at: int | None = None) -> dict[tuple, Sums]:
        """{(number,): sums} of the `count` numbers with most attempts over the `minutes` before the
        minute step `at` (all, if None)."""
        at = self.minute if at is None else at
        if at is None:
            return {}
        return self._answered(("top", minutes, count, at), range(at - minutes, at),
                              lambda: self.number_window(minutes, at).top(count))  # fmt: skip

    def keys(
        self, group: Sequence[str], at: int | None = None, customers: Iterable[str] = (), providers: Iterable[str] = ()
    ) -> set[tuple]:
        """Every key of `group` with traffic in the slices kept before the minute step `at` (so a key
        whose traffic stopped is still known, and one that has just begun is not yet); for
        dest_number, the slices of the longest window (their per-number sums are kept no longer)."""
        at = self.minute if at is None else at
        if at is None:
            return set()
        wanted = (tuple(group), frozenset(customers), frozenset(providers))

        def gathered() -> set[tuple]:
            found: set[tuple] = set()
            for minute in range(at - KEPT_MINUTES, at):
                kept = self.slices.get(minute)
                if kept is not None:
                    found.update(kept.numbers.keys() if list(group) == [NUMBER] else kept.group_sums(*wanted))
            return found

        return self._answered(("keys", wanted, at), range(at - KEPT_MINUTES, at), gathered)


@dataclass
class WindowSums:
    """The sums per key over the `minutes` before the minute step `at`, and how many of those
    minutes each key has traffic in: a key is in the window while that count is above 0."""

    at: int
    minutes: int
    totals: dict[tuple, Sums]
    minutes_with: dict[tuple, int]

    @property
    def covers(self) -> range:
        return range(self.at - self.minutes, self.at)

    @classmethod
    def over(cls, at: int, minutes: int, grouped: Callable[[int], dict[tuple, Sums]]) -> WindowSums:
        gathered = _gathered(pair for minute in range(at - minutes, at) for pair in grouped(minute).items())
        return cls(at, minutes, _added(gathered), {key: len(held) for key, held in gathered.items()})

    def slid(self, at: int, grouped: Callable[[int], dict[tuple, Sums]]) -> WindowSums:
        """The same window at a later step `at` (less than its length later, the slices it covers unchanged)."""
        minutes = self.minutes
        totals, minutes_with = dict(self.totals), dict(self.minutes_with)  # answers already given stay as they are
        for minute in range(self.at, at):  # entered
            for key, sums in grouped(minute).items():
                held = totals.get(key)
                totals[key] = sums if held is None else list(map(plus, held, sums))
                minutes_with[key] = minutes_with.get(key, 0) + 1
        for minute in range(self.at - minutes, at - minutes):  # left
            for key, sums in grouped(minute).items():
                if minutes_with[key] == 1:
                    del totals[key], minutes_with[key]
                else:
                    totals[key] = list(map(minus, totals[key], sums))
                    minutes_with[key] -= 1
        return WindowSums(at, minutes, totals, minutes_with)


def _summed(pairs: Iterable[tuple[tuple, Sums]]) -> dict[tuple, Sums]:
    """The sums per key of (key, sums) pairs."""
    return _added(_gathered(pairs))


def _gathered(pairs: Iterable[tuple[tuple, Sums]]) -> dict[tuple, list[Sums]]:
    """Each key's sums lists: adding them column by column once is cheaper than pair by pair when
    a key comes up in many slices."""
    gathered: dict[tuple, list[Sums]] = {}
    for key, sums in pairs:
        held = gathered.get(key)
        if held is None:
            gathered[key] = [sums]
        else:
            held.append(sums)
    return gathered


def _added(gathered: dict[tuple, list[Sums]]) -> dict[tuple, Sums]:
    # sums lists are never changed in place, so a key's only list is taken as it is
    return {key: held[0] if len(held) == 1 else list(map(sum, zip(*held))) for key, held in gathered.items()}


def _projection(positions: list[int]) -> Callable[[tuple], tuple]:
    """The key of a grouping (a tuple of the dimensions at `positions`) from a five-dimension key."""
    if len(positions) > 1:
        return itemgetter(*positions)
    if positions:
        position = positions[0]
        return lambda key: (key[position],)
    return lambda key: ()
