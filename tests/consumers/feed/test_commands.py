"""`cdrflow generate` and `cdrflow replay` against the real broker."""

import asyncio
import os
import subprocess
import sys

import orjson
from aiokafka import AIOKafkaConsumer

from pipeline.topics import ensure_topics


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
    assert sorted(asyncio.run(topic_values(settings, len(lines)))) == sorted(lines)


def test_replay_of_a_missing_file_is_a_usage_error(settings, tmp_path):
    done = cdrflow(settings, tmp_path, "replay", str(tmp_path / "nope.csv"))
    assert done.returncode == 2 and "no such file" in done.stderr


def test_generate_sends_rate_times_seconds_cdrs(settings, tmp_path):
    asyncio.run(ensure_topics(settings))
    done = cdrflow(settings, tmp_path, "generate", "--rate", "700", "--seconds", "2", "--seed", "5")
    assert done.returncode == 0, done.stderr
    values = asyncio.run(topic_values(settings, 1400))
    assert len(values) == 1400
    assert {orjson.loads(v)["customer"] for v in values} <= {f"cust-{i:03d}" for i in range(1, 21)}
