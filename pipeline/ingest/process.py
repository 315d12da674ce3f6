"""Ingest in a process of its own, so that it runs on another core than the Faust agent.

Parsing and validating every CDR is the one per-CDR Python cost of the pipeline; in the
worker's process it would share one core (one GIL) with the agent. The worker starts

    python -m pipeline.ingest.process

with its own settings; the child reports its counters, lag and assigned partitions as one JSON
line on stdout every half second, and the worker answers each with the linger it is to use
(pipeline.ingest.pacing), one JSON line on its stdin. The child stops when its stdin closes, which
is also what happens when the worker dies (even by kill -9), so it never outlives its worker. A
child whose ingest crashes exits with 1; a child that exits or dies is started again.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable

import orjson
from aiokafka.errors import KafkaError
from mode import Service

from pipeline.client_logs import quiet_repeated_client_lines
from pipeline.collector import collect_less_often, freeze_start_up
from pipeline.ingest.pacing import BusyShare, IngestPacing
from pipeline.ingest.reader import CdrIngest
from pipeline.metrics import WorkerMetrics
from pipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)
REPORT_SECONDS = 0.5
COUNTERS = ("cdrflow_messages_total", "cdrflow_cdrs_valid_total", "cdrflow_cdrs_invalid_total")


class IngestProcess(Service):
    def __init__(
        self, settings: Settings, metrics: WorkerMetrics, write_busy_seconds: Callable[[], float] = lambda: 0.0,
        **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.settings = settings
        self.metrics = metrics
        self.pacing = IngestPacing()
        self.write_busy = BusyShare(write_busy_seconds, time.monotonic)
        metrics.gauges["cdrflow_write_busy_ratio"] = 0.0
        metrics.gauges["cdrflow_ingest_linger_seconds"] = self.pacing.linger
        self.child: asyncio.subprocess.Process | None = None
        self.status: dict = {}
        self.earlier_children: Counter[str] = Counter()

    def lag(self) -> int:
        """Input messages not forwarded yet on the child's partitions; -1 before it reports any."""
        return self.status.get("lag", -1)

    @property
    def partitions(self) -> int:
        return self.status.get("partitions", 0)

    @property
    def forwarded_through(self) -> float | None:
        """Epoch seconds: every input message that reached Kafka before it was forwarded when the
        child last looked (CdrIngest.forwarded_through); None while that is not known."""
        return self.status.get("forwarded_through")

    @Service.task
    async def _supervise(self) -> None:
        delay = 1.0
        while not self.should_stop:
            self.child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "pipeline.ingest.process",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert self.child.stdout is not None
            async for line in self.child.stdout:
                self.status = orjson.loads(line)
                for name in COUNTERS:
                    self.metrics.counters[name] = self.earlier_children[name] + self.status[name]
                self.metrics.gauges["cdrflow_ingest_holding"] = int(self.status["holding"])
                self.pace(self.child)
                delay = 1.0
            code = await self.child.wait()
            for name in COUNTERS:
                self.earlier_children[name] += self.status.get(name, 0)
            self.status = {}
            if not self.should_stop:
                log.error("ingest process exited with %s; starting it again in %.0f s", code, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def pace(self, child: asyncio.subprocess.Process) -> None:
        """Tell the child how long to gather CDRs, from the insert threads' busy share since the last report."""
        busy = self.write_busy()
        linger = self.pacing.update(busy)
        self.metrics.gauges["cdrflow_write_busy_ratio"] = round(busy, 3)
        self.metrics.gauges["cdrflow_ingest_linger_seconds"] = round(linger, 3)
        assert child.stdin is not None
        if not child.stdin.is_closing():
            child.stdin.write(orjson.dumps({"linger": linger}) + b"\n")

    async def on_stop(self) -> None:
        child = self.child
        if child is not None and child.returncode is None:
            assert child.stdin is not None
            child.stdin.close()  # the child stops on end of input
            try:
                await asyncio.wait_for(child.wait(), 30)
            except asyncio.TimeoutError:
                child.kill()


async def follow_the_worker(stdin: asyncio.StreamReader, ingest: CdrIngest) -> None:
    """Take each linger the worker sends, until it closes stdin."""
    async for line in stdin:
        ingest.linger_seconds = orjson.loads(line)["linger"]


async def run_child() -> int:
    """Ingest until the worker closes stdin (0), or until the ingest crashes (1: the worker starts another)."""
    collect_less_often()
    metrics = WorkerMetrics()
    ingest = CdrIngest(get_settings(), metrics)
    try:
        await ingest.start()
    except KafkaError as error:  # the broker is away: the worker starts this process again
        log.warning("the ingest could not reach the broker: %s", error)
        await ingest.stop()
        return 1
    freeze_start_up()
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    end_of_input = asyncio.ensure_future(follow_the_worker(stdin, ingest))
    try:
        while not end_of_input.done() and not ingest.crashed:
            consumer = ingest.consumer
            checked_at = time.time()  # before the end offsets are read: what came earlier is in them
            try:
                lag = await ingest.lag()
            except KafkaError as error:  # a broker blip: unknown until the next look
                log.warning("could not read the input lag: %s", error)
                lag = -1
            status = {name: metrics.counters[name] for name in COUNTERS}
            status |= {
                "lag": lag,
                "partitions": len(consumer.assignment()) if consumer else 0,
                "forwarded_through": ingest.forwarded_through(checked_at) if lag >= 0 else None,
                "holding": ingest.holding,
                "linger": ingest.linger_seconds,
            }
            sys.stdout.buffer.write(orjson.dumps(status) + b"\n")
            sys.stdout.buffer.flush()
            await asyncio.wait([end_of_input], timeout=REPORT_SECONDS)
    finally:
        await ingest.stop()
    return 1 if ingest.crashed else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    quiet_repeated_client_lines()
    sys.exit(asyncio.run(run_child()))
