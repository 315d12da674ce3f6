"""Duplicates, rerates and rolling aggregates, applied one batch of CDRs at a time.

All of a worker partition's state lives in one Faust table (one changelog topic), under
three kinds of key:
  b"d|<id>"            the newest revision seen of a CDR id
  b"a|[p, key...]"     partition p's share of one aggregate (see pipeline.aggregates)
  b"m|<p>"             the offset of the last batch of partition p applied in full
A batch's writes go to the changelog partition of the batch, in order, marker last (sent in bulk
through the app's producer rather than one buffered Faust send per key). Kafka keeps
that order, so after a crash the recovered table holds every earlier batch and a prefix of
the writes of at most one batch. Each entry keeps its value from before the batch that last
wrote it ([offset, before, after]), so replaying that batch recomputes exactly the same
values instead of applying it twice: idempotent, without Kafka transactions.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field

import orjson

from pipeline.aggregates import AggregateKey, add_into, contributions
from pipeline.events import Cdr

Table = MutableMapping[bytes, bytes]
SendChangelog = Callable[[int, bytes, bytes], Awaitable[object]]


@dataclass
class BatchChanges:
    """What one batch changed: the sink writes it, then the table records it."""

    partition: int
    offset: int
    newest: list[Cdr] = field(default_factory=list)  # revisions that now win
    moved: list[Cdr] = field(default_factory=list)  # superseded revisions that sat in another month
    aggregates: dict[AggregateKey, list[int]] = field(default_factory=dict)  # absolute, after the batch
    writes: list[tuple[bytes, bytes]] = field(default_factory=list)


def marker_key(partition: int) -> bytes:
    return b"m|%d" % partition


def id_key(cdr_id: str) -> bytes:
    return b"d|" + cdr_id.encode()


def aggregate_key(partition: int, key: AggregateKey) -> bytes:
    return b"a|" + orjson.dumps((partition, *key))


def _before(entry: bytes | None, offset: int):
    """The entry's value before batch `offset` (it may hold that batch's own write already)."""
    if entry is None:
        return None
    written_at, before, after = orjson.loads(entry)
    return before if written_at == offset else after


def _month(start_ms: int) -> tuple[int, int]:
    return time.gmtime(start_ms // 1000)[:2]


class CdrState:
    """Plans and records batches over `table` (the Faust table's store) and its changelog."""

    def __init__(self, table: Table, send_changelog: SendChangelog) -> None:
        self.table = table
        self.send_changelog = send_changelog

    def applied(self, partition: int, offset: int) -> bool:
        marker = self.table.get(marker_key(partition))
        return marker is not None and int(marker) >= offset

    def plan(self, partition: int, offset: int, rows: list[list]) -> BatchChanges | None:
        """The changes batch (partition, offset) makes, or None when it was applied already."""
        if self.applied(partition, offset):
            return None
        table = self.table
        previous: dict[str, Cdr | None] = {}
        newest: dict[str, Cdr] = {}
        for row in rows:
            cdr = Cdr._make(row)
            cdr_id = cdr.id
            if cdr_id not in previous:
                old = _before(table.get(id_key(cdr_id)), offset)
                previous[cdr_id] = Cdr._make(old) if old is not None else None
            current = newest.get(cdr_id) or previous[cdr_id]
            if current is None or cdr.rev > current.rev:
                newest[cdr_id] = cdr

        changes = BatchChanges(partition, offset)
        deltas: dict[AggregateKey, list[int]] = {}
        for cdr_id, cdr in newest.items():
            old = previous[cdr_id]
            if old is not None:
                for key, vector in contributions(old):
                    add_into(deltas, key, vector, -1)
                if _month(old.start_ms) != _month(cdr.start_ms):
                    changes.moved.append(old._replace(rev=cdr.rev))
            for key, vector in contributions(cdr):
                add_into(deltas, key, vector, +1)
            changes.newest.append(cdr)
            changes.writes.append((id_key(cdr_id), orjson.dumps((offset, old, cdr), default=tuple)))

        for key, delta in deltas.items():
            table_key = aggregate_key(partition, key)
            before = _before(table.get(table_key), offset)
            after = delta if before is None else [b + d for b, d in zip(before, delta)]
            changes.aggregates[key] = after
            changes.writes.append((table_key, orjson.dumps((offset, before, after))))
        changes.writes.append((marker_key(partition), b"%d" % offset))
        return changes

    async def record(self, changes: BatchChanges) -> None:
        """Write the batch's entries to the table and its changelog, the marker last."""
        table, send, partition = self.table, self.send_changelog, changes.partition
        for key, value in changes.writes:
            table[key] = value
            await send(partition, key, value)
