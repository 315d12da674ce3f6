"""Recovery: every batch applied once, in order, whatever Faust's offsets say.

The state table's marker (the next batch offset it expects, per batch partition) is the
checkpoint; Faust's committed offset is only a hint. After a rebalance each batch partition
resumes at its marker; a batch that arrives past the marker means batches were skipped, and the
partition is fetched again from the marker; batches deleted from Kafka before they were applied
stop the worker (exit 69), unless `cdrflow worker --skip-lost-batches` says to go on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import NoReturn

import faust

from pipeline.end_offsets import EndOffsets
from pipeline.metrics import WorkerMetrics
from pipeline.state.cdr_state import CdrState

log = logging.getLogger(__name__)
EXIT_UNAVAILABLE = 69


@dataclass
class BatchRecovery:
    app: faust.App
    cdr_state: CdrState
    batch_topic: str
    metrics: WorkerMetrics
    end_offsets: EndOffsets
    skip_lost: bool = False  # `cdrflow worker --skip-lost-batches`

    def recovered(self) -> bool:
        """Whether the tables are recovered and no rebalance is under way."""
        return not self.app.rebalancing and self.app.tables.recovery.completed.is_set()

    def my_partitions(self) -> list[int]:
        return sorted(tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.batch_topic)

    def still_mine(self, partition: int) -> bool:
        return not self.app.rebalancing and partition in self.my_partitions()

    async def resume_at_the_markers(self) -> None:
        """Once the table is recovered, make each batch partition resume at the batch after its marker.

        Faust resumes from its committed offset, which can be past batches the table never recorded
        (a worker that stopped while recording a batch had acked the events after it), and nothing
        would reveal that gap: the refetch in skipped_batches_before needs a later batch to arrive.
        So the markers are committed here, and Faust's own seek to the committed offsets, which comes
        next and runs before any fetch, starts there. (Seeking here instead would be undone by it, and
        seeking later races the consumer's fetcher thread.) That seek passes over a committed offset
        of 0 (aiokafka's seek_to_committed), leaving the position of the previous commit: those
        partitions are sought to 0 here."""
        consumer = self.app.consumer
        mine = [tp for tp in consumer.assignment() if tp.topic == self.batch_topic]
        if not mine:
            return
        earliest = await consumer.earliest_offsets(*mine)
        resume_at = {tp: max(self.cdr_state.next_offset(tp.partition), earliest[tp]) for tp in mine}
        await consumer._commit(resume_at)
        for tp, offset in resume_at.items():
            if offset == 0:
                await consumer.seek(tp, 0)

    async def skipped_batches_before(self, tp, offset: int) -> bool:
        """Whether batches before `offset` were never handed to the agent; if so, fetch them again.

        Around rebalances and table recovery Faust's fetcher can drop records it has read without
        seeking back, and Faust's committed offset can pass batches the table never applied. The
        batch topic has no gaps (no transactions, no compaction), so a batch past the table's
        marker means skipped batches: the partition is fetched again from the marker, and batches
        applied already are recognised by the marker and skipped.
        """
        expected = self.cdr_state.next_offset(tp.partition)
        if offset <= expected:
            return False
        earliest = (await self.app.consumer.earliest_offsets(tp))[tp]
        if earliest > expected:
            if not self.skip_lost:
                stop_on_lost_batches(tp, expected, earliest)
            log.error("batches %s[%d] %d..%d were deleted before they were applied: their CDRs are not counted",
                      tp.topic, tp.partition, expected, earliest - 1)  # fmt: skip
            self.metrics.inc("cdrflow_batches_lost_total", earliest - expected)
            return False
        log.warning(
            "batches %s[%d] %d..%d were skipped; fetching them again", tp.topic, tp.partition, expected, offset - 1
        )
        await self.app.consumer.seek(tp, expected)
        self.metrics.inc("cdrflow_batch_refetches_total")
        return True

    async def unapplied_batches(self) -> dict:
        """Per assigned batch-topic partition: (first batch not applied yet, end offset), from the table."""
        consumer = self.app.consumer
        mine = [tp for tp in consumer.assignment() if tp.topic == self.batch_topic]
        if not mine:
            return {}
        ends = await self.end_offsets.of(mine)
        return {tp: (self.cdr_state.next_offset(tp.partition), ends[tp]) for tp in mine}

    async def batch_lag(self) -> int:
        """Batches in the batch topic not applied yet, over this worker's partitions; -1 while recovering."""
        if not self.recovered():
            return -1
        return sum(max(0, end - wanted) for wanted, end in (await self.unapplied_batches()).values())


def stop_on_lost_batches(tp, expected: int, earliest: int) -> NoReturn:
    """Batches the table never applied are gone from Kafka (kept less long than the warehouse was
    down, or deleted by hand): their CDRs would be missing from every report. The worker stops
    (exit 69) rather than go on without them; `cdrflow worker --skip-lost-batches` goes on,
    logging and counting what is lost, once those CDRs are replayed from the switches' files or
    given up."""
    log.critical(
        "batches %s[%d] %d..%d were deleted before this worker applied them (the topic now starts at %d); "
        "replay their CDRs (cdrflow replay) and start with `cdrflow worker --skip-lost-batches` to go on without them",
        tp.topic, tp.partition, expected, earliest - 1, earliest,
    )  # fmt: skip
    logging.shutdown()
    os._exit(EXIT_UNAVAILABLE)
