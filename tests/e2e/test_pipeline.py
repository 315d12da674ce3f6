"""End to end: CDRs into the real broker, a real worker process, totals out of ClickHouse."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from consumers.feed.producer import send_messages
from consumers.worker import WorkerProcess
from pipeline.topics import ensure_topics
from tests.cdr_factory import make_cdrs, newest_revisions, publish, truth_by_customer
from tests.chdb_query import aggregated_by_customer, query_chdb
from tests.services import DOCKER, pipeline_settings

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")

INVALID = [
    b"not json at all",
    b'{"id": "neg", "start_time": 1788220800000, "customer": "acme", "dest_number": "4477", "sip_code": 200, "customer_charge": -1}',
    b'{"id": "bad-sip", "start_time": 1788220800000, "customer": "acme", "dest_number": "4477", "sip_code": 42}',
    b'{"id": "x" , "start_time": "yesterday", "customer": "acme", "dest_number": "4477", "sip_code": 200}',
    b'{"id": "big", "start_time": 1788220800000, "customer": "acme", "dest_number": "4477", "sip_code": 486, "pad": "'
    + b"x" * 70000
    + b'"}',
]
EXPECTED_REASON_FIELDS = ["not JSON", "customer_charge", "sip_code", "start_time", "64 KiB", "element 1: dest_number"]
BAD_ELEMENT = {"id": "arr-bad", "start_time": 1788220800000, "customer": "acme", "dest_number": "44x", "sip_code": 200}


async def dead_letters(settings, count: int) -> list:
    consumer = AIOKafkaConsumer(
        settings.dlq_topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        found = []
        for _ in range(40):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += records
            if len(found) >= count:
                break
        return found
    finally:
        await consumer.stop()


def test_totals_equal_the_newest_revision_of_every_cdr_and_bad_input_is_dead_lettered(settings, tmp_path):
    events = make_cdrs(3000, seed=11)
    resent = events[::7]  # switches resending after a timeout
    late_lower = [dict(e, rev=0) for e in events if e.get("rev")][:50]  # a lower revision after a higher one
    good = events + resent + late_lower
    array = orjson.dumps([good[0], BAD_ELEMENT, good[1]])
    messages = [orjson.dumps(e) for e in good] + INVALID + [array]
    asyncio.run(ensure_topics(settings))
    asyncio.run(send_messages(settings, messages))

    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.start()
    try:
        seen = worker.wait_until_caught_up(len(messages))
    finally:
        worker.stop()
    assert seen["cdrflow_cdrs_invalid_total"] == len(INVALID) + 1

    truth = truth_by_customer(good)
    ch = tmp_path / "clickhouse"
    raw = query_chdb(
        ch,
        "SELECT customer, count(), countIf(sip_code BETWEEN 200 AND 299), sum(customer_charge), sum(provider_charge) "
        "FROM cdr FINAL GROUP BY customer",
    )
    assert {r[0]: (r[1], r[2], Decimal(r[3]), Decimal(r[4])) for r in raw} == truth
    assert aggregated_by_customer(ch) == truth
    by_dest = query_chdb(ch, "SELECT sum(attempts) FROM agg_number FINAL WHERE kind = 'dest'")
    assert int(by_dest[0][0]) == len(newest_revisions(good))

    letters = asyncio.run(dead_letters(settings, len(INVALID) + 1))
    assert len(letters) == len(INVALID) + 1
    reasons = [dict(r.headers)["cdrflow-reason"].decode() for r in letters]
    for expected in EXPECTED_REASON_FIELDS:
        assert any(expected in reason for reason in reasons), (expected, reasons)
    originals = {r.value for r in letters}
    assert set(INVALID) <= originals
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["cdrflow-source-topic"].decode() == settings.topic
        assert int(headers["cdrflow-source-offset"]) >= 0


def test_a_second_app_on_the_same_warehouse_counts_its_batches_too(kafka, settings, tmp_path):
    """A warehouse outlives its topics (a broker started afresh, a new app id, `make demo` run
    twice): batches at the same partitions and offsets are other batches, not replays."""
    first, second = make_cdrs(2000, seed=71), make_cdrs(2000, seed=72)
    other = pipeline_settings(kafka.url, f"{settings.app_id}-again", tmp_path)
    for app_settings, events in ((settings, first), (other, second)):
        publish(app_settings, events)
        worker = WorkerProcess.on_folder(app_settings, tmp_path)
        worker.start()
        try:
            worker.wait_until_caught_up(len(events))
        finally:
            worker.stop()
    aggregated = aggregated_by_customer(tmp_path / "clickhouse")
    assert aggregated == truth_by_customer(first + second)
