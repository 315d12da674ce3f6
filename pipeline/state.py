"""Duplicates and rerates, decided one batch of CDRs at a time.

A worker partition's state lives in one Faust table (one changelog topic), under two kinds of key:
  b"d|<id>"   the newest revision seen of a CDR id: [batch offset, before, after, day]
  b"m|<p>"    the offset of the last batch of partition p applied in full
A batch's writes go to the changelog partition of the batch, in order, marker last (sent in bulk
through the app's producer rather than one buffered Faust send per key). Kafka keeps that order,
so after a crash the recovered table holds every earlier batch and a prefix of the writes of at
most one batch. Each entry keeps its value from before the batch that last wrote it, so replaying
that batch plans exactly the same changes instead of applying it twice: idempotent, without
Kafka transactions. The aggregates themselves live only in ClickHouse, which adds the revisions
a batch makes newest and takes back the ones they replace.

An id is remembered for `dedup_days` after the batch that last changed it; `forget_before` drops
older ids (between batches) so that the table does not grow without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field

import orjson

Table = MutableMapping[bytes, bytes]
# A CDR as the batch topic carries it: the fields of pipeline.events.Cdr, in order, as a plain list
# (a batch holds thousands; building a Cdr of each costs more than all the planning).
Row = list
ID, REV, START_MS = 0, 1, 2
WriteChangelog = Callable[[int, list[tuple[bytes, bytes | None]]], Awaitable[object]]
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


def _before(entry: bytes | None, offset: int):
    """The entry's revision before batch `offset` (it may hold that batch's own write already)."""
    if entry is None:
        return None
    written_at, before, after, _day = orjson.loads(entry)
    return before if written_at == offset else after


def _entry(offset: int, before: Row | None, after: Row, day: int) -> bytes:
    """An id's table value. orjson leaves every output in a buffer of at least 4 KiB; the table keeps
    one value per id, so each is copied to an object of its own size (measured: the worker's memory
    grew by 4 KiB per CDR, and the page faults of that growth cost more CPU than the planning)."""
    return bytes(memoryview(orjson.dumps((offset, before, after, day))))


def _month(start_ms: int) -> tuple[int, int]:
    return time.gmtime(start_ms // 1000)[:2]


class CdrState:
    """Plans and records batches over `table` (the Faust table's store) and its changelog."""

    def __init__(self, table: Table, write_changelog: WriteChangelog) -> None:
        self.table = table
        self.write_changelog = write_changelog

    def applied(self, partition: int, offset: int) -> bool:
        return offset < self.next_offset(partition)

    def next_offset(self, partition: int) -> int:
        """The offset of the first batch of `partition` not applied yet."""
        marker = self.table.get(marker_key(partition))
        return 0 if marker is None else int(marker) + 1

    def plan(self, partition: int, offset: int, rows: list[Row], day: int) -> BatchChanges | None:
        """The changes batch (partition, offset) makes on `day` (days since the epoch), or None when applied already."""
        if self.applied(partition, offset):
            return None
        table = self.table
        previous: dict[str, Row | None] = {}
        newest: dict[str, Row] = {}
        for row in rows:
            cdr_id = row[ID]
            if cdr_id not in previous:
                previous[cdr_id] = _before(table.get(id_key(cdr_id)), offset)
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
            changes.writes.append((id_key(cdr_id), _entry(offset, old, row, day)))
        changes.writes.append((marker_key(partition), b"%d" % offset))
        return changes

    async def record(self, changes: BatchChanges) -> None:
        """Write the batch's entries to the table and its changelog, the marker last."""
        table = self.table
        for key, value in changes.writes:
            table[key] = value
        await self.write_changelog(changes.partition, changes.writes)

    async def forget_before(
        self, oldest_day: int, partition_of_id: Callable[[bytes], int], slice_size: int = 5000
    ) -> int:
        """Forget the ids last changed before `oldest_day`; returns how many were forgotten.

        Run it between batches, never while a planned batch waits to be recorded."""
        keys = [key for key in list(self.table.keys()) if key.startswith(b"d|")]
        forgotten = 0
        for start in range(0, len(keys), slice_size):
            tombstones: dict[int, list[tuple[bytes, None]]] = {}
            for key in keys[start : start + slice_size]:
                entry = self.table.get(key)
                if entry is not None and orjson.loads(entry)[3] < oldest_day:
                    del self.table[key]
                    tombstones.setdefault(partition_of_id(key[2:]), []).append((key, None))
            for partition, entries in tombstones.items():
                await self.write_changelog(partition, entries)
                forgotten += len(entries)
            await asyncio.sleep(0)
        return forgotten
