import asyncio
from types import SimpleNamespace

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from pipeline.events import Cdr
from pipeline.ingest import BATCH_ID_HEADER, CdrIngest, encoded_batches, partition_of
from pipeline.metrics import WorkerMetrics
from pipeline.settings import Settings


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
