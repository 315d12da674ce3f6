"""Live sums per `dest_number`, held as columns.

A carrier's minute can hold a hundred thousand distinct numbers, most called once: as Python dicts
of lists an hour of them took gigabytes. Here a minute's numbers are one sorted array of byte
strings and one array per sum, each of the narrowest integer type that holds its values (a count
of 1 takes a byte), about 40 bytes a number, compressed together once the minute is read. A window's sums per number are gathered in numpy and
only the rows a caller needs (a rule's candidates, the top N) become Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import lz4.block
import numpy as np
import orjson

SUMS = 13  # len(pipeline.live.windows.LIVE_SUMS)


def _narrow(column: np.ndarray) -> np.ndarray:
    """The column in the narrowest signed integer type that holds it."""
    if not len(column):
        return column.astype(np.int8)
    low, high = int(column.min()), int(column.max())
    for kind in (np.int8, np.int16, np.int32):
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return column.astype(kind)
    return column


def _summed(size: int, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`size` int64 sums: values[i] added at position at[i]."""
    total = np.zeros(size, dtype=np.int64)
    np.add.at(total, at, values)
    return total


def _summed_by_number(numbers: np.ndarray, columns: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unique sorted numbers and each column summed per number (int64)."""
    unique, inverse = np.unique(numbers, return_inverse=True)
    return unique, [_summed(len(unique), inverse, column) for column in columns]


@dataclass(frozen=True)
class NumberColumns:
    """One minute's numbers (sorted, unique) and their sums, column by column."""

    numbers: np.ndarray
    columns: list[np.ndarray]

    def pack(self) -> PackedColumns:
        parts = [self.numbers, *self.columns]
        return PackedColumns(
            lz4.block.compress(b"".join(part.tobytes() for part in parts)),
            len(self.numbers), tuple(part.dtype.str for part in parts),
        )  # fmt: skip


@dataclass(frozen=True)
class PackedColumns:
    """NumberColumns compressed (LZ4): sorted numbers and narrow sums pack to about a third."""

    data: bytes
    count: int
    dtypes: tuple[str, ...]

    def unpack(self) -> NumberColumns:
        buffer = lz4.block.decompress(self.data)
        parts, at = [], 0
        for dtype in map(np.dtype, self.dtypes):
            size = dtype.itemsize * self.count
            parts.append(np.frombuffer(buffer, dtype=dtype, count=self.count, offset=at))
            at += size
        return NumberColumns(parts[0], parts[1:])


NO_NUMBERS = NumberColumns(np.array([], dtype="S1"), [np.array([], dtype=np.int8)] * SUMS)


# A past minute's waiting rows are folded into its packed columns once they take at least this many
# bytes, and WAITING_PER_PACKED times the packed bytes: CDRs that arrive in random order bring rows
# to every minute of the hour in every batch, and folding each batch's few rows into a whole
# minute's columns would cost the whole minute again each time. So each row is folded about twice
# on average, and a minute holds at most a few times its packed size in waiting text.
COMPACT_AT_LEAST = 64 * 1024
WAITING_PER_PACKED = 4
ROW_BYTES = 60  # about what a row read already would take as JSON text


@dataclass(eq=False)
class MinuteNumbers:
    """One minute's sums per number: rows as the deltas carried them (JSON text, or read already)
    until `compact()` folds them into the packed columns."""

    packed: PackedColumns | None = None
    unread: list[str | list] = field(default_factory=list)
    waiting_bytes: int = 0

    def add(self, rows: str | list[list]) -> None:
        self.unread.append(rows)
        self.waiting_bytes += len(rows) if isinstance(rows, str) else ROW_BYTES * len(rows)

    def compact_if_due(self) -> bool:
        """Compact when the waiting rows outweigh the packed ones enough; whether none wait now."""
        packed = 0 if self.packed is None else len(self.packed.data)
        if self.waiting_bytes >= max(COMPACT_AT_LEAST, WAITING_PER_PACKED * packed):
            self.compact()
        return not self.unread

    def columns(self) -> NumberColumns:
        self.compact()
        return NO_NUMBERS if self.packed is None else self.packed.unpack()

    def compact(self) -> None:
        if not self.unread:
            return
        rows = [row for held in self.unread for row in (orjson.loads(held) if isinstance(held, str) else held)]
        self.unread.clear()
        self.waiting_bytes = 0
        if not rows:
            return
        held = NO_NUMBERS if self.packed is None else self.packed.unpack()
        numbers = np.concatenate([held.numbers, np.array([row[0].encode() for row in rows])])
        sums = np.array([row[1:] for row in rows], dtype=np.int64).reshape(len(rows), SUMS)
        columns = [np.concatenate([column.astype(np.int64), sums[:, i]]) for i, column in enumerate(held.columns)]
        unique, summed = _summed_by_number(numbers, columns)
        self.packed = NumberColumns(unique, [_narrow(column) for column in summed]).pack()

    def __len__(self) -> int:
        self.compact()
        return 0 if self.packed is None else self.packed.count

    def as_dict(self) -> dict[str, list[int]]:
        held = self.columns()
        rows = zip(*(column.tolist() for column in held.columns)) if len(held.numbers) else ()
        return {number.decode(): list(sums) for number, sums in zip(held.numbers.tolist(), rows)}

    def keys(self) -> set[tuple]:
        return {(number.decode(),) for number in self.columns().numbers.tolist()}


class NumberWindow:
    """The sums per number over some minutes: the numbers and their attempts at once, the other
    sums only for the numbers asked for."""

    def __init__(self, minutes: Iterable[MinuteNumbers]) -> None:
        held = [m.columns() for m in minutes if len(m)]
        self.minutes = held
        if held:
            self.numbers, self.inverse = np.unique(np.concatenate([m.numbers for m in held]), return_inverse=True)
        else:
            self.numbers, self.inverse = np.array([], dtype="S1"), np.array([], dtype=np.int64)
        self.attempts = self.total(0)

    def __len__(self) -> int:
        return len(self.numbers)

    def total(self, column: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Column `column` summed per number (of all numbers, or those at the indices `rows`)."""
        values = np.concatenate([m.columns[column] for m in self.minutes]) if self.minutes else np.array([], np.int64)
        total = _summed(len(self.numbers), self.inverse, values)
        return total if rows is None else total[rows]

    def rows(self, indices: np.ndarray) -> dict[tuple, list[int]]:
        """{(number,): sums} of the numbers at `indices`, in their order."""
        if not len(indices):
            return {}
        wanted = np.zeros(len(self.numbers), dtype=bool)
        wanted[indices] = True
        picked = wanted[self.inverse]
        position = np.cumsum(wanted) - 1  # each wanted number's row in the answer
        inverse = position[self.inverse[picked]]
        columns = []
        for column in range(SUMS):
            values = np.concatenate([m.columns[column] for m in self.minutes])[picked]
            columns.append(_summed(int(wanted.sum()), inverse, values).tolist())
        rows = list(zip(*columns))
        numbers = self.numbers[indices].tolist()
        return {(number.decode(),): list(rows[at]) for number, at in zip(numbers, position[indices].tolist())}

    def top(self, count: int | None) -> dict[tuple, list[int]]:
        """The `count` numbers with most attempts (all, if None), ties by number."""
        order = np.lexsort((self.numbers, -self.attempts))
        return self.rows(order if count is None else order[:count])

    def candidates(
        self, min_attempts: int, also: Iterable[tuple], column: int | None = None, above: bool = True,
        threshold: float = 0,
    ) -> dict[tuple, list[int]]:  # fmt: skip
        """The numbers a rule can change: with at least `min_attempts` attempts and, when the rule's
        metric is the sum `column`, on the firing side of `threshold` (`above`: >); and the numbers
        in `also` (firing already) that have traffic here."""
        chosen = self.attempts >= min_attempts
        if column is not None:
            values = self.attempts if column == 0 else self.total(column)
            chosen &= values > threshold if above else values < threshold
        firing = [key[0].encode() for key in also]
        if firing:
            at = np.searchsorted(self.numbers, firing)
            found = at < len(self.numbers)
            at = at[found]
            matches = self.numbers[at] == np.array(firing)[found]
            chosen[at[matches]] = True
        return self.rows(np.flatnonzero(chosen))
