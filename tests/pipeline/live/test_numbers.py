"""Live sums per dest_number held as columns: a window's sums, its top numbers and a rule's
candidates equal the same sums added up row by row, rerates' negative rows and wide values too;
a past minute's rows are read once they are worth it, and no minute older than the longest window
keeps them."""

from __future__ import annotations

import random

import orjson

from consumers.alerts.evaluate import transitions_at
from consumers.alerts.rule import alert_rule_from
from pipeline.live.numbers import COMPACT_AT_LEAST, SUMS, MinuteNumbers, NumberColumns, NumberWindow
from pipeline.live.windows import LONGEST_WINDOW, MINUTE_MS, NUMBERS_KEPT, LiveWindows

GRACE_MS = 60_000


def random_rows(rng: random.Random, count: int) -> list[list]:
    rows = []
    for _ in range(count):
        sign = -1 if rng.random() < 0.1 else 1  # a rerate takes a revision back
        number = rng.choice(["+", ""]) + f"4420{rng.randrange(60):04d}"
        sums = [sign * rng.choice([1, 200, 70_000, 3_000_000_000]) if i else sign for i in range(SUMS)]
        rows.append([number, *sums])
    return rows


def added_up(minutes: list[list[list]]) -> dict[tuple, list[int]]:
    totals: dict[tuple, list[int]] = {}
    for rows in minutes:
        for number, *sums in rows:
            held = totals.setdefault((number,), [0] * SUMS)
            totals[(number,)] = [a + b for a, b in zip(held, sums)]
    return totals


def test_a_window_equals_its_rows_added_up_as_json_text_or_read_already():
    rng = random.Random(7)
    minutes_rows = [[random_rows(rng, 40) for _ in range(3)] for _ in range(4)]
    held = []
    for deltas in minutes_rows:
        minute = MinuteNumbers()
        for n, rows in enumerate(deltas):
            minute.add(orjson.dumps(rows).decode() if n % 2 else rows)
            if n == 1:
                minute.compact()  # rows added after a read are added to the columns
        held.append(minute)
    window = NumberWindow(held)
    expected = added_up([rows for deltas in minutes_rows for rows in deltas])
    assert window.top(None) == expected
    ordered = sorted(expected, key=lambda k: (-expected[k][0], k))
    assert list(window.top(5)) == ordered[:5]
    assert window.candidates(3, ()) == {k: v for k, v in expected.items() if v[0] >= 3}
    assert window.candidates(1, (), column=4, above=False, threshold=0) == {
        k: v for k, v in expected.items() if v[0] >= 1 and v[4] < 0
    }
    firing = [k for k in expected if expected[k][0] < 1][:3] + [("999",)]
    chosen = window.candidates(1, firing, column=0, threshold=10**9)
    assert chosen == {k: expected[k] for k in firing if k in expected}, "firing numbers with traffic are kept"


def per_number_delta(minute: int, numbers: list[str], partition: int = 0) -> dict:
    end = minute * MINUTE_MS + 30_000
    key_rows = [["acme", "carrier-a", "UK", "UK Mobile", "sw1", len(numbers), *[0] * (SUMS - 1)]]
    number_rows = orjson.dumps([[n, 1, *[0] * (SUMS - 1)] for n in numbers]).decode()
    return {"p": partition, "t": end + GRACE_MS, "m": [[minute, end, key_rows, number_rows]]}


def test_past_minutes_are_read_once_and_minutes_past_the_longest_window_keep_no_numbers():
    windows = LiveWindows(GRACE_MS, partitions=1)
    first = 29_400_000
    for minute in range(first, first + 90):
        windows.apply(per_number_delta(minute, [f"44{minute % 1000:03d}{n}" for n in range(5)]))
    now = windows.minute
    waiting = [windows.slices[m].numbers.waiting_bytes for m in windows.numbers_unread if m < now - 1]
    assert all(size < COMPACT_AT_LEAST for size in waiting), "a past minute's JSON text is read once worth it"
    holding = {m for m, s in windows.slices.items() if len(s.numbers)}
    assert min(holding) >= now - NUMBERS_KEPT
    assert windows.slices[now - LONGEST_WINDOW].by_number, "the longest window still reads its minutes"
    assert sum(v[0] for v in windows.window_sums(["dest_number"], LONGEST_WINDOW).values()) == 5 * LONGEST_WINDOW
    assert windows.window_sums(["provider"], LONGEST_WINDOW)[("carrier-a",)][0] == 5 * LONGEST_WINDOW


def test_a_dest_number_rule_finds_the_transitions_of_every_number():
    windows = LiveWindows(GRACE_MS, partitions=1)
    first = 29_400_000
    rng = random.Random(3)
    for minute in range(first, first + 12):
        windows.apply(per_number_delta(minute, [f"4420{rng.randrange(40):03d}" for _ in range(60)]))
    hot = alert_rule_from({"name": "hot", "scope": ["dest_number"], "metric": "attempts", "op": ">",
                           "threshold": 8, "window": 5})  # fmt: skip
    quiet = alert_rule_from({"name": "quiet", "scope": ["dest_number"], "metric": "attempts", "op": "<",
                             "threshold": 6, "reset": 9, "window": 5, "min_attempts": 2})  # fmt: skip
    for rule in (hot, quiet):
        firing: set[tuple] = set()
        for step in range(first + 5, first + 12):
            window = windows.window_sums(["dest_number"], rule.window, step)
            expected = {(k, "fired") for k, v in window.items() if k not in firing and v[0] >= rule.min_attempts
                        and rule.fires(v[0])}  # fmt: skip
            expected |= {(k, "resolved") for k, v in window.items() if k in firing and v[0] >= rule.min_attempts
                         and rule.resolves(v[0])}  # fmt: skip
            found = transitions_at(rule, windows, step, firing)
            assert {(tuple(t.key.values()), t.transition) for t in found} == expected
            for t in found:
                (firing.add if t.transition == "fired" else firing.discard)(tuple(t.key.values()))
        assert firing, f"{rule.name} fired for some numbers"


def test_rows_that_keep_coming_to_a_past_minute_are_folded_in_a_few_times_not_once_a_batch(monkeypatch):
    """CDRs in random order bring a few rows to every minute of the hour in every batch: folding
    each batch into the whole minute's columns would cost the minute again and again."""
    rng = random.Random(11)
    packs = []
    pack = NumberColumns.pack
    monkeypatch.setattr(NumberColumns, "pack", lambda self: packs.append(len(self.numbers)) or pack(self))
    minute = MinuteNumbers()
    first = [[f"4420{n:06d}", *([1] * SUMS)] for n in range(5000)]
    batches = [first] + [random_rows(rng, 30) for _ in range(400)]
    for rows in batches:
        minute.add(orjson.dumps(rows).decode())
        minute.compact_if_due()
    assert 1 <= len(packs) <= len(batches) / 20, packs
    assert minute.as_dict() == {number: sums for (number,), sums in added_up(batches).items()}
