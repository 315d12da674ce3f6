"""Live windows equal an independent computation from the newest revision of every CDR, by end
minute, across duplicates and rerates that move a CDR between minutes; late CDRs count in history
only; the clock follows the CDRs, and the wall clock only while idle."""

from __future__ import annotations

import orjson
import pytest

from pipeline.live.windows import MINUTE_MS, LiveWindows
from tests.pipeline.live.batches import GRACE_MS, deltas, feed, picked, truth


@pytest.mark.parametrize("group", ["provider", "customer", "dest_number"])
def test_window_sums_equal_the_newest_revisions_by_end_minute(warehouse, group):
    events = feed(3000, seed=1)
    windows = LiveWindows(GRACE_MS)
    for delta in deltas(warehouse, events):
        windows.apply(orjson.loads(delta))
    assert windows.late == 0
    clock_minute = windows.minute
    for minutes in (1, 7, 60):
        got = picked(windows.window_sums([group], minutes))
        expected = {
            k: {n: x for n, x in v.items() if x}
            for k, v in truth(events, group, clock_minute - minutes, clock_minute).items()
        }
        assert got == expected
    assert sum(v[0] for v in windows.window_sums([group], 60).values()) > 2000


def test_a_window_slid_from_step_to_step_equals_the_window_summed_afresh(warehouse):
    windows = LiveWindows(GRACE_MS)
    all_deltas = deltas(warehouse, feed(1500, seed=10))
    for delta in all_deltas[:-3]:
        windows.apply(orjson.loads(delta))
    clock = windows.minute
    for delta in [None, *all_deltas[-3:]]:  # then with slices changed between the steps
        if delta is not None:
            windows.apply(orjson.loads(delta))
        for group in (["provider"], ["customer", "provider"], ["dest_number"], []):
            for minutes in (1, 7, 60):
                for at in range(clock - 80, clock + 70, 1 if minutes > 1 else 3):  # keys enter, stay and leave
                    afresh = LiveWindows(GRACE_MS, slices=windows.slices).window_sums(group, minutes, at)
                    assert windows.window_sums(group, minutes, at) == afresh, (group, minutes, at)
        assert windows.sliding  # the steps were slid, not summed again


def test_the_clock_is_the_newest_end_time_less_the_grace(warehouse):
    events = feed(500, seed=2)
    windows = LiveWindows(GRACE_MS)
    for delta in deltas(warehouse, events):
        windows.apply(orjson.loads(delta))
    newest_end = max(e["start_time"] + round(e["duration"] * 1000) for e in events)
    assert windows.clock_ms == newest_end - GRACE_MS


def test_a_cdr_older_than_the_clock_less_the_longest_window_counts_in_history_only(warehouse):
    on_time, late = feed(300, seed=3), feed(1, seed=4)
    windows = LiveWindows(GRACE_MS)
    for delta in deltas(warehouse, on_time):
        windows.apply(orjson.loads(delta))
    windows.newest_end_ms += 3 * 3600_000  # three hours of CDRs later
    before = windows.window_sums(["provider"], 60)
    for delta in deltas(warehouse, [dict(e, id="late-" + e["id"]) for e in late]):
        windows.apply(orjson.loads(delta))
    assert windows.late == 1 and windows.window_sums(["provider"], 60) == before


def test_an_idle_clock_follows_the_wall_clock_and_cdrs_take_it_back(warehouse):
    windows = LiveWindows(GRACE_MS)
    for delta in deltas(warehouse, feed(200, seed=5)):
        windows.apply(orjson.loads(delta))
    event_clock = windows.clock_ms
    windows.follow_wall_clock(event_clock + GRACE_MS + 10 * MINUTE_MS)
    assert windows.clock_ms == event_clock + 10 * MINUTE_MS
    older = feed(10, seed=6)  # a replay of older files begins
    older = [dict(e, id="old-" + e["id"], start_time=e["start_time"] - 86_400_000) for e in older]
    for delta in deltas(warehouse, older):
        windows.apply(orjson.loads(delta))
    assert windows.clock_ms == max(e["start_time"] + round(e["duration"] * 1000) for e in older) - GRACE_MS


def test_minute_steps_are_every_minute_passed_or_only_the_new_one_after_a_jump():
    windows = LiveWindows(0, newest_end_ms=10 * MINUTE_MS)
    assert windows.steps() == [10]
    windows.newest_end_ms = 13 * MINUTE_MS + 5
    assert windows.steps() == [11, 12, 13]
    assert windows.steps() == []
    windows.newest_end_ms = 200 * MINUTE_MS
    assert windows.steps() == [200]
    windows.wall_clock_ms = 150 * MINUTE_MS
    assert windows.steps() == [150]
