"""A warehouse that refuses inserts for longer than the batch topic's bound: the ingest holds the
input back, and nothing is lost or counted twice once the warehouse takes inserts again."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.worker import WorkerProcess
from tests.cdr_factory import make_cdrs, publish, truth_by_customer
from tests.chdb_query import aggregated_by_customer
from tests.faults import inject_faults
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")
LAG_LIMIT = 3


async def batch_topic_end(settings) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.batch_topic, p) for p in range(settings.partitions)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


def wait_for_steady(worker: WorkerProcess, name: str, value: float, timeout: float = 120) -> dict[str, float]:
    """Until the metric `name` has read `value` for 3 s (the ingest decides once a second)."""
    deadline = time.monotonic() + timeout
    steady_since = None
    while True:
        seen = worker.metrics()
        if seen[name] != value:
            steady_since = None
        elif steady_since is None:
            steady_since = time.monotonic()
        elif time.monotonic() - steady_since >= 3:
            return seen
        assert time.monotonic() < deadline, f"{name} never stayed {value}: {seen}\n{worker.tail()}"
        time.sleep(0.2)


def test_the_ingest_holds_back_while_the_warehouse_refuses_and_nothing_is_lost(settings, tmp_path):
    first = [make_cdrs(800, seed=90 + i, rerate_share=0.05) for i in range(4)]
    held = make_cdrs(6000, seed=99, rerate_share=0.05) + first[0][::10]  # with resends of refused batches
    events = [event for chunk in first for event in chunk] + held
    refusing = tmp_path / "refuse-inserts"
    refusing.touch()
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.env["CDRFLOW_BATCH_LAG_LIMIT"] = str(LAG_LIMIT)
    inject_faults(worker, refuse_inserts_while=str(refusing))
    worker.start()
    try:
        worker.wait_until_healthy()
        sent = 0
        for chunk in first:  # an ingest flush each, with a batch for each partition
            publish(settings, chunk)
            sent += len(chunk)
            while (seen := worker.metrics())["cdrflow_messages_total"] < sent and not seen["cdrflow_ingest_holding"]:
                time.sleep(0.1)
        seen = wait_for_steady(worker, "cdrflow_ingest_holding", 1)
        assert seen["cdrflow_sink_failures_total"] > 0 and seen["cdrflow_cdrs_applied_total"] == 0

        publish(settings, held)
        time.sleep(2)  # a flush read before the hold reaches the batch topic
        read, forwarded = worker.metrics()["cdrflow_messages_total"], asyncio.run(batch_topic_end(settings))
        time.sleep(8)
        seen = worker.metrics()
        assert seen["cdrflow_ingest_holding"] == 1
        assert seen["cdrflow_messages_total"] == read < len(events), "the input waits in its topic"
        assert asyncio.run(batch_topic_end(settings)) == forwarded, "no more batches pile up"
        assert seen["cdrflow_sink_failures_total"] > 0 and seen["cdrflow_cdrs_applied_total"] == 0

        refusing.unlink()
        worker.wait_until_caught_up(len(events))
        seen = wait_for_steady(worker, "cdrflow_ingest_holding", 0)  # the ingest decides once a second
    finally:
        worker.stop()
    assert seen["cdrflow_ingest_holding"] == 0
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(events)
