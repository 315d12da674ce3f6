"""The ingest child process ends when its ingest crashes, so that the worker starts another."""

import subprocess
import sys

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
