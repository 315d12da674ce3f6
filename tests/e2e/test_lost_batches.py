"""Batches deleted from Kafka before the worker applied them stop it, loudly, unless told to go on."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from consumers.worker import WorkerProcess
from pipeline.events import parse_message
from pipeline.topics import ensure_topics
from tests.cdr_factory import BASE_MS, make_cdrs, truth_by_customer
from tests.chdb_query import aggregated_by_customer
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")


def batch(events: list[dict]) -> bytes:
    """A batch message as the ingest writes it: the CDRs' rows."""
    return orjson.dumps(
        [list(cdr) for e in events for cdr in parse_message(orjson.dumps(e), BASE_MS + 90 * 86_400_000)[0]]
    )


async def write_two_batches_and_delete_the_first(settings, lost: list[dict], kept: list[dict]) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_request_size=8 << 20)
    await producer.start()
    try:
        for events in (lost, kept):
            await producer.send_and_wait(settings.batch_topic, batch(events), partition=0)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:  # as retention would, while the warehouse was down
        await admin.delete_records({TopicPartition(settings.batch_topic, 0): RecordsToDelete(before_offset=1)})
    finally:
        await admin.close()


def test_batches_deleted_before_they_were_applied_stop_the_worker_until_it_is_told_to_go_on(settings, tmp_path):
    lost, kept = make_cdrs(50, seed=81, rerate_share=0), make_cdrs(60, seed=82, rerate_share=0)
    asyncio.run(write_two_batches_and_delete_the_first(settings, lost, kept))
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.start()
    try:
        assert worker.process.wait(120) == 69
        assert f"batches {settings.batch_topic}[0] 0..0 were deleted before this worker applied them" in worker.tail()

        worker.start("--skip-lost-batches")
        seen = worker.wait_until_caught_up(timeout=120)
    finally:
        worker.stop()
    assert seen["cdrflow_batches_lost_total"] == 1
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(kept)
