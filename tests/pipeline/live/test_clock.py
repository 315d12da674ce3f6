"""The live clock no switch can push, and that the partitions move together (live-and-alerts.md)."""

from __future__ import annotations

import orjson

from pipeline.live.windows import MINUTE_MS, LiveWindows
from tests.pipeline.live.batches import GRACE_MS, T0, deltas, picked


def call(cdr_id: str, customer: str, end_ms: int) -> dict:
    return {"id": cdr_id, "start_time": end_ms - 30_000, "customer": customer, "dest_number": "442030000000",
            "sip_code": 200, "duration": 30,
            "customer_charge": "0.010000"}  # fmt: skip


def sent(delta: bytes, partition: int, sent_ms: int) -> dict:
    """A delta as a batch of `partition` applied at `sent_ms` gives it."""
    return orjson.loads(delta) | {"p": partition, "t": sent_ms}


def attempts(windows: LiveWindows, minutes: int, at: int | None = None) -> dict[tuple, int]:
    return {key: sums["attempts"] for key, sums in picked(windows.window_sums(["customer"], minutes, at)).items()}


def test_one_cdr_from_a_switch_50_minutes_ahead_neither_moves_the_clock_nor_empties_the_window(warehouse):
    now = T0 + 3 * 3600_000
    on_time = [call(f"ok-{i}", "ab"[i % 2], now - 120_000 - (i * 197) % 480_000) for i in range(2400)]
    ahead = call("fast-clock", "a", now + 50 * MINUTE_MS)
    windows = LiveWindows(GRACE_MS)
    for delta in deltas(warehouse, [*on_time[:1200], ahead, *on_time[1200:]]):
        windows.apply(sent(delta, 0, now))
    newest = max(e["start_time"] + 30_000 for e in on_time)
    assert windows.clock_ms == newest - GRACE_MS
    assert windows.future == 1
    before_step = windows.minute * MINUTE_MS
    expected = {(c,): sum(1 for e in on_time if e["customer"] == c and e["start_time"] + 30_000 < before_step)
                for c in "ab"}  # fmt: skip
    assert attempts(windows, 15) == expected and sum(expected.values()) > 2000  # no false "traffic stopped"
    windows.apply(sent(deltas(warehouse, [call("later", "b", now + 52 * MINUTE_MS)])[0], 0, now + 53 * MINUTE_MS))
    assert attempts(windows, 5)[("a",)] == 1  # the switch's CDR counts once the clock reaches its minute


def test_the_clock_never_leads_the_moment_its_cdrs_were_applied_less_the_grace(warehouse):
    windows = LiveWindows(GRACE_MS)
    now = T0 + 3600_000
    windows.apply(sent(deltas(warehouse, [call("edge", "a", now + GRACE_MS - 1)])[0], 0, now))  # within the grace
    assert windows.clock_ms == now - GRACE_MS and windows.future == 0


def test_a_partition_10_minutes_behind_another_counts_every_cdr_at_every_minute_step(warehouse):
    """Batches of partition 0 are applied ten minutes of end time ahead of those of partition 1:
    each minute step's window holds the CDRs of both that ended before it."""
    behind = {0: 0, 1: 10}
    ends = {p: [T0 + (m - behind[p]) * MINUTE_MS + s * 1000 for m in range(40) for s in (5, 25, 45)] for p in (0, 1)}
    calls = {p: [call(f"p{p}-{i}", "ab"[p], end) for i, end in enumerate(ends[p])] for p in (0, 1)}
    by_minute = {p: {m: [c for c in calls[p] if (c["start_time"] + 30_000 - T0) // MINUTE_MS == m]
                     for m in range(-10, 40)} for p in (0, 1)}  # fmt: skip
    windows = LiveWindows(GRACE_MS)
    checked = 0
    for minute in range(50):
        applied_at = T0 + (minute + 1) * MINUTE_MS
        for partition in (1, 0):  # the one behind has carried CDRs first: it holds the clock from the start
            found = by_minute[partition].get(minute - behind[partition])
            if found:
                windows.apply(sent(deltas(warehouse, found)[0], partition, applied_at))
            for step in windows.steps():
                first = step - 5 - T0 // MINUTE_MS
                expected = {(c,): sum(1 for m in range(first, first + 5) for _ in by_minute[p].get(m, ()))
                            for p, c in ((0, "a"), (1, "b"))}  # fmt: skip
                assert attempts(windows, 5, step) == {k: v for k, v in expected.items() if v}, step
                checked += 1
    assert checked >= 25 and windows.late == 0


def test_a_partition_without_cdrs_for_the_idle_time_holds_nothing_back(warehouse):
    windows = LiveWindows(GRACE_MS, idle_ms=300_000)
    windows.apply(sent(deltas(warehouse, [call("quiet", "a", T0)])[0], 1, T0 + 1000))
    for minute in range(1, 12):
        end = T0 + minute * MINUTE_MS
        windows.apply(sent(deltas(warehouse, [call(f"busy-{minute}", "b", end)])[0], 0, end + 1000))
    assert windows.clock_ms == T0 + 11 * MINUTE_MS - GRACE_MS  # partition 1 went quiet 11 minutes ago


def test_the_clock_waits_for_every_partition_to_carry_cdrs_or_for_the_idle_time(warehouse):
    """A replay at full speed: partition 0's first batch spans the hour before the others' come,
    and no minute step passes without them; a partition that never carries CDRs holds the clock
    only for the idle time."""
    windows = LiveWindows(GRACE_MS, partitions=3, idle_ms=300_000)
    hour = [call(f"h-{p}-{m}", "ab"[p % 2], T0 + m * MINUTE_MS) for p in range(2) for m in range(60)]
    applied_at = T0 + 86_400_000
    windows.apply(sent(deltas(warehouse, [c for c in hour if c["id"].startswith("h-0")])[0], 0, applied_at))
    assert windows.steps() == []
    windows.apply(sent(deltas(warehouse, [c for c in hour if c["id"].startswith("h-1")])[0], 1, applied_at + 100))
    assert windows.steps() == []  # partition 2 has carried nothing yet
    windows.apply(sent(deltas(warehouse, [call("late-p0", "a", T0 + 61 * MINUTE_MS)])[0], 0, applied_at + 300_001))
    assert windows.clock_ms == T0 + 59 * MINUTE_MS - GRACE_MS  # partition 1's newest: 2 never came
    assert attempts(windows, 5) == {("a",): 5, ("b",): 5}
