import asyncio
import dataclasses
from types import SimpleNamespace

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from consumers.feed.producer import send_messages
from pipeline.events import Cdr
from pipeline.ingest.reader import BATCH_ID_HEADER, HOLD_CHECK_SECONDS, CdrIngest, encoded_batches, partition_of
from pipeline.metrics import WorkerMetrics
from pipeline.settings import Settings
from pipeline.topics import ensure_topics
from tests.cdr_factory import make_cdrs


def cdr(number: int, cli: str = "") -> Cdr:
    return Cdr(
        f"call-{number}", 0, 1_700_000_000_000, "acme", "", "", "", cli, "442071", 200, 0, 0, 0, 0, 0, 0, None, None, ""
    )


def test_batch_messages_end_at_the_row_or_the_byte_bound():
    cdrs = [cdr(n) for n in range(25)]
    row_bytes = len(orjson.dumps([cdrs[0]], default=tuple))
    assert [len(orjson.loads(m)) for m in encoded_batches(cdrs, 10, 1 << 20)] == [10, 10, 5]
    by_bytes = list(encoded_batches(cdrs, 100, 4 * row_bytes))
    assert all(len(m) <= 4 * row_bytes for m in by_bytes) and len(by_bytes) >= 7
    assert [row for m in by_bytes for row in orjson.loads(m)] == [list(c) for c in cdrs]


def test_an_oversized_cdr_travels_alone():
    large, small = cdr(1, cli="1" * 500), cdr(2)
    assert [len(orjson.loads(m)) for m in encoded_batches([large, small], 100, 300)] == [1, 1]


def test_an_id_keeps_its_partition_across_processes_and_releases():
    # The state of an id lives in its partition: changing this function would strand it.
    assert (partition_of("call-42", 8), partition_of("ÅSA-7", 12)) == (2, 8)
    assert len({partition_of(f"call-{i}", 8) for i in range(200)}) == 8


class MovingConsumer:
    """A consumer whose group moved partition 1 away, and whose commits fail when `moving`."""

    def __init__(self, moving: bool) -> None:
        self.moving = moving
        self.committed: list[dict] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("cdr", 0)}

    async def commit(self, offsets: dict) -> None:
        if self.moving:
            raise CommitFailedError("the group is rebalancing")
        self.committed.append(offsets)


def ingest_over(consumer: MovingConsumer) -> CdrIngest:
    ingest = CdrIngest(Settings.from_env({}, env_file=None), WorkerMetrics())
    ingest.consumer = consumer  # type: ignore[assignment]
    return ingest


def test_offsets_of_partitions_that_moved_away_are_left_to_their_new_owner():
    consumer = MovingConsumer(moving=False)
    ingest = ingest_over(consumer)
    asyncio.run(ingest.commit({TopicPartition("cdr", 0): 10, TopicPartition("cdr", 1): 7}))
    assert consumer.committed == [{TopicPartition("cdr", 0): 10}]
    assert ingest.positions == {TopicPartition("cdr", 0): 10}


def test_a_commit_refused_by_a_rebalance_does_not_stop_the_ingest():
    ingest = ingest_over(MovingConsumer(moving=True))
    asyncio.run(ingest.commit({TopicPartition("cdr", 0): 10}))
    assert ingest.positions == {TopicPartition("cdr", 0): 10}


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None, dict]] = []

    async def send(self, topic, value, key=None, partition=None, headers=None):
        self.sent.append((topic, partition, dict(headers or ())))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_every_batch_message_carries_an_id_of_its_own():
    ingest = ingest_over(MovingConsumer(moving=False))
    ingest.producer = RecordingProducer()  # type: ignore[assignment]
    event = (
        b'{"id": "call-%d", "start_time": 1700000000000, "customer": "acme", "dest_number": "4420", "sip_code": 486}'
    )
    records = [SimpleNamespace(value=event % n, timestamp=1_700_000_000_000 + n, key=None) for n in range(40)]
    asyncio.run(ingest.forward({TopicPartition("cdr", 0): records}))
    ids = [
        headers[BATCH_ID_HEADER] for topic, _, headers in ingest.producer.sent if topic == ingest.settings.batch_topic
    ]
    assert len(ids) == len({partition_of(f"call-{n}", 8) for n in range(40)}) and len(set(ids)) == len(ids)


async def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def batch_ends(settings: Settings) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(settings.batch_topic, p) for p in range(settings.partitions)])
    finally:
        await consumer.stop()


async def workers_take_every_batch(settings: Settings) -> None:
    """Commit the workers' group at the batch topic's end, as workers that applied everything would."""
    ends = await batch_ends(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.commit(ends)
    finally:
        await consumer.stop()


async def test_the_ingest_holds_the_input_back_while_the_workers_are_behind_and_loses_nothing(settings):
    settings = dataclasses.replace(settings, batch_lag_limit=2)
    await ensure_topics(settings)
    events = [orjson.dumps(e) for e in make_cdrs(20, seed=91, rerate_share=0)]
    ingest = CdrIngest(settings, WorkerMetrics())
    await ingest.start()
    try:

        async def forwarded() -> bool:
            return await ingest.lag() == 0

        async def holding() -> bool:
            return ingest.holding

        for event in events[:3]:  # three flushes: three batch messages nobody applies
            await send_messages(settings, [event])
            await wait_until(forwarded)
        await wait_until(holding)
        before = await batch_ends(settings)
        await send_messages(settings, events[3:])
        await asyncio.sleep(3 * HOLD_CHECK_SECONDS)
        assert await batch_ends(settings) == before and await ingest.lag() == len(events) - 3

        await workers_take_every_batch(settings)  # the warehouse is back and the workers caught up
        await wait_until(forwarded)
        assert not ingest.holding
        assert ingest.metrics.counters["cdrflow_cdrs_valid_total"] == len(events)
    finally:
        await ingest.stop()


def test_a_batch_lag_the_broker_cannot_tell_leaves_the_ingest_as_it_was():
    class Unreachable:
        async def list_consumer_group_offsets(self, *args, **kwargs):
            raise KafkaConnectionError("the coordinator moved")

    ingest = ingest_over(MovingConsumer(moving=False))
    ingest.admin = Unreachable()  # type: ignore[assignment]
    ingest.holding = True
    asyncio.run(ingest.hold_back_while_behind())
    assert ingest.holding
