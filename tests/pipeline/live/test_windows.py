"""Live windows equal an independent computation from the newest revision of every CDR, by end
minute, across duplicates and rerates that move a CDR between minutes; each batch's delta, summed
by the warehouse, equals one summed here row by row; late CDRs count in history only; the clock
follows the CDRs, and the wall clock only while idle."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from pipeline.events import Cdr, parse_message
from pipeline.live.windows import LIVE_SUMS, MINUTE_MS, LiveWindows
from pipeline.live.delta import delta_summed_by_warehouse, delta_summed_here, live_delta
from pipeline.live.state import LiveState, offset_of
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.sink import CHANGE_COLUMNS, change_columns
from pipeline.state.cdr_state import BatchChanges, CdrState
from pipeline.state.store import MemoryStates
from pipeline.warehouse.client import connect
from tests.warehouse_data import NOW_MS, NoChangelog, fresh_url

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
GRACE_MS = 60_000


def feed(n: int, seed: int) -> list[dict]:
    """n CDRs ending within 40 minutes of T0, with rerates (some moved by minutes) and resends."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        connected = rng.random() < 0.5
        event = {
            "id": f"l{seed}-{i}", "start_time": T0 + rng.randrange(0, 30 * MINUTE_MS), "customer": rng.choice("ab"),
            "provider": rng.choice(["p1", "p2", ""]), "customer_destination": "UK", "dest_number": f"4420{rng.randrange(30)}",
            "sip_code": 200 if connected else rng.choice([486, 503, 603]),
            "duration": round(rng.uniform(1, 600), 3) if connected else 0,
            "customer_charge": f"{rng.randrange(0, 900_000) / 1_000_000:.6f}" if connected else 0,
            "provider_charge": rng.randrange(0, 500_000) / 1_000_000 if connected else 0,
            "dtmf": rng.choice([0, 2]) if connected else 0, "pdd_in_ms": rng.randrange(100, 3000),
        }  # fmt: skip
        events.append(event)
        if rng.random() < 0.2:
            events.append(dict(event, rev=1, start_time=event["start_time"] + rng.randrange(-5, 5) * MINUTE_MS))
        if rng.random() < 0.1:
            events.append(event)  # the switch sent it again
    return events


@pytest.fixture(scope="module")
def warehouse(clickhouse) -> Client:
    """The warehouse that sums each batch's live delta, as the worker's sink does."""
    client = connect(fresh_url(clickhouse, "live"))
    migrate(client)
    return client


def deltas(warehouse: Client, events: list[dict], per_batch: int = 97) -> list[bytes]:
    """Each batch's live delta, as the pipeline applies the events in batches."""
    return [delta for _changes, delta in batches(warehouse, events, per_batch)]


def batches(warehouse: Client, events: list[dict], per_batch: int = 97) -> list[tuple[BatchChanges, bytes]]:
    """What each batch changed, and its live delta."""
    state = CdrState(MemoryStates({}, lambda cdr_id: 0), NoChangelog())
    out = []

    async def apply() -> None:
        for offset, start in enumerate(range(0, len(events), per_batch)):
            rows = [
                list(c) for e in events[start : start + per_batch] for c in parse_message(orjson.dumps(e), NOW_MS)[0]
            ]
            changes = state.plan(0, offset, rows, day=20_700)
            if changes is not None and changes.newest:
                out.append((changes, live_delta(warehouse, CHANGE_COLUMNS, change_columns(changes), changes)))
            await state.mark_applied(changes)

    asyncio.run(apply())
    return out


def truth(events: list[dict], group: str, first_minute: int, last_minute: int) -> dict[tuple, dict]:
    newest: dict[str, dict] = {}
    for event in events:
        if event["id"] not in newest or event.get("rev", 0) > newest[event["id"]].get("rev", 0):
            newest[event["id"]] = event
    sums: dict = defaultdict(lambda: defaultdict(int))
    for event in newest.values():
        duration_us = round(event["duration"] * 1_000_000)
        minute = (event["start_time"] + duration_us // 1000) // MINUTE_MS
        if not first_minute <= minute < last_minute:
            continue
        row = sums[(event.get(group, ""),)]
        connected = event["sip_code"] == 200
        row["attempts"] += 1
        row["connected"] += connected
        row["reached"] += connected or event["sip_code"] in (486, 603)
        row["duration_us"] += duration_us
        row["customer_charge_micros"] += round(float(event["customer_charge"]) * 1_000_000)
        row["dtmf"] += event["dtmf"]
        row["short_calls"] += connected and duration_us < 6_000_000
    return {key: dict(v) for key, v in sums.items()}


def picked(sums: dict[tuple, list[int]]) -> dict[tuple, dict]:
    names = ("attempts", "connected", "reached", "duration_us", "customer_charge_micros", "dtmf", "short_calls")
    return {key: {n: v[LIVE_SUMS.index(n)] for n in names if v[LIVE_SUMS.index(n)]} for key, v in sums.items()}


HOSTILE = ['a"b', "back\\slash", "line\nbreak", "tab\there", "it's", "$$", "\u2028", "call 📞", "", "{}[],"]


def summed_one_by_one(changes: BatchChanges) -> dict[int, tuple]:
    """A batch's delta from its rows one by one: per minute of end time, the newest end of its new
    revisions, the sums per dimension key and per dest_number (the replaced revisions taken back)."""
    minutes: dict[int, tuple] = {}
    for sign, rows in ((1, changes.newest), (-1, changes.replaced)):
        for row in rows:
            cdr = Cdr(*row)
            end_ms = cdr.start_ms + cdr.duration_us // 1000
            newest_end, by_key, by_number = minutes.setdefault(end_ms // MINUTE_MS, (None, {}, {}))
            if sign == 1 and (newest_end is None or end_ms > newest_end):
                newest_end = end_ms
            minutes[end_ms // MINUTE_MS] = (newest_end, by_key, by_number)
            connected = 200 <= cdr.sip_code <= 299
            values = {
                "attempts": 1, "connected": connected, "reached": connected or cdr.sip_code in (480, 486, 487, 603),
                "duration_us": cdr.duration_us if connected else 0, "customer_charge_micros": cdr.customer_charge_micros,
                "provider_charge_micros": cdr.provider_charge_micros, "dtmf": cdr.dtmf,
                "dtmf_calls": connected and cdr.dtmf > 0, "pdd_in_sum": cdr.pdd_in_ms or 0,
                "pdd_in_count": cdr.pdd_in_ms is not None, "pdd_out_sum": cdr.pdd_out_ms or 0,
                "pdd_out_count": cdr.pdd_out_ms is not None, "short_calls": connected and cdr.duration_us < 6_000_000,
            }  # fmt: skip
            sums = [sign * int(values[name]) for name in LIVE_SUMS]
            key = (cdr.customer, cdr.provider, cdr.customer_destination, cdr.provider_destination, cdr.switch)
            for table, at in ((by_key, key), (by_number, cdr.dest_number)):
                table[at] = [a + b for a, b in zip(table.get(at, [0] * len(sums)), sums)]
    return minutes


def test_a_batch_summed_by_the_warehouse_or_here_equals_its_rows_summed_one_by_one(warehouse):
    rng = random.Random(9)
    events = [
        dict(e, customer=rng.choice(HOSTILE), provider=rng.choice(HOSTILE), switch=rng.choice(HOSTILE),
             pdd_out_ms=rng.choice([None, rng.randrange(50, 900)]))
        for e in feed(1500, seed=9)
    ]  # fmt: skip
    events += [
        dict(e, rev=5, customer_charge="0.5", duration=e["duration"] + 90) for e in events[:200:2]
    ]  # later rerates
    events.append(dict(events[0], rev=7, start_time=T0 - 5 * MINUTE_MS))  # rerated into the month before
    checked = replaced = moved = 0
    for changes, _delta in batches(warehouse, events):
        by_warehouse = delta_summed_by_warehouse(warehouse, CHANGE_COLUMNS, change_columns(changes), 0, changes.offset)
        for delta in (by_warehouse, delta_summed_here(changes)):
            got = {
                minute: (
                    newest_end,
                    {tuple(r[:5]): r[5:] for r in key_rows},
                    {r[0]: r[1:] for r in orjson.loads(numbers)},
                )
                for minute, newest_end, key_rows, numbers in orjson.loads(delta)["m"]
            }
            assert got == summed_one_by_one(changes)
            minutes = [minute for minute, *_rows in orjson.loads(delta)["m"]]
            assert minutes == sorted(minutes)
            assert (orjson.loads(delta)["p"], orjson.loads(delta)["o"]) == (0, changes.offset)
        checked, replaced, moved = checked + 1, replaced + len(changes.replaced), moved + len(changes.moved)
    assert checked > 10 and replaced > 30 and moved == 1
    assert {k[0] for m in summed_one_by_one(changes).values() for k in m[1]} <= set(HOSTILE)


def test_a_small_batch_is_summed_here_and_a_large_one_by_the_warehouse(warehouse, monkeypatch):
    changes, _delta = batches(warehouse, feed(300, seed=14), per_batch=300)[0]
    rows = change_columns(changes)
    assert live_delta(None, CHANGE_COLUMNS, rows, changes) == delta_summed_here(changes)  # no warehouse call
    monkeypatch.setattr("pipeline.live.delta.ROWS_SUMMED_HERE", len(changes.newest))
    assert live_delta(warehouse, CHANGE_COLUMNS, rows, changes) == delta_summed_by_warehouse(
        warehouse, CHANGE_COLUMNS, rows, 0, changes.offset
    )


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


class LiveTopic:
    """The live topic as a rebuild reads it again: its messages by offset (those it still holds)."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = dict(enumerate(messages))
        self.asked: list[list[int]] = []

    async def read(self, offsets: list[int]) -> dict[int, bytes]:
        self.asked.append(offsets)
        return {offset: self.messages[offset] for offset in offsets if offset in self.messages}


@pytest.fixture
def no_backoff(monkeypatch) -> None:
    """A rebuild's waits between attempts to read the live topic take no time."""
    real_sleep = asyncio.sleep
    monkeypatch.setattr("pipeline.live.state.asyncio.sleep", lambda _delay: real_sleep(0))


def rebuilt(table: dict[bytes, bytes], topic: LiveTopic) -> LiveWindows:
    return asyncio.run(LiveState(dict(table), GRACE_MS, topic.read).build())


def applied(all_deltas: list[bytes], topic: LiveTopic) -> tuple[dict[bytes, bytes], LiveState]:
    """A live state that applied every delta in turn, and its table."""
    table: dict[bytes, bytes] = {}
    live = LiveState(table, GRACE_MS, topic.read)

    async def apply() -> None:
        for offset, delta in enumerate(all_deltas):
            await live.apply(offset, delta)

    asyncio.run(apply())
    return table, live


def test_a_rebuilt_live_state_equals_the_one_that_applied_the_deltas_and_drops_resent_batches(warehouse):
    table: dict[bytes, bytes] = {}
    all_deltas = deltas(warehouse, feed(2000, seed=7))
    topic = LiveTopic([*all_deltas, all_deltas[-1]])
    live = LiveState(table, GRACE_MS, topic.read)

    async def apply() -> None:
        for offset, delta in enumerate(all_deltas):
            assert await live.apply(offset, delta)
        assert not await live.apply(len(all_deltas), all_deltas[-1])  # the same batch sent again

    asyncio.run(apply())
    windows = rebuilt(table, topic)
    assert windows.slices == live.built().slices and windows.clock_ms == live.built().clock_ms
    assert windows.evaluated == live.built().evaluated
    assert topic.asked[-1] == list(range(len(all_deltas)))


def test_the_table_lists_the_deltas_and_keeps_no_copy_of_them(warehouse):
    all_deltas = deltas(warehouse, feed(1000, seed=9))
    table, _live = applied(all_deltas, LiveTopic(all_deltas))
    listed = {key: value for key, value in table.items() if key.startswith(b"d|")}
    assert len(listed) == len(all_deltas)
    assert all(int(value) == orjson.loads(all_deltas[offset_of(key)])["m"][-1][0] for key, value in listed.items())
    assert sum(map(len, table.values())) < 40 * len(table)


def test_a_delta_gone_from_the_live_topic_is_missing_from_the_rebuilt_windows_and_logged(warehouse, caplog):
    all_deltas = deltas(warehouse, feed(600, seed=10))
    topic = LiveTopic(all_deltas)
    table, _live = applied(all_deltas, topic)
    del topic.messages[2]
    expected = LiveWindows(GRACE_MS)
    for offset, delta in enumerate(all_deltas):
        if offset != 2:
            expected.apply(orjson.loads(delta))
    assert rebuilt(table, topic).slices == expected.slices
    assert "live deltas at offsets [2] are gone from the live topic" in caplog.text


def test_a_worker_not_holding_the_live_partition_builds_no_windows(warehouse):
    table: dict[bytes, bytes] = {}
    all_deltas = deltas(warehouse, feed(300, seed=11))
    topic = LiveTopic(all_deltas)
    asyncio.run(LiveState(table, GRACE_MS, topic.read).apply(0, all_deltas[0]))
    held, asked = False, len(topic.asked)
    live = LiveState(table, GRACE_MS, topic.read, ready=lambda: held)
    assert asyncio.run(live.build()).slices == {} and live.windows is None and len(topic.asked) == asked
    held = True
    assert asyncio.run(live.build()).slices and live.windows is not None


def test_a_rebuild_waits_for_the_live_topic_when_it_cannot_be_read(warehouse, no_backoff):
    all_deltas = deltas(warehouse, feed(300, seed=14))
    topic = LiveTopic(all_deltas)
    table, live = applied(all_deltas, topic)
    expected = live.built()
    failures = []

    async def unavailable_twice(offsets: list[int]) -> dict[int, bytes]:
        if len(failures) < 2:
            failures.append(offsets)
            raise ConnectionError("broker down")
        return await topic.read(offsets)

    windows = asyncio.run(LiveState(dict(table), GRACE_MS, unavailable_twice).build())
    assert len(failures) == 2 and windows.slices == expected.slices


def test_a_rebuild_waiting_for_the_live_topic_stops_when_the_partition_goes_to_another_worker(warehouse, no_backoff):
    all_deltas = deltas(warehouse, feed(200, seed=15))
    table, _live = applied(all_deltas, LiveTopic(all_deltas))
    held, attempts = True, []

    async def unavailable(offsets: list[int]) -> dict[int, bytes]:
        nonlocal held
        held = False  # a rebalance takes the live partition away while Kafka is down
        attempts.append(offsets)
        if len(attempts) < 5:
            raise ConnectionError("broker down")
        return {}

    live = LiveState(table, GRACE_MS, unavailable, ready=lambda: held)
    assert asyncio.run(live.build()).slices == {} and live.windows is None and len(attempts) == 1


def test_a_delta_listed_before_a_stop_that_came_before_its_marker_counts_once(warehouse):
    all_deltas = deltas(warehouse, feed(500, seed=8))
    topic = LiveTopic(all_deltas)
    table: dict[bytes, bytes] = {}
    live = LiveState(table, GRACE_MS, topic.read)

    async def apply(state: LiveState, offsets: range) -> None:
        for offset in offsets:
            await state.apply(offset, all_deltas[offset])

    asyncio.run(apply(live, range(len(all_deltas))))
    expected = live.built().slices
    last = orjson.loads(all_deltas[-1])
    del table[b"m|%d" % last["p"]]  # the stop came between the delta's listing and its marker's
    table[b"m|%d" % last["p"]] = b"%d" % (last["o"] - 1)
    restarted = LiveState(table, GRACE_MS, topic.read)
    asyncio.run(apply(restarted, range(len(all_deltas) - 1, len(all_deltas))))  # Kafka hands the delta over again
    assert restarted.built().slices == expected
    assert table[b"m|%d" % last["p"]] == b"%d" % last["o"]


def test_deltas_kept_by_an_earlier_version_rebuild_the_same_windows(warehouse):
    """Live tables of earlier versions hold each delta itself, with its per-number rows as JSON
    arrays and the newest end time as "e"; such a table rebuilds the same windows after an upgrade,
    beside deltas listed since, which are read from the live topic."""
    all_deltas = deltas(warehouse, feed(800, seed=12))
    table: dict[bytes, bytes] = {}
    for offset, delta in enumerate(all_deltas[:-3]):
        fields = orjson.loads(delta)
        minutes = [[minute, end, key_rows, orjson.loads(numbers)] for minute, end, key_rows, numbers in fields["m"]]
        ends = [end for _minute, end, _keys, _numbers in minutes if end is not None]
        table[b"d|%020d" % offset] = orjson.dumps({"p": fields["p"], "o": fields["o"], "e": max(ends), "m": minutes})
    for offset in range(len(all_deltas) - 3, len(all_deltas)):
        table[b"d|%020d" % offset] = b"%d" % orjson.loads(all_deltas[offset])["m"][-1][0]
    expected = LiveWindows(GRACE_MS)
    for delta in all_deltas:
        expected.apply(orjson.loads(delta))
    topic = LiveTopic(all_deltas)
    windows = rebuilt(table, topic)
    assert windows.slices == expected.slices and windows.clock_ms == expected.clock_ms
    assert sum(len(s.by_number) for s in windows.slices.values()) > 500
    assert topic.asked == [list(range(len(all_deltas) - 3, len(all_deltas)))]


def test_the_warehouse_sums_alike_whatever_the_session_settings(warehouse):
    """Servers before ClickHouse 25 quote Int64 in JSON by default (sums as strings would be joined,
    not added, by the live windows), and grouping() is the other way round without
    force_grouping_standard_compatibility (key rows and number rows would swap)."""
    changes, _delta = batches(warehouse, feed(200, seed=13), per_batch=200)[0]
    session = {"output_format_json_quote_64bit_integers": (1, 0), "force_grouping_standard_compatibility": (0, 1)}
    for name, (odd, usual) in session.items():
        warehouse.command(f"SET {name} = {odd}")
    try:
        assert warehouse.raw_query("SELECT toInt64(5)", fmt="JSONCompactEachRow") == b'["5"]\n'
        delta = orjson.loads(delta_summed_by_warehouse(warehouse, CHANGE_COLUMNS, change_columns(changes), 0, 0))
    finally:
        for name, (odd, usual) in session.items():
            warehouse.command(f"SET {name} = {usual}")
    got = {
        minute: (newest_end, {tuple(r[:5]): r[5:] for r in key_rows}, {r[0]: r[1:] for r in orjson.loads(numbers)})
        for minute, newest_end, key_rows, numbers in delta["m"]
    }
    assert got == summed_one_by_one(changes)
    assert all(type(v) is int for _end, by_key, _n in got.values() for sums in by_key.values() for v in sums)
