"""`cdrflow generate` and `cdrflow replay` against the real broker."""

import asyncio
import os
import subprocess
import sys

import orjson
from aiokafka import AIOKafkaConsumer

from consumers.feed.producer import send_messages
from pipeline.ingest.reader import CdrIngest
from pipeline.metrics import WorkerMetrics
from pipeline.topics import ensure_topics
from tests.cdr_factory import make_cdrs


def env_for(settings) -> dict[str, str]:
    return {**os.environ, "CDRFLOW_BROKER": settings.broker, "CDRFLOW_TOPIC": settings.topic}


async def topic_values(settings, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        settings.topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        for _ in range(60):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values += [r.value for r in records]
            if len(values) >= count:
                break
    finally:
        await consumer.stop()
    return values


def cdrflow(settings, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", *args], env=env_for(settings), cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_replay_sends_every_line_of_a_jsonl_file(settings, tmp_path):
    asyncio.run(ensure_topics(settings))
    lines = [orjson.dumps({"id": f"r{i}", "n": i}) for i in range(2500)] + [b"not json"]
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    done = cdrflow(settings, tmp_path, "replay", str(path))
    assert done.returncode == 0, done.stderr
    assert f"replayed {len(lines)} message(s)" in done.stdout
    assert f"{len(lines)} event(s) in them are invalid: the worker puts them in {settings.dlq_topic}" in done.stdout
    assert sorted(asyncio.run(topic_values(settings, len(lines)))) == sorted(lines)


def test_replay_of_a_missing_file_is_a_usage_error(settings, tmp_path):
    done = cdrflow(settings, tmp_path, "replay", str(tmp_path / "nope.csv"))
    assert done.returncode == 2 and "no such file" in done.stderr


def test_generate_sends_rate_times_seconds_cdrs(settings, tmp_path):
    asyncio.run(ensure_topics(settings))
    done = cdrflow(settings, tmp_path, "generate", "--rate", "700", "--seconds", "2", "--seed", "5")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "1400/1400 CDR (100%)"  # progress lines without a terminal
    values = asyncio.run(topic_values(settings, 1400))
    assert len(values) == 1400
    assert {orjson.loads(v)["customer"] for v in values} <= {f"cust-{i:03d}" for i in range(1, 21)}


async def forward_everything(settings, messages: list[bytes]) -> None:
    """Send `messages` to the input topic and run the ingest until it has forwarded them all."""
    await ensure_topics(settings)
    await send_messages(settings, messages)
    ingest = CdrIngest(settings, WorkerMetrics())
    await ingest.start()
    try:
        for _ in range(300):
            if await ingest.lag() == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the ingest did not forward everything")
    finally:
        await ingest.stop()


def test_dlq_lists_each_refused_event_with_its_reason_and_source(settings, tmp_path):
    refused = [b'{"id": "no-customer-1", "rev": 0}', b"not json at all"]
    valid = [orjson.dumps(e) for e in make_cdrs(3, seed=5)]
    asyncio.run(forward_everything(settings, valid + refused))

    done = cdrflow(settings, tmp_path, "dlq", "--format", "json")
    assert done.returncode == 0, done.stderr
    letters = orjson.loads(done.stdout)
    assert sorted(letter["event"].encode() for letter in letters) == sorted(refused)
    assert all(letter["reason"] and letter["source"].startswith(f"{settings.topic}[") for letter in letters)

    table = cdrflow(settings, tmp_path, "dlq", "--limit", "1").stdout.splitlines()
    assert table[0].split() == ["time", "source", "reason", "event"]
    assert len(table) == 3 and table[2].rstrip().endswith(letters[-1]["event"])  # header, rule, one letter
