"""A batch's live delta, summed by the warehouse, equals one summed here row by row, whatever the
session's settings; small batches are summed here, large ones by the warehouse."""

from __future__ import annotations

import random

import orjson

from pipeline.live.delta import delta_summed_by_warehouse, delta_summed_here, live_delta
from pipeline.live.windows import MINUTE_MS
from pipeline.warehouse.sink import CHANGE_COLUMNS, change_columns
from tests.pipeline.live.batches import HOSTILE, T0, batches, feed, summed_one_by_one


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
