"""The live topic read again: a live worker that takes the live partition rebuilds its windows
from the deltas its table lists, fetched from the topic (the table keeps no copy of them)."""

from __future__ import annotations

from collections.abc import Collection

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.settings import Settings


async def read_live_deltas(settings: Settings, offsets: Collection[int]) -> dict[int, bytes]:
    """The live topic's messages at `offsets`, by offset: those the topic still holds."""
    if not offsets:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    try:
        tp = TopicPartition(settings.live_topic, 0)
        consumer.assign([tp])
        earliest = (await consumer.beginning_offsets([tp]))[tp]
        end = min((await consumer.end_offsets([tp]))[tp], max(offsets) + 1)
        wanted = set(offsets)
        found: dict[int, bytes] = {}
        consumer.seek(tp, max(min(offsets), earliest))
        while await consumer.position(tp) < end:
            fetched = await consumer.getmany(tp, timeout_ms=1000, max_records=1000)
            found.update((r.offset, r.value) for r in fetched.get(tp, ()) if r.offset in wanted)
        return found
    finally:
        await consumer.stop()
