"""Sending CDR messages to the input topic, many in flight, for `generate` and `replay`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaProducer

from pipeline.settings import Settings

IN_FLIGHT = 10_000


async def send_messages(
    settings: Settings, messages: Iterable[bytes], progress: Callable[[int], object] = lambda n: None
) -> int:
    """Send every message; return how many were acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, linger_ms=10, max_batch_size=1 << 20, max_request_size=8 << 20
    )
    await producer.start()
    sent = 0
    try:
        pending: list[asyncio.Future] = []
        for value in messages:
            pending.append(await producer.send(settings.topic, value))
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                sent += len(pending)
                progress(len(pending))
                pending = []
        await asyncio.gather(*pending)
        sent += len(pending)
        progress(len(pending))
    finally:
        await producer.stop()
    return sent
