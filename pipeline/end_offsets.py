"""The end offsets of the worker's topics, asked on a connection of their own.

Faust's consumer long-polls its fetches (aiokafka's fetch_max_wait_ms, 1.5 s in Faust), and a
broker answers a connection's requests in order: an end-offsets request sent on that consumer
waits behind the fetch in flight, so a caught-up worker took 1-3 s to learn its batch lag. This
client fetches nothing, so its answers take a round trip."""

from __future__ import annotations

from typing import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from mode import Service

from pipeline.settings import Settings


class EndOffsets(Service):
    def __init__(self, settings: Settings, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, client_id=f"{self.settings.app_id}-end-offsets",
            enable_auto_commit=False,
        )  # fmt: skip
        await consumer.start()
        self.consumer = consumer

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def of(self, partitions: Iterable[tuple[str, int]]) -> Mapping[tuple[str, int], int]:
        """The offset after the last message of each (topic, partition), keyed as given; a
        KafkaError when the broker does not answer."""
        consumer = self.consumer
        if consumer is None:  # the worker is still starting (or stopping): not known yet
            raise KafkaConnectionError("the end offsets client is not started")
        wanted = list(partitions)
        ends = await consumer.end_offsets([TopicPartition(topic, partition) for topic, partition in wanted])
        return {tp: ends[TopicPartition(*tp)] for tp in wanted}
