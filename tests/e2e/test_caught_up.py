"""'Caught up through T' under a feed that never pauses: T follows the wall clock within seconds."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from consumers.feed.producer import send_paced
from consumers.feed.switch import FeedShape, SwitchFeed
from consumers.worker import WorkerProcess
from pipeline.topics import ensure_topics
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")
RATE, SECONDS = 2000, 120


def test_the_mark_trails_a_steady_2000_cdrs_a_second_by_a_few_seconds(settings, tmp_path):
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.start()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    feed = threading.Thread(
        target=loop.run_until_complete,
        args=(send_paced(settings, SwitchFeed(FeedShape(seed=51)), RATE, SECONDS, stop=stop),),
    )
    try:
        worker.wait_until_caught_up(0)
        feed.start()
        time.sleep(15)  # the feed under way
        trailing = []
        while feed.is_alive() and len(trailing) < SECONDS - 20:
            metrics = worker.metrics()
            trailing.append(time.time() - metrics["cdrflow_caught_up_through_seconds"])
            time.sleep(1)
        assert metrics["cdrflow_lag"] > 0 or metrics["cdrflow_cdrs_applied_total"] > 0
    finally:
        loop.call_soon_threadsafe(stop.set)
        feed.join()
        worker.stop()
    assert len(trailing) >= 45  # a look a second for most of the feed's two minutes
    # a batch's way through takes a second or two; a few more while ClickHouse merges on two cores
    assert max(trailing) < 10, f"seconds the mark trailed the wall clock, each second: {trailing}"
