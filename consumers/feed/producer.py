"""Sending CDR messages to the input topic, many in flight, for `generate`, `replay` and `make run`."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable

import orjson
from aiokafka import AIOKafkaProducer

from consumers.feed.switch import SwitchFeed
from pipeline.settings import Settings

IN_FLIGHT = 10_000
Progress = Callable[[int], object]


class CdrProducer:
    """`async with CdrProducer(settings) as producer:` one producer for many sends."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            linger_ms=10,
            max_batch_size=1 << 20,
            max_request_size=8 << 20,
        )

    async def __aenter__(self) -> CdrProducer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send_all(self, messages: Iterable[bytes], progress: Progress = lambda n: None) -> int:
        """Send every message; return how many were acknowledged."""
        sent = 0
        pending: list[asyncio.Future] = []
        for value in messages:
            pending.append(await self.producer.send(self.topic, value))
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                sent += len(pending)
                progress(len(pending))
                pending = []
        await asyncio.gather(*pending)
        sent += len(pending)
        progress(len(pending))
        return sent


async def send_messages(settings: Settings, messages: Iterable[bytes], progress: Progress = lambda n: None) -> int:
    """Send every message with a producer of its own; return how many were acknowledged."""
    async with CdrProducer(settings) as producer:
        return await producer.send_all(messages, progress)


async def send_paced(
    settings: Settings,
    feed: SwitchFeed,
    rate: int,
    seconds: int | None,
    progress: Progress = lambda n: None,
    stop: asyncio.Event | None = None,
) -> None:
    """`rate` CDRs a second, each sent in the second its call ended (as a switch sends a CDR at
    hang-up, so none ends in the future), for `seconds` seconds (None: until `stop` is set)."""
    stop = stop or asyncio.Event()
    start_ms = int(time.time() * 1000) - 1000
    started = time.monotonic()
    async with CdrProducer(settings) as producer:
        for second in itertools.count() if seconds is None else range(seconds):
            events = feed.events(start_ms + second * 1000, rate, 1000, ending=True)
            await producer.send_all((orjson.dumps(event) for event in events), progress)
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, started + second + 1 - time.monotonic()))
                return
            except TimeoutError:
                pass
