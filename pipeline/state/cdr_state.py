"""Duplicates and rerates, decided one batch of CDRs at a time.

A worker partition's state lives in one Faust table (one changelog topic), under two kinds of key:
  b"d|<id>"   the newest revision seen of a CDR id: [batch offset, day, after, before], the two
              revisions without their id (the key has it)
  b"m|<p>"    the offset of the last batch of partition p applied in full
A batch's writes go to the changelog partition of the batch, in order, marker last (sent in bulk
rather than one buffered Faust send per key), and once Kafka has them all, to the table's store
(pipeline.state.store) in one write. Kafka keeps their order, so after a crash the recovered
table holds every earlier batch and a prefix of the writes of at most one batch. Each entry
keeps its value from before the batch that last wrote it, so replaying that batch plans exactly
the same changes instead of applying it twice: idempotent, without Kafka transactions. The
aggregates themselves live only in ClickHouse, which adds the revisions a batch makes newest and
takes back the ones they replace.

An id is remembered for `dedup_days` after the batch that last changed it; `forget_before` drops
older ids (between batches) so that the table does not grow without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import orjson

from pipeline.state.store import Entry, PartitionStates

# A CDR as the batch topic carries it: the fields of pipeline.events.Cdr, in order, as a plain list
# (a batch holds thousands; building a Cdr of each costs more than all the planning).
Row = list
ID, REV, START_MS = 0, 1, 2
# Appends entries to a changelog partition; returns the offset of the last one once Kafka has them all.
SendChangelog = Callable[[int, list[Entry]], Awaitable[int]]
DAY_MS = 86_400_000


@dataclass
class BatchChanges:
    """What one batch changed: the sink writes it, then the table records it."""

    partition: int
    offset: int
    newest: list[Row] = field(default_factory=list)  # revisions that now win
    replaced: list[Row] = field(default_factory=list)  # the revisions they replace, to take back
    moved: list[Row] = field(default_factory=list)  # replaced revisions that sat in another month
    writes: list[tuple[bytes, bytes]] = field(default_factory=list)


def marker_key(partition: int) -> bytes:
    return b"m|%d" % partition


def id_key(cdr_id: str) -> bytes:
    return b"d|" + cdr_id.encode()


def _before(cdr_id: str, entry: bytes | None, offset: int) -> Row | None:
    """The id's revision before batch `offset` (the entry may hold that batch's own write already)."""
    if entry is None:
        return None
    fields = orjson.loads(entry)
    if isinstance(fields[1], int):
        written_at, _day, after, before = fields
        row = before if written_at == offset else after
        return None if row is None else [cdr_id, *row]
    written_at, before, after, _day = fields  # the first format: [offset, before, after, day], rows with their id
    return before if written_at == offset else after


def _day(entry: bytes) -> int:
    """The day of the batch that last changed the id (either format)."""
    _written_at, day, _after, last = orjson.loads(entry)
    return day if isinstance(day, int) else last


def _entry(offset: int, day: int, after: Row, before: Row | None) -> bytes:
    """An id's table value. orjson leaves every output in a buffer of at least 4 KiB; the table keeps
    one value per id, so each is copied to an object of its own size (measured: the worker's memory
    grew by 4 KiB per CDR, and the page faults of that growth cost more CPU than the planning)."""
    return bytes(memoryview(orjson.dumps((offset, day, after[1:], None if before is None else before[1:]))))


def _month(start_ms: int) -> tuple[int, int]:
    return time.gmtime(start_ms // 1000)[:2]


class CdrState:
    """Plans and records batches over the table's store and its changelog."""

    def __init__(self, states: PartitionStates, send_changelog: SendChangelog) -> None:
        self.states = states
        self.send_changelog = send_changelog

    def applied(self, partition: int, offset: int) -> bool:
        return offset < self.next_offset(partition)

    def next_offset(self, partition: int) -> int:
        """The offset of the first batch of `partition` not applied yet."""
        marker = self.states.get(partition, marker_key(partition))
        return 0 if marker is None else int(marker) + 1

    def plan(self, partition: int, offset: int, rows: list[Row], day: int) -> BatchChanges | None:
        """The changes batch (partition, offset) makes on `day` (days since the epoch), or None when applied already."""
        if self.applied(partition, offset):
            return None
        ids = list(dict.fromkeys(row[ID] for row in rows))
        entries = self.states.get_many(partition, [id_key(cdr_id) for cdr_id in ids])
        previous = {cdr_id: _before(cdr_id, entry, offset) for cdr_id, entry in zip(ids, entries)}
        newest: dict[str, Row] = {}
        for row in rows:
            cdr_id = row[ID]
            current = newest.get(cdr_id) or previous[cdr_id]
            if current is None or row[REV] > current[REV]:
                newest[cdr_id] = row

        changes = BatchChanges(partition, offset)
        for cdr_id, row in newest.items():
            old = previous[cdr_id]
            if old is not None:
                changes.replaced.append(old)
                if _month(old[START_MS]) != _month(row[START_MS]):
                    changes.moved.append([old[ID], row[REV], *old[START_MS:]])
            changes.newest.append(row)
            changes.writes.append((id_key(cdr_id), _entry(offset, day, row, old)))
        changes.writes.append((marker_key(partition), b"%d" % offset))
        return changes

    async def mark_applied(self, changes: BatchChanges) -> None:
        """Write the batch's entries to the changelog, the marker last, then (once Kafka has them) to the store."""
        last_offset = await self.send_changelog(changes.partition, changes.writes)
        self.states.put(changes.partition, changes.writes, last_offset)

    async def forget_before(
        self,
        oldest_day: int,
        partitions: Iterable[int],
        still_mine: Callable[[int], bool] = lambda partition: True,
        slice_size: int = 5000,
    ) -> int:
        """Forget the ids of `partitions` last changed before `oldest_day`; returns how many were forgotten.

        The store is read in key order, a slice at a time, with a tombstone in the changelog for
        each id forgotten. Run it between batches, never while a planned batch waits to be
        recorded; a partition handed over meanwhile (`still_mine` false) is left to its new owner."""
        forgotten = 0
        for partition in partitions:
            old: list[Entry] = []
            scanned = 0
            for key, entry in self.states.id_entries(partition):
                if _day(entry) < oldest_day:
                    old.append((key, None))
                scanned += 1
                if scanned % slice_size == 0:
                    if not await self._forget(partition, old, still_mine):
                        break
                    forgotten += len(old)
                    old = []
            else:
                if await self._forget(partition, old, still_mine):
                    forgotten += len(old)
        return forgotten

    async def _forget(self, partition: int, tombstones: list[Entry], still_mine: Callable[[int], bool]) -> bool:
        await asyncio.sleep(0)  # let the worker breathe between slices
        if not still_mine(partition):
            return False
        if tombstones:
            last_offset = await self.send_changelog(partition, tombstones)
            self.states.put(partition, tombstones, last_offset)
        return True
