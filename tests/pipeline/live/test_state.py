"""The live windows listed in the worker's `live` table: a restart or a takeover rebuilds them
exactly from the live topic, a resent batch counts once, a rebuild waits for Kafka and gives up a
partition it no longer holds."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pipeline.live.state import LiveState, offset_of
from pipeline.live.windows import LiveWindows
from tests.pipeline.live.batches import GRACE_MS, deltas, feed


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


def test_a_minute_step_that_fails_three_times_is_evaluated_again_until_it_passes_once_in_order(warehouse):
    all_deltas = deltas(warehouse, feed(400, seed=31))
    live = LiveState({}, GRACE_MS, LiveTopic(all_deltas).read)
    passed: list[int] = []
    failures = {"left": 3}

    async def flaky_step(windows: LiveWindows, step: int) -> None:
        if len(passed) == 2 and failures["left"]:
            failures["left"] -= 1
            raise ConnectionRefusedError("the warehouse is away")
        passed.append(step)

    live.minute_steps.append(flaky_step)

    async def run() -> None:
        for offset, delta in enumerate(all_deltas):
            await live.apply(offset, delta)
        while live.failed_step is not None:  # the worker's timer sends these through the live topic
            await live.apply(len(all_deltas), b'{"evaluate": 0}')

    asyncio.run(run())
    assert failures["left"] == 0 and live.failed_step is None
    assert passed == list(range(passed[0], passed[0] + len(passed)))  # every step once, in order
    assert passed[-1] == live.built().minute
