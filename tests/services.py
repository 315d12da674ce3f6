"""The real services tests run against, started natively or, with CDRFLOW_TEST_DOCKER=1,
through testcontainers (apache/kafka and clickhouse/clickhouse-server images).

Natively, Kafka is the project's own broker (deploy/kafka/broker): the one `make test` started
(CDRFLOW_TEST_BROKER) or one this session starts and stops itself. ClickHouse is chDB in one
folder for the whole test process (chDB allows one folder per process); each test gets a
database of its own in it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BROKER_SCRIPT = ROOT / "deploy" / "kafka" / "broker"
DOCKER = os.environ.get("CDRFLOW_TEST_DOCKER") == "1"


@dataclass
class RunningBroker:
    bootstrap: str  # host:port
    stop: callable  # type: ignore[valid-type]

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"


def pipeline_settings(broker_url: str, prefix: str, folder: Path) -> Settings:
    """Settings for one test's pipeline: topics and app id named by `prefix`, state and chDB under `folder`."""
    return Settings.from_env(
        {
            "CDRFLOW_BROKER": broker_url,
            "CDRFLOW_TOPIC": f"{prefix}.cdr.rated",
            "CDRFLOW_DATA_DIR": str(folder / "var"),
            "CDRFLOW_CLICKHOUSE": f"chdb://{folder / 'clickhouse'}",
            "CDRFLOW_PARTITIONS": "4",
            "CDRFLOW_APP_ID": f"{prefix}-cdrflow",
        },
        env_file=None,
    )


def broker_env(port: int, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "KAFKA_PORT": str(port), "KAFKA_DATA_DIR": str(data_dir)}


def run_broker(command: str, port: int, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BROKER_SCRIPT), command], env=broker_env(port, data_dir), capture_output=True, text=True, timeout=180
    )
    if check and done.returncode != 0:
        raise AssertionError(f"broker {command} on port {port} exited {done.returncode}:\n{done.stderr}")
    return done


def start_broker() -> RunningBroker:
    given = os.environ.get("CDRFLOW_TEST_BROKER")
    if given:
        return RunningBroker(given.removeprefix("kafka://"), lambda: None)
    if DOCKER:
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer("apache/kafka:4.1.0").with_kraft()
        container.start()
        return RunningBroker(container.get_bootstrap_server(), container.stop)
    port = int(os.environ.get("CDRFLOW_TEST_KAFKA_PORT", "19092"))
    data_dir = Path(tempfile.mkdtemp(prefix="cdrflow-test-kafka-"))
    out = run_broker("start", port, data_dir)
    bootstrap = out.stdout.strip().splitlines()[-1].removeprefix("bootstrap=")
    return RunningBroker(bootstrap, lambda: run_broker("stop", port, data_dir))


@dataclass
class RunningClickHouse:
    url_base: str  # chdb://PATH or http://user:pass@host:port
    stop: callable  # type: ignore[valid-type]

    def url(self, database: str) -> str:
        if self.url_base.startswith("chdb://"):
            return self.url_base  # one database per test is set on the WarehouseUrl instead
        return f"{self.url_base}/{database}"


def start_clickhouse() -> RunningClickHouse:
    if DOCKER:
        from testcontainers.clickhouse import ClickHouseContainer

        container = ClickHouseContainer("clickhouse/clickhouse-server:25.8", port=8123)
        container.start()
        host, port = container.get_container_host_ip(), container.get_exposed_port(8123)
        return RunningClickHouse(f"http://{container.username}:{container.password}@{host}:{port}", container.stop)
    return RunningClickHouse(f"chdb://{tempfile.mkdtemp(prefix='cdrflow-test-chdb-')}", lambda: None)


def listening_on(port: int) -> set[str]:
    """The IPv4 addresses a TCP socket of this machine listens on at `port`."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            addresses.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return addresses
