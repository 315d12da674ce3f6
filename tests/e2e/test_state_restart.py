"""A worker killed and started again on the same disk reads only the changelog's tail."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, publish, truth_by_customer
from tests.chdb_query import aggregated_by_customer
from tests.services import DOCKER
from tests.state_on_disk import persisted_offsets

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")


async def changelog_ends(settings) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.state_changelog, p) for p in range(settings.partitions)]
        return {tp.partition: end for tp, end in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


def test_a_restart_on_the_same_disk_reads_only_the_changelog_written_after_the_store(settings, tmp_path):
    events = make_cdrs(60_000, seed=71, rerate_share=0.05)
    events += events[::40]
    publish(settings, events)
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.start()
    try:
        worker.wait_until_healthy()
        while worker.metrics()["cdrflow_cdrs_applied_total"] < 20_000:
            time.sleep(0.05)
        worker.kill()

        persisted = persisted_offsets(tmp_path)
        ends = asyncio.run(changelog_ends(settings))
        assert sorted(persisted) == list(range(settings.partitions))
        written = sum(ends.values())
        tail = sum(ends[p] - (persisted[p] + 1) for p in ends)
        assert written > 0 and tail < written / 2

        worker.start()
        seen = worker.wait_until_caught_up(timeout=300)
    finally:
        worker.stop()
    assert seen["cdrflow_state_changelog_read_total"] == tail, f"{written} changelog records in all"
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(events)
