"""The worker's timers, each guarded: a run that meets an error (the broker or the warehouse away)
is one logged line and a count in /metrics (`cdrflow_timer_failures_total{timer=...}`), and the
timer runs again at its next interval. Faust ends a timer whose function raises, and nothing
would start it again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps

import faust

from pipeline.metrics import WorkerMetrics

log = logging.getLogger(__name__)
Timer = Callable[[], Awaitable[None]]


def one_line(error: BaseException) -> str:
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def guarded(fun: Timer, seconds: float, metrics: WorkerMetrics) -> Timer:
    """`fun`, its errors logged on one line and counted instead of ending the timer."""
    name = fun.__name__
    metrics.timer_failures[name] += 0  # listed in /metrics before its first failure

    @wraps(fun)
    async def run_once() -> None:
        try:
            await fun()
        except Exception as error:
            metrics.timer_failed(name)
            log.warning("timer %s failed, runs again in %g s: %s", name, seconds, one_line(error))

    return run_once


def every(app: faust.App, metrics: WorkerMetrics, seconds: float, on_leader: bool = False) -> Callable[[Timer], Timer]:
    """`@every(app, metrics, 10.0)`: a guarded Faust timer, run every `seconds` (on the leader only
    with `on_leader`)."""

    def register(fun: Timer) -> Timer:
        run_once = guarded(fun, seconds, metrics)
        app.timer(interval=seconds, on_leader=on_leader, name=fun.__name__)(run_once)
        return run_once

    return register
