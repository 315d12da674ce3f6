import asyncio
import tracemalloc
from pathlib import Path

import orjson
import pytest
import rocksdict
from faust.stores.rocksdb import Store as RocksDBStore

from pipeline.events import Cdr, parse_message
from pipeline.state.cdr_state import CdrState
from pipeline.state.store import BoundedRocksDBOptions, MemoryStates, RocksDBStates, StateMemory

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
    async def __call__(self, partition: int, entries: list[tuple[bytes, bytes | None]]) -> int:
        self.extend((partition, key, value) for key, value in entries)
        return len(self) - 1


class OpenDatabases:
    """What RocksDBStates uses of Faust's RocksDB store: a database per partition and the offset key."""

    offset_key = RocksDBStore.offset_key

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.options = BoundedRocksDBOptions(StateMemory(total_mb=32))
        self.dbs: dict[int, rocksdict.Rdict] = {}

    def _db_for_partition(self, partition: int) -> rocksdict.Rdict:
        if partition not in self.dbs:
            self.dbs[partition] = self.options.open(self.folder / f"state-{partition}.db")
        return self.dbs[partition]


def contents(state: CdrState) -> dict[bytes, bytes]:
    """Every key the state holds, over all partitions (RocksDB's changelog offsets left out)."""
    states = state.states
    if isinstance(states, MemoryStates):
        return dict(states.data)
    return {
        key: value for db in states.store.dbs.values() for key, value in db.items() if key != OpenDatabases.offset_key
    }


@pytest.fixture(params=["memory", "rocksdb"])
def new_state(request, tmp_path):
    """Makes a CdrState over an empty store of each kind."""
    made = []

    def make(changelog=None) -> CdrState:
        if request.param == "memory":
            states = MemoryStates({}, lambda cdr_id: 0)
        else:
            states = RocksDBStates(OpenDatabases(tmp_path / f"store{len(made)}"))
        made.append(states)
        return CdrState(states, Changelog() if changelog is None else changelog)

    return make


def apply(state: CdrState, partition: int, offset: int, rows: list[list], day: int = DAY):
    changes = state.plan(partition, offset, rows, day)
    if changes is not None:
        asyncio.run(state.mark_applied(changes))
    return changes


def charges(changes) -> dict:
    """customer -> how a batch changes its customer_charge, in millionths."""
    totals: dict[str, int] = {}
    for sign, cdrs in ((1, changes.newest), (-1, changes.replaced)):
        for c in map(Cdr._make, cdrs):
            totals[c.customer] = totals.get(c.customer, 0) + sign * c.customer_charge_micros
    return totals


def test_the_same_id_and_rev_counts_once(new_state):
    state = new_state()
    first = apply(state, 0, 0, [cdr("a"), cdr("a")])
    assert [Cdr._make(c).id for c in first.newest] == ["a"]
    assert charges(first) == {"acme": 1_000_000}
    again = apply(state, 0, 1, [cdr("a")])
    assert again.newest == [] and again.replaced == []


def test_a_higher_revision_replaces_and_a_lower_one_is_ignored(new_state):
    state = new_state()
    apply(state, 0, 0, [cdr("a", 0, "1.000000"), cdr("b", 0, "2.000000")])
    rerated = apply(state, 0, 1, [cdr("a", 2, "5.500000")])
    assert charges(rerated) == {"acme": 4_500_000}  # 1.00 taken back, 5.50 added
    late = apply(state, 0, 2, [cdr("a", 1, "9.000000")])
    assert late.newest == []


def test_a_rerate_that_moves_the_customer_takes_the_old_contribution_back(new_state):
    state = new_state()
    apply(state, 0, 0, [cdr("a", 0, "1.000000")])
    moved = apply(state, 0, 1, [cdr("a", 1, "1.000000", customer="globex")])
    assert charges(moved) == {"acme": -1_000_000, "globex": 1_000_000}


def test_a_rerate_into_another_month_marks_the_old_month_row_deleted(new_state):
    state = new_state()
    apply(state, 0, 0, [cdr("a", 0)])
    moved = apply(state, 0, 1, [cdr("a", 1, start=1_788_220_800_000 - 5 * 86400_000)])
    assert [(c.id, c.rev, c.start_ms) for c in map(Cdr._make, moved.moved)] == [("a", 1, 1_788_220_800_000)]


def test_a_batch_applied_in_full_is_skipped_on_replay(new_state):
    state = new_state()
    apply(state, 0, 0, [cdr("a")])
    assert state.plan(0, 0, [cdr("a")], DAY) is None


@pytest.mark.parametrize("cut", range(0, 4))
def test_replaying_a_partly_recorded_batch_gives_what_one_clean_pass_gives(new_state, cut):
    batch0 = [cdr("a", 0, "1.000000"), cdr("b", 0, "2.000000")]
    batch1 = [cdr("a", 1, "3.000000"), cdr("c", 0, "4.000000", customer="globex"), cdr("b", 0, "2.000000")]
    clean = new_state()
    apply(clean, 0, 0, batch0)
    expected = apply(clean, 0, 1, batch1)

    crashed = new_state()
    apply(crashed, 0, 0, batch0)
    prefix = crashed.plan(0, 1, batch1, DAY).writes[:cut]  # the crash: only a prefix reached Kafka,
    crashed.states.put(0, prefix, 99)  # and recovery wrote it to the store
    replayed = apply(crashed, 0, 1, batch1)
    if cut == len(expected.writes):
        assert replayed is None
    else:
        assert replayed.replaced == expected.replaced
        assert replayed.newest == expected.newest
    assert contents(crashed) == contents(clean)


def test_a_batch_reaches_the_store_only_once_the_changelog_has_it(new_state):
    class RefusingChangelog(Changelog):
        async def __call__(self, partition, entries):
            raise ConnectionError("the broker lost the partition's leader")

    state = new_state(RefusingChangelog())
    changes = state.plan(0, 0, [cdr("a")], DAY)
    with pytest.raises(ConnectionError):
        asyncio.run(state.mark_applied(changes))
    assert contents(state) == {}
    assert state.next_offset(0) == 0


def test_the_store_keeps_the_changelog_offset_a_batch_reached(tmp_path):
    states = RocksDBStates(OpenDatabases(tmp_path))
    changelog = Changelog([(1, b"x", b"y")] * 10)  # ten records of other batches before
    state = CdrState(states, changelog)
    apply(state, 2, 0, [cdr("a"), cdr("b")])
    assert changelog[-1][:2] == (2, b"m|2")
    assert states.get(2, OpenDatabases.offset_key) == b"12"  # Faust's recovery reads the changelog after it


def test_an_entry_of_the_first_format_still_reads(new_state):
    state = new_state()
    old_row, new_row = cdr("a", 0, "1.000000"), cdr("a", 1, "2.000000")
    state.states.put(0, [(b"d|a", orjson.dumps([0, None, old_row, DAY]))], 0)
    rerated = apply(state, 0, 1, [new_row])
    assert rerated.replaced == [old_row] and rerated.newest == [new_row]


def test_an_entry_holds_the_revisions_without_their_id(new_state):
    state = new_state()
    changes = apply(state, 0, 0, [cdr("call-1")])
    [(key, entry), _marker] = changes.writes
    assert key == b"d|call-1" and b"call-1" not in entry


@pytest.mark.parametrize("slice_size", [1, 5000])
def test_ids_not_changed_for_the_dedup_window_are_forgotten_everywhere(new_state, slice_size):
    changelog = Changelog()
    state = new_state(changelog)
    apply(state, 0, 0, [cdr("old"), cdr("kept")], day=DAY - 46)
    apply(state, 0, 1, [cdr("kept", 1)], day=DAY - 2)
    forgotten = asyncio.run(state.forget_before(DAY - 45, [0], slice_size=slice_size))
    assert forgotten == 1
    assert sorted(contents(state)) == [b"d|kept", b"m|0"]
    assert changelog[-1] == (0, b"d|old", None)  # a tombstone, so recovery forgets it too
    assert apply(state, 0, 2, [cdr("kept", 1)]).newest == []


def test_the_sweep_leaves_a_partition_handed_over_to_its_new_owner(new_state):
    changelog = Changelog()
    state = new_state(changelog)
    apply(state, 0, 0, [cdr(f"old-{n}") for n in range(10)], day=DAY - 46)
    written = len(changelog)
    forgotten = asyncio.run(state.forget_before(DAY - 45, [0], still_mine=lambda partition: False, slice_size=3))
    assert forgotten == 0 and len(changelog) == written
    assert len(contents(state)) == 11


def test_an_id_costs_the_table_about_its_entry_not_an_encoder_buffer():
    state = CdrState(MemoryStates({}, lambda cdr_id: 0), Changelog())
    rows = [cdr(f"call-{n}") for n in range(2000)]
    tracemalloc.start()
    try:
        apply(state, 0, 0, rows)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    entry_bytes = sum(len(value) for value in state.states.data.values())
    assert held < 3 * entry_bytes  # orjson's own output buffers alone would hold over 4 KiB per id
