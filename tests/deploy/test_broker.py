"""deploy/kafka/broker: start, status, stop and restart of the project's own Kafka broker."""

import asyncio
import random
import socket
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.services import DOCKER, run_broker

pytestmark = pytest.mark.skipif(DOCKER, reason="tests the native broker script")


def free_port_pair() -> int:
    """A port p such that p and p + 1 (the controller) are free, below the ephemeral range: a port
    the kernel hands out to outgoing connections (a client retrying while the broker is away)
    could otherwise take one of them before the broker starts again."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(20000, low - 1), 200):
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def java_processes_of(data_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "kafka.Kafka" in cmdline and str(data_dir) in cmdline:
                pids.append(int(proc.name))
    return pids


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait(topic, value, key=b"k")
    await producer.stop()


async def consume_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        values: list[bytes] = []
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            values += [r.value for records in batch.values() for r in records]
            if values:
                return values
        return values
    finally:
        await consumer.stop()


def start_again(port: int, data_dir: Path) -> None:
    """Start a stopped broker on its old ports, which the kernel may hold a moment after the stop."""
    for attempt in range(3):
        done = run_broker("start", port, data_dir, check=False)
        if done.returncode == 0:
            return
        assert "exited during start" in done.stderr, done.stderr
        time.sleep(2 * (attempt + 1))
    raise AssertionError(f"the broker did not start again on port {port}:\n{done.stderr}")


def test_start_status_stop_and_restart_keep_data(tmp_path):
    port, data_dir = free_port_pair(), tmp_path / "kafka"
    try:
        started = run_broker("start", port, data_dir)
        assert started.stdout.strip().splitlines()[-1] == f"bootstrap=127.0.0.1:{port}"
        assert (data_dir / "logs" / "meta.properties").is_file()

        status = run_broker("status", port, data_dir, check=False)
        assert status.returncode == 0 and f"bootstrap=127.0.0.1:{port}" in status.stdout

        again = run_broker("start", port, data_dir)  # idempotent: the same broker, no second JVM
        assert again.stdout.strip() == f"bootstrap=127.0.0.1:{port}"
        assert len(java_processes_of(data_dir)) == 1

        bootstrap = f"127.0.0.1:{port}"
        asyncio.run(produce(bootstrap, "kept", b"survives a restart"))

        assert run_broker("stop", port, data_dir).stdout.strip() == "stopped"
        assert java_processes_of(data_dir) == []
        stopped = run_broker("status", port, data_dir, check=False)
        assert (stopped.returncode, stopped.stdout.strip()) == (3, "stopped")
        assert run_broker("stop", port, data_dir).returncode == 0  # stopping twice is fine

        start_again(port, data_dir)
        assert asyncio.run(consume_all(bootstrap, "kept")) == [b"survives a restart"]
    finally:
        run_broker("stop", port, data_dir, check=False)
    assert java_processes_of(data_dir) == []


def test_unknown_command_is_a_usage_error(tmp_path):
    done = run_broker("restart-everything", free_port_pair(), tmp_path, check=False)
    assert done.returncode == 2 and "usage" in done.stderr
