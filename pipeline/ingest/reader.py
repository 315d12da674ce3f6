"""Ingest: the input topic in, validated CDR batches out.

Faust hands each Kafka message to an agent one at a time, which costs more than the rest of
the pipeline per CDR. So the input topic is read here in bulk (aiokafka `getmany`), parsed and
validated, and forwarded as one message per batch-topic partition holding many CDRs; the
Faust agent then pays its per-message cost once per batch. CDRs go to the partition of their
id, so every revision of an id meets the same state. Invalid events go to the dead-letter topic
with the original bytes and the reason. Input offsets are committed only after both topics
acknowledged: at least once, and duplicates are what the state absorbs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections.abc import Iterator

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from mode import Service

from pipeline.events import Cdr, InvalidEvent, parse_message
from pipeline.ingest.pacing import IngestPacing
from pipeline.metrics import WorkerMetrics
from pipeline.settings import Settings

log = logging.getLogger(__name__)

MAX_RECORDS = 5000
ROWS_PER_MESSAGE = 30_000
MESSAGE_BYTES = 7 * 1024 * 1024  # a batch message ends at whichever bound comes first
# Forward when this many input messages are pending, or when the oldest has waited the linger
# (pipeline.ingest.pacing, which the worker moves with its write load): every batch message costs
# the agent one insert, and every insert new parts that ClickHouse merges later, so a trickle of
# CDRs is gathered for a moment and a flood goes in large batches (up to 30k CDRs per partition;
# the benchmark ran about 1.2x as fast as with 10k).
FLUSH_RECORDS = 120_000
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
OLDEST_INPUT_HEADER = "cdrflow-oldest-input-ms"  # Kafka timestamp of the oldest input message in a batch
# A batch message's own id: ClickHouse drops an insert whose deduplication token it has seen, so
# the token must name this message and no other, even across topics recreated or renamed.
BATCH_ID_HEADER = "cdrflow-batch-id"
READ_HEADER = "cdrflow-read-ms"  # when the ingest read the batch's oldest input message
HOLD_CHECK_SECONDS = 1.0


def partition_of(cdr_id: str, partitions: int) -> int:
    return zlib.crc32(cdr_id.encode()) % partitions


def encoded_batches(cdrs: list[Cdr], max_rows: int, max_bytes: int) -> Iterator[bytes]:
    """`cdrs` in order as JSON arrays of rows, each of at most `max_rows` rows and `max_bytes` bytes.

    A run of rows is encoded at once: orjson leaves every output in a buffer of at least 4 KiB, so
    rows encoded one by one held 4 KiB per CDR until their message was sent (about 500 MB for a
    flush of 120k CDRs). A run over `max_bytes` is cut into as many equal runs as its size asks for,
    and encoded again; a single row travels alone whatever its size."""
    for start in range(0, len(cdrs), max_rows):
        yield from _within(cdrs[start : start + max_rows], max_bytes)


def _within(cdrs: list[Cdr], max_bytes: int) -> Iterator[bytes]:
    encoded = orjson.dumps(cdrs, default=tuple)
    if len(encoded) <= max_bytes or len(cdrs) == 1:
        yield encoded
        return
    size = -(-len(cdrs) // (len(encoded) // max_bytes + 1))
    for start in range(0, len(cdrs), size):
        yield from _within(cdrs[start : start + size], max_bytes)


def dlq_headers(record: ConsumerRecord, invalid: InvalidEvent) -> list[tuple[str, bytes]]:
    headers = [
        ("cdrflow-reason", invalid.reason.encode()),
        ("cdrflow-source-topic", record.topic.encode()),
        ("cdrflow-source-partition", str(record.partition).encode()),
        ("cdrflow-source-offset", str(record.offset).encode()),
    ]
    if invalid.element is not None:
        headers.append(("cdrflow-element", str(invalid.element).encode()))
    return headers


class CdrIngest(Service):
    def __init__(self, settings: Settings, metrics: WorkerMetrics, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.metrics = metrics
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.admin: AIOKafkaAdminClient | None = None
        self.positions: dict[TopicPartition, int] = {}
        self.partition_lag: dict[TopicPartition, int] = {}
        self.last_forwarded_ms: dict[TopicPartition, int] = {}  # append time of the last message forwarded
        self.holding = False
        self.linger_seconds = IngestPacing.shortest

    async def on_start(self) -> None:
        servers = self.settings.bootstrap_servers
        self.producer = AIOKafkaProducer(
            bootstrap_servers=servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=MAX_MESSAGE_BYTES,
        )
        self.consumer = AIOKafkaConsumer(
            self.settings.topic,
            bootstrap_servers=servers,
            group_id=f"{self.settings.app_id}-ingest",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self.admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await self.producer.start()
        await self.consumer.start()
        await self.admin.start()

    async def on_stop(self) -> None:
        if self.admin is not None:
            await self.admin.close()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()

    async def lag(self) -> int:
        """Input messages on this worker's partitions not forwarded yet; -1 before any are assigned."""
        consumer = self.consumer
        assignment = list(consumer.assignment()) if consumer is not None else []
        if consumer is None or not assignment:
            return -1
        for tp in set(self.positions) - set(assignment):  # read from the committed offset if it comes back
            del self.positions[tp]
        ends = await consumer.end_offsets(assignment)
        lags = {}
        for tp in assignment:
            if tp not in self.positions:
                self.positions[tp] = await consumer.committed(tp) or 0
            lags[tp] = max(0, ends[tp] - self.positions[tp])
        self.partition_lag = lags
        return sum(lags.values())

    def forwarded_through(self, checked_at: float) -> float | None:
        """The moment before which every message of this process's partitions is forwarded, as the
        last lag() found them (read at `checked_at`); None while a lagging partition has forwarded
        nothing yet here."""
        moments = []
        for tp, lag in self.partition_lag.items():
            if lag == 0:
                moments.append(checked_at)
            elif tp in self.last_forwarded_ms:
                moments.append(self.last_forwarded_ms[tp] / 1000)
            else:
                return None
        return min(moments, default=None)

    async def batch_lag(self) -> int:
        """Batch messages the workers have not taken yet (their group's committed offsets), all partitions."""
        assert self.consumer is not None and self.admin is not None
        partitions = [TopicPartition(self.settings.batch_topic, p) for p in range(self.settings.partitions)]
        committed = await self.admin.list_consumer_group_offsets(self.settings.app_id, partitions=partitions)
        starts = await self.consumer.beginning_offsets(partitions)
        ends = await self.consumer.end_offsets(partitions)
        taken = {tp: max(starts[tp], committed[tp].offset if tp in committed else 0) for tp in partitions}
        return sum(max(0, ends[tp] - taken[tp]) for tp in partitions)

    async def hold_back_while_behind(self) -> None:
        """Stop reading the input while the workers are more than CDRFLOW_BATCH_LAG_LIMIT batches
        behind (the warehouse refuses their inserts, say), and read again once they are back under
        half of it: the CDRs wait in the input topic rather than pile up in the batch topic. The
        input partitions are paused, not left unread, so this process stays in its group."""
        limit = self.settings.batch_lag_limit
        try:
            lag = await self.batch_lag()
        except KafkaError as error:  # a broker blip: decide again at the next check
            log.warning("could not read the batch lag: %s", error)
            return
        if not self.holding and lag > limit:
            log.warning(
                "holding the input back: %d batches are not applied yet (CDRFLOW_BATCH_LAG_LIMIT %d)", lag, limit
            )
            self.holding = True
        elif self.holding and lag <= limit // 2:
            log.warning("reading the input again: %d batches are not applied yet", lag)
            self.holding = False
        consumer = self.consumer
        assert consumer is not None
        if self.holding:
            consumer.pause(*consumer.assignment())
        else:
            consumer.resume(*consumer.paused())

    @Service.task
    async def _hold_back_forever(self) -> None:
        """The batch lag is read beside the forwarding, never in its way: it takes several round
        trips to the broker, which the CDRs read and waiting to be forwarded would wait for."""
        while not self.should_stop:
            if self.consumer is not None and self.admin is not None:
                await self.hold_back_while_behind()
            await self.sleep(HOLD_CHECK_SECONDS)

    @Service.task
    async def _forward_forever(self) -> None:
        assert self.consumer is not None
        pending: dict[TopicPartition, list[ConsumerRecord]] = {}
        count, first_at, read_ms = 0, 0.0, 0
        while not self.should_stop:
            records = await self.consumer.getmany(timeout_ms=50, max_records=MAX_RECORDS)
            for tp, tp_records in records.items():
                if not count:
                    first_at, read_ms = time.monotonic(), int(time.time() * 1000)
                pending.setdefault(tp, []).extend(tp_records)
                count += len(tp_records)
            if count and (count >= FLUSH_RECORDS or time.monotonic() - first_at >= self.linger_seconds):
                await self.forward(pending, read_ms)
                self.last_forwarded_ms.update({tp: max(r.timestamp for r in rs) for tp, rs in pending.items()})
                await self.commit({tp: rs[-1].offset + 1 for tp, rs in pending.items()})
                pending, count = {}, 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the forwarded offsets of the partitions still assigned here.

        A partition taken by another worker while its records were forwarded is read again by
        its new owner from the last committed offset: those CDRs reach the batch topic twice,
        and the state counts them once, as any duplicate."""
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        mine = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        self.positions.update(mine)
        if not mine:
            return
        try:
            await self.consumer.commit(mine)
        except (CommitFailedError, IllegalStateError) as error:
            log.warning("input offsets not committed, the partitions moved: %s", error)

    async def forward(self, records: dict[TopicPartition, list[ConsumerRecord]], read_ms: int = 0) -> None:
        """The records' CDRs to the batch topic by id, their invalid events to the DLQ; each batch
        carries its oldest input message's time and `read_ms`, when that message was read."""
        assert self.producer is not None
        partitions = self.settings.partitions
        by_partition: dict[int, list[Cdr]] = {}
        oldest_ms: dict[int, int] = {}
        sends = []
        messages = valid = invalid_count = 0
        for tp_records in records.values():
            for record in tp_records:
                messages += 1
                cdrs, invalid = parse_message(record.value)
                for cdr in cdrs:
                    partition = partition_of(cdr.id, partitions)
                    by_partition.setdefault(partition, []).append(cdr)
                    oldest_ms[partition] = min(oldest_ms.get(partition, record.timestamp), record.timestamp)
                valid += len(cdrs)
                invalid_count += len(invalid)
                for bad in invalid:
                    sends.append(
                        await self.producer.send(
                            self.settings.dlq_topic, bad.raw, key=record.key, headers=dlq_headers(record, bad)
                        )
                    )
        for partition, batch in by_partition.items():
            times = [(OLDEST_INPUT_HEADER, b"%d" % oldest_ms[partition]), (READ_HEADER, b"%d" % read_ms)]
            for value in encoded_batches(batch, ROWS_PER_MESSAGE, MESSAGE_BYTES):
                headers = [*times, (BATCH_ID_HEADER, uuid.uuid4().hex.encode())]
                sends.append(
                    await self.producer.send(self.settings.batch_topic, value, partition=partition, headers=headers)
                )
        await asyncio.gather(*sends)
        self.metrics.inc("cdrflow_messages_total", messages)
        self.metrics.inc("cdrflow_cdrs_valid_total", valid)
        self.metrics.inc("cdrflow_cdrs_invalid_total", invalid_count)
