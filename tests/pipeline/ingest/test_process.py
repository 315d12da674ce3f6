"""The ingest child process ends when its ingest crashes, so that the worker starts another, and
gathers CDRs for as long as the worker tells it."""

import subprocess
import sys

import orjson

# The child's own entry point, with an ingest whose forwarding task fails at once (no Kafka needed).
CRASHING_CHILD = """
import asyncio, sys
from mode import Service
import pipeline.ingest.process as ingest_process
from pipeline.ingest.reader import CdrIngest

class CrashingIngest(CdrIngest):
    async def on_start(self) -> None:
        pass

    @Service.task
    async def _forward_forever(self) -> None:
        raise RuntimeError("lost the broker")

ingest_process.CdrIngest = CrashingIngest
sys.exit(asyncio.run(ingest_process.run_child()))
"""


def test_a_crashed_ingest_ends_its_process_with_a_failure():
    child = subprocess.Popen([sys.executable, "-c", CRASHING_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.wait(timeout=30) == 1  # stdin stays open: only the crash ends it
    finally:
        child.kill()


# The child's own entry point, with an ingest that reaches no broker and is never behind.
IDLE_CHILD = """
import asyncio, sys
from mode import Service
import pipeline.ingest.process as ingest_process
from pipeline.ingest.reader import CdrIngest

class IdleIngest(CdrIngest):
    async def on_start(self) -> None:
        pass

    async def lag(self) -> int:
        return 0

    @Service.task
    async def _forward_forever(self) -> None:
        await self.sleep(3600)

ingest_process.CdrIngest = IdleIngest
sys.exit(asyncio.run(ingest_process.run_child()))
"""


def test_the_child_gathers_for_as_long_as_the_worker_says_and_stops_when_its_input_closes():
    child = subprocess.Popen([sys.executable, "-c", IDLE_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert orjson.loads(child.stdout.readline())["linger"] == 0.15
        child.stdin.write(b'{"linger": 0.6}\n')
        child.stdin.flush()
        lingers = [orjson.loads(child.stdout.readline())["linger"] for _ in range(3)]
        assert lingers[-1] == 0.6
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
