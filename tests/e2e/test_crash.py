"""No loss, no double counting across kill -9 of the worker at random moments, at a chosen
moment (between a batch's insert and its record), and across a changelog write or a live delta
the broker refuses."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from consumers.worker import WorkerProcess
from pipeline.state.cdr_state import marker_key
from pipeline.topics import topic_config, topic_specs
from tests.cdr_factory import BASE_MS, live_by_customer, live_truth_by_customer, make_cdrs, publish, truth_by_customer
from tests.chdb_query import aggregated_by_customer, query_chdb
from tests.faults import clear_faults, inject_faults
from tests.services import DOCKER
from tests.state_on_disk import state_values

pytestmark = pytest.mark.skipif(DOCKER, reason="the worker runs on the embedded chDB folder")


def assert_gone(pids: list[int], timeout: float = 20) -> None:
    """A killed worker's children notice and exit: none outlives its worker."""
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, f"processes {pids} outlived their killed worker"
        time.sleep(0.2)


def test_totals_survive_three_kill_9s_during_a_200k_replay(settings, tmp_path):
    events = make_cdrs(200_000, seed=23, rerate_share=0.05)
    events += events[::50]  # resends
    publish(settings, events)

    rng = random.Random()
    worker = WorkerProcess.on_folder(settings, tmp_path)
    kills = []
    try:
        for _ in range(3):
            worker.start()
            moment = rng.uniform(6.0, 16.0)
            time.sleep(moment)
            kills.append(round(moment, 1))
            children = worker.children()
            worker.kill()
            assert_gone(children)
        worker.start()
        seen = worker.wait_until_caught_up(timeout=400)
        assert worker.children(), "the worker runs its ingest in a child process"
    finally:
        worker.stop()
    assert seen["cdrflow_cdrs_invalid_total"] == 0

    aggregated = aggregated_by_customer(tmp_path / "clickhouse")
    assert aggregated == truth_by_customer(events), f"killed after {kills} s"
    raw = query_chdb(
        tmp_path / "clickhouse",
        "SELECT customer, count(), countIf(sip_code BETWEEN 200 AND 299), sum(customer_charge), sum(provider_charge) "
        "FROM cdr FINAL GROUP BY customer",
    )
    assert {r[0]: (r[1], r[2], Decimal(r[3]), Decimal(r[4])) for r in raw} == truth_by_customer(events)


async def limit_message_bytes(settings, topic: str, limit: int | None) -> None:
    """The topic's largest record batch: a small one makes the broker refuse writes to it; None
    gives back the topic's configuration as cdrflow creates it (the broker replaces a topic's whole
    configuration, so the rest of it is stated again)."""
    [spec] = [spec for spec in topic_specs(settings) if spec.name == topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        configs = dict(spec.config)
        if spec.retention_of is not None:
            configs["retention.ms"] = await topic_config(admin, spec.retention_of, "retention.ms")
        if limit is not None:
            configs["max.message.bytes"] = str(limit)
        [response] = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
        assert all(resource[0] == 0 for resource in response.resources), response
    finally:
        await admin.close()


async def commit_batch_topic_to_its_end(settings) -> None:
    """Commit the worker group's batch-topic offsets at the topic's end, once the stopped worker's
    session has expired (Kafka takes a commit from outside the group only when it is empty)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.batch_topic, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for _ in range(60):
            try:
                await consumer.commit(ends)
                return
            except KafkaError:
                await asyncio.sleep(1)
        raise AssertionError("the group never became empty")
    finally:
        await consumer.stop()


def within_forty_minutes(events: list[dict]) -> list[dict]:
    """The events with their start times folded into the first forty minutes of the factory's month:
    all of them end within the live windows' hour, and rerates still move CDRs between minutes."""
    return [dict(event, start_time=BASE_MS + (event["start_time"] - BASE_MS) % (40 * 60_000)) for event in events]


def live_last_hour(worker: WorkerProcess) -> tuple[int, dict[str, list]]:
    """The live clock's minute step and customer -> [attempts, customer_charge] over its last hour."""
    url = f"http://127.0.0.1:{worker.port}/api/live?group=customer&window=60"
    return live_by_customer(orjson.loads(urllib.request.urlopen(url).read()))


REFUSED_BY = {"state_changelog": "the state's changelog", "live_topic": "the live topic"}


@pytest.mark.parametrize("refusing", REFUSED_BY)
def test_a_write_the_broker_refuses_stops_the_worker_and_every_cdr_counts_once(settings, tmp_path, refusing):
    """The state's changelog or the live topic refuses a batch's write: the worker stops (exit 69)
    before recording the batch. After the restart the batch is planned again from its marker, its
    insert is dropped as a replay and its delta sent again: the warehouse and the live windows
    (rebuilt from the live topic) count each CDR once."""
    topic = getattr(settings, refusing)
    before, after = within_forty_minutes(make_cdrs(3000, seed=61)), within_forty_minutes(make_cdrs(3000, seed=62))
    after += before[::20]  # resends of ids recorded before the fault
    events = before + after
    publish(settings, before)
    worker = WorkerProcess.on_folder(settings, tmp_path)
    worker.start()
    try:
        worker.wait_until_caught_up(len(before))
        asyncio.run(limit_message_bytes(settings, topic, 64))
        publish(settings, after)
        assert worker.process.wait(120) == 69, f"the worker stops when {REFUSED_BY[refusing]} refuses a write"
        assert f"{REFUSED_BY[refusing]} did not take batch" in worker.tail()
        asyncio.run(limit_message_bytes(settings, topic, None))
        asyncio.run(commit_batch_topic_to_its_end(settings))  # as Faust may have, past the refused batch
        worker.start()
        seen = worker.wait_until_caught_up(timeout=300)  # the input was forwarded before the stop
        deadline = time.monotonic() + 60  # the live agent applies the last deltas after their batches
        while (live := live_last_hour(worker))[1] != live_truth_by_customer(events, live[0]):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    assert seen["cdrflow_sink_failures_total"] == 0
    assert aggregated_by_customer(tmp_path / "clickhouse") == truth_by_customer(events)
    clock_minute, got = live
    assert got == live_truth_by_customer(events, clock_minute) and got


def batches_applied(worker: WorkerProcess) -> float | None:
    """The worker's count of applied batches; None once it is dead."""
    try:
        return worker.metrics()["cdrflow_batches_applied_total"]
    except OSError:
        worker.process.wait(10)  # the connection dropped: the worker is dying
        return None


@pytest.mark.parametrize("seed", [5])
def test_a_kill_between_the_insert_and_the_record_counts_the_batch_once(settings, tmp_path, seed):
    """The worker dies right after the warehouse took a batch and before the state recorded it
    (the n-th insert, n drawn from the seed). The restarted worker plans that batch again from its
    marker and inserts it with the same token, which the warehouse drops."""
    chunks = [make_cdrs(1500, seed=seed * 100 + i, rerate_share=0.05) for i in range(6)]
    for later, earlier in zip(chunks[1:], chunks):
        later += earlier[::10]  # resends of ids in earlier batches
    events = [event for chunk in chunks for event in chunk]
    nth_insert = random.Random(seed).randint(3, 8)
    report = tmp_path / "killed-batch.json"
    worker = WorkerProcess.on_folder(settings, tmp_path)
    inject_faults(worker, kill_after_insert=f"{nth_insert}:{report}")
    worker.start()
    try:
        worker.wait_until_healthy()
        unsent = list(chunks)
        # one ingest flush each, applied before the next (a batch per partition), until the kill
        while unsent and (applied := batches_applied(worker)) is not None:
            publish(settings, unsent.pop(0))
            deadline = time.monotonic() + 120
            while batches_applied(worker) == applied:
                assert time.monotonic() < deadline, worker.tail()
                time.sleep(0.1)
        assert worker.process.wait(120) == -signal.SIGKILL, worker.tail()
        killed = orjson.loads(report.read_bytes())

        folder = tmp_path / "clickhouse"
        ids = ", ".join(f"'{cdr_id}'" for cdr_id in killed["ids"])
        stored = query_chdb(folder, f"SELECT uniqExact(id) FROM cdr WHERE id IN ({ids})")
        assert stored == [[len(killed["ids"])]], "the warehouse took the batch before the kill"
        marker = state_values(tmp_path, marker_key(killed["partition"]))[killed["partition"]]
        assert marker is None or int(marker) < killed["offset"], "the state did not record the batch"

        clear_faults(worker)
        worker.start()
        for chunk in unsent:
            publish(settings, chunk)
        seen = worker.wait_until_caught_up()
    finally:
        worker.stop()
    assert seen["cdrflow_batches_applied_total"] >= 1, "the batch is planned again after the restart"
    assert aggregated_by_customer(folder) == truth_by_customer(events)
    counted = query_chdb(folder, f"SELECT count() FROM cdr FINAL WHERE id IN ({ids})")
    assert counted == [[len(killed["ids"])]]
