"""The end offsets of the worker's topics, on a connection that never waits behind a fetch."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from pipeline.end_offsets import EndOffsets
from pipeline.topics import ensure_topics


async def test_end_offsets_answer_per_partition_while_a_fetch_waits_on_the_same_topic(settings):
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    for _ in range(3):
        await producer.send_and_wait(settings.batch_topic, b"batch", partition=1)
    await producer.stop()
    waiting = AIOKafkaConsumer(settings.batch_topic, bootstrap_servers=settings.bootstrap_servers,
                               auto_offset_reset="latest", fetch_max_wait_ms=10_000)  # fmt: skip
    await waiting.start()
    ends = EndOffsets(settings)
    await ends.start()
    try:
        long_poll = asyncio.ensure_future(waiting.getmany(timeout_ms=10_000))
        asked = [(settings.batch_topic, 0), (settings.batch_topic, 1)]
        assert await ends.of(asked) == {(settings.batch_topic, 0): 0, (settings.batch_topic, 1): 3}
        assert not long_poll.done(), "answered while the other consumer's fetch still waits for data"
        long_poll.cancel()
    finally:
        await ends.stop()
        await waiting.stop()


async def test_end_offsets_asked_before_the_client_started_are_a_kafka_error(settings):
    with pytest.raises(KafkaError):
        await EndOffsets(settings).of([(settings.batch_topic, 0)])
