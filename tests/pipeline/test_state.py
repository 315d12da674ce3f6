import asyncio
import tracemalloc

import pytest

from pipeline.events import Cdr, parse_message
from pipeline.state import CdrState

NOW = 1_795_000_000_000


def cdr(
    id: str, rev: int = 0, charge: str = "1.000000", start: int = 1_788_220_800_000, customer: str = "acme"
) -> list:
    event = {"id": id, "rev": rev, "start_time": start, "customer": customer, "dest_number": "4477",
             "cli": "1555", "sip_code": 200, "duration": 10, "customer_charge": charge}  # fmt: skip
    [parsed], _ = parse_message(__import__("orjson").dumps(event), NOW)
    return list(parsed)


DAY = 20_700


class Changelog(list):
    async def __call__(self, partition: int, entries: list[tuple[bytes, bytes | None]]) -> None:
        self.extend((partition, key, value) for key, value in entries)


def apply(state: CdrState, partition: int, offset: int, rows: list[list], day: int = DAY):
    changes = state.plan(partition, offset, rows, day)
    if changes is not None:
        asyncio.run(state.record(changes))
    return changes


def charges(changes) -> dict:
    """customer -> how a batch changes its customer_charge, in millionths."""
    totals: dict[str, int] = {}
    for sign, cdrs in ((1, changes.newest), (-1, changes.replaced)):
        for c in map(Cdr._make, cdrs):
            totals[c.customer] = totals.get(c.customer, 0) + sign * c.customer_charge_micros
    return totals


def test_the_same_id_and_rev_counts_once():
    state = CdrState({}, Changelog())
    first = apply(state, 0, 0, [cdr("a"), cdr("a")])
    assert [Cdr._make(c).id for c in first.newest] == ["a"]
    assert charges(first) == {"acme": 1_000_000}
    again = apply(state, 0, 1, [cdr("a")])
    assert again.newest == [] and again.replaced == []


def test_a_higher_revision_replaces_and_a_lower_one_is_ignored():
    state = CdrState({}, Changelog())
    apply(state, 0, 0, [cdr("a", 0, "1.000000"), cdr("b", 0, "2.000000")])
    rerated = apply(state, 0, 1, [cdr("a", 2, "5.500000")])
    assert charges(rerated) == {"acme": 4_500_000}  # 1.00 taken back, 5.50 added
    late = apply(state, 0, 2, [cdr("a", 1, "9.000000")])
    assert late.newest == []


def test_a_rerate_that_moves_the_customer_takes_the_old_contribution_back():
    state = CdrState({}, Changelog())
    apply(state, 0, 0, [cdr("a", 0, "1.000000")])
    moved = apply(state, 0, 1, [cdr("a", 1, "1.000000", customer="globex")])
    assert charges(moved) == {"acme": -1_000_000, "globex": 1_000_000}


def test_a_rerate_into_another_month_marks_the_old_month_row_deleted():
    state = CdrState({}, Changelog())
    apply(state, 0, 0, [cdr("a", 0)])
    moved = apply(state, 0, 1, [cdr("a", 1, start=1_788_220_800_000 - 5 * 86400_000)])
    assert [(c.id, c.rev, c.start_ms) for c in map(Cdr._make, moved.moved)] == [("a", 1, 1_788_220_800_000)]


def test_a_batch_applied_in_full_is_skipped_on_replay():
    state = CdrState({}, Changelog())
    apply(state, 0, 0, [cdr("a")])
    assert state.plan(0, 0, [cdr("a")], DAY) is None


@pytest.mark.parametrize("cut", range(0, 4))
def test_replaying_a_partly_recorded_batch_gives_what_one_clean_pass_gives(cut):
    batch0 = [cdr("a", 0, "1.000000"), cdr("b", 0, "2.000000")]
    batch1 = [cdr("a", 1, "3.000000"), cdr("c", 0, "4.000000", customer="globex"), cdr("b", 0, "2.000000")]
    clean = CdrState({}, Changelog())
    apply(clean, 0, 0, batch0)
    expected = apply(clean, 0, 1, batch1)

    crashed = CdrState({}, Changelog())
    apply(crashed, 0, 0, batch0)
    for key, value in crashed.plan(0, 1, batch1, DAY).writes[:cut]:  # the crash: only a prefix reached Kafka
        crashed.table[key] = value
    replayed = apply(crashed, 0, 1, batch1)
    if cut == len(expected.writes):
        assert replayed is None
    else:
        assert replayed.replaced == expected.replaced
        assert replayed.newest == expected.newest
    assert crashed.table == clean.table


def test_ids_not_changed_for_the_dedup_window_are_forgotten_everywhere():
    changelog = Changelog()
    state = CdrState({}, changelog)
    apply(state, 0, 0, [cdr("old"), cdr("kept")], day=DAY - 46)
    apply(state, 0, 1, [cdr("kept", 1)], day=DAY - 2)
    forgotten = asyncio.run(state.forget_before(DAY - 45, lambda cdr_id: 3))
    assert forgotten == 1
    assert sorted(state.table) == [b"d|kept", b"m|0"]
    assert changelog[-1] == (3, b"d|old", None)  # a tombstone, so recovery forgets it too
    assert apply(state, 0, 2, [cdr("kept", 1)]).newest == []


def test_an_id_costs_the_table_about_its_entry_not_an_encoder_buffer():
    state = CdrState({}, Changelog())
    rows = [cdr(f"call-{n}") for n in range(2000)]
    tracemalloc.start()
    try:
        apply(state, 0, 0, rows)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    entry_bytes = sum(len(value) for value in state.table.values())
    assert held < 3 * entry_bytes  # orjson's own output buffers alone would hold over 4 KiB per id
