from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pipeline.settings import Settings, WarehouseUrl
from tests.services import RunningBroker, RunningClickHouse, pipeline_settings, start_broker, start_clickhouse
from tests.sql_worker import sql_worker  # noqa: F401  (a fixture for the SQL port's tests)
from tests.warehouse_data import fresh_url, loaded  # noqa: F401  (loaded: a fixture for report tests)


@pytest.fixture(scope="session")
def kafka() -> Iterator[RunningBroker]:
    broker = start_broker()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def clickhouse() -> Iterator[RunningClickHouse]:
    server = start_clickhouse()
    yield server
    server.stop()


@pytest.fixture
def warehouse_url(clickhouse: RunningClickHouse) -> WarehouseUrl:
    """A database of this test's own in the session's ClickHouse."""
    return fresh_url(clickhouse, "test")


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(kafka: RunningBroker, topic_prefix: str, tmp_path) -> Settings:
    """Settings for this test: the session's broker, topics of its own."""
    return pipeline_settings(kafka.url, topic_prefix, tmp_path)
