"""A timer that meets an error logs one line, counts it, and runs again."""

import asyncio
import logging

from pipeline.metrics import WorkerMetrics
from pipeline.timers import guarded


async def test_an_error_is_one_line_and_a_count_and_the_next_run_goes_on(caplog):
    metrics = WorkerMetrics()
    runs = []

    async def report_progress() -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise ConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]\n(a second line)")

    timer = guarded(report_progress, 10.0, metrics)
    assert metrics.timer_failures == {"report_progress": 0}
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            await timer()
    assert runs == [0, 1, 2]
    assert metrics.timer_failures == {"report_progress": 2}
    assert [r.getMessage() for r in caplog.records] == [
        "timer report_progress failed, runs again in 10 s: ConnectionError: Unable to bootstrap from "
        "[('127.0.0.1', 9092)]"
    ] * 2
    assert all(r.exc_info is None for r in caplog.records), "an expected outage leaves no traceback"


async def test_cancelling_the_worker_still_stops_a_guarded_timer():
    async def forever() -> None:
        await asyncio.sleep(60)

    task = asyncio.ensure_future(guarded(forever, 1.0, WorkerMetrics())())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
