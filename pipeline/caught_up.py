"""How far this worker has caught up: the moment T before which every CDR that reached Kafka on
its partitions is applied, which scheduled reports wait for (pipeline.warehouse.progress).

Two halves meet here. The ingest reports `forwarded_through`: per input partition, the moment it
read the end offsets when it had forwarded everything, else the append time of the last message
it forwarded (a partition's messages are appended in time order, so everything appended before
that is forwarded too); the smallest over its partitions. The worker then reads the batch
topic's end offsets, which hold every batch forwarded by then, and keeps the pair; once it has
applied its batch partitions up to those offsets, T moves to that moment. Under a steady feed T
trails the wall clock by the time a batch takes to be forwarded and applied, never waiting for
a moment with no lag at all.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class CaughtUpMark:
    through: float | None = None  # epoch seconds
    heard: deque[tuple[float, dict[int, int]]] = field(default_factory=deque)  # (moment, batch end offsets)

    def forwarded(self, moment: float, ends: dict[int, int]) -> None:
        """The ingest had forwarded every message before `moment`; `ends`: the batch partitions'
        end offsets read after that."""
        latest = self.heard[-1][0] if self.heard else self.through
        if latest is None or moment > latest:
            self.heard.append((moment, ends))

    def applied(self, next_offsets: dict[int, int]) -> float | None:
        """T, once the batch partitions held here are applied up to `next_offsets` (a partition
        that went to another worker is that worker's to report)."""
        while self.heard:
            moment, ends = self.heard[0]
            if any(next_offsets[p] < end for p, end in ends.items() if p in next_offsets):
                break
            self.heard.popleft()
            self.through = moment
        return self.through
