"""The dead-letter topic read back: each refused event with the reason and where it came from."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.settings import Settings
from pipeline.topics import partition_counts


@dataclass(frozen=True)
class DeadLetter:
    time_ms: int  # when it was refused
    reason: str
    source: str  # input topic[partition]@offset, and #element for one element of an array message
    event: bytes  # the refused bytes, as sent

    def as_row(self, event_chars: int = 120) -> dict[str, object]:
        text = self.event.decode(errors="replace")
        return {
            "time_ms": self.time_ms,
            "source": self.source,
            "reason": self.reason,
            "event": text if len(text) <= event_chars else text[: event_chars - 1] + "…",
        }


def dead_letter(record) -> DeadLetter:
    headers = {name: value.decode(errors="replace") for name, value in record.headers or ()}
    source = "{}[{}]@{}".format(
        headers.get("cdrflow-source-topic", "?"),
        headers.get("cdrflow-source-partition", "?"),
        headers.get("cdrflow-source-offset", "?"),
    )
    if "cdrflow-element" in headers:
        source += f"#{headers['cdrflow-element']}"
    return DeadLetter(record.timestamp, headers.get("cdrflow-reason", ""), source, record.value or b"")


async def newest_dead_letters(settings: Settings, limit: int) -> list[DeadLetter]:
    """The last `limit` dead letters of every DLQ partition, oldest first."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        count = (await partition_counts(admin, [settings.dlq_topic])).get(settings.dlq_topic, 0)
    finally:
        await admin.close()
    if not count:
        return []
    partitions = [TopicPartition(settings.dlq_topic, number) for number in range(count)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        starts, ends = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(starts[tp], ends[tp] - limit))
        letters: list[DeadLetter] = []
        reading = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while reading:
            for records in (await consumer.getmany(*reading, timeout_ms=1000)).values():
                letters += [dead_letter(record) for record in records]
            reading = {tp for tp in reading if await consumer.position(tp) < ends[tp]}
        return sorted(letters, key=lambda letter: letter.time_ms)[-limit:]
    finally:
        await consumer.stop()
