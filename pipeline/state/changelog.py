"""Writing the state table's changelog in bulk: one Kafka record batch per table partition.

Faust's own `send` costs a future, a log record and a buffer hop per key. The state table
writes thousands of keys per CDR batch, so they go through an idempotent aiokafka producer of
their own as whole record batches. Kafka keeps their order within a partition, which is all the
state's crash protocol needs (see pipeline.state.cdr_state), provided every write is there: `write`
returns only once the broker has acknowledged all of its records (acks=all), so a batch counts
as recorded only when its changelog is durable. A delivery that fails raises; the worker then
stops and recovers from what Kafka holds (a later batch's marker must never land after an
earlier batch's entries were lost).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from mode import Service

from pipeline.settings import Settings
from pipeline.state.store import Entry


class ChangelogWriter(Service):
    def __init__(self, settings: Settings, topic: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.topic = topic
        self.producer: AIOKafkaProducer | None = None

    async def on_start(self) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=5,
            max_batch_size=1 << 20, max_request_size=8 << 20,
        )  # fmt: skip
        await self.producer.start()

    async def on_stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def flush(self) -> None:
        if self.producer is not None:
            await self.producer.flush()

    async def send(self, partition: int, entries: list[Entry]) -> int:
        """Append `entries` in order to `partition` of the changelog; return the offset of the last
        one once all are delivered."""
        producer = self.producer
        assert producer is not None, "the changelog writer is not started"
        deliveries, counts = [], []
        batch = producer.create_batch()
        for key, value in entries:
            if batch.append(key=key, value=value, timestamp=None) is None:
                counts.append(batch.record_count())
                deliveries.append(await producer.send_batch(batch, self.topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        counts.append(batch.record_count())
        deliveries.append(await producer.send_batch(batch, self.topic, partition=partition))
        delivered = await asyncio.gather(*deliveries)
        return delivered[-1].offset + counts[-1] - 1
