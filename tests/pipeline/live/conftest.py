from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from tests.warehouse_data import fresh_url


@pytest.fixture(scope="module")
def warehouse(clickhouse) -> Client:
    """The warehouse that sums each batch's live delta, as the worker's sink does."""
    client = connect(fresh_url(clickhouse, "live"))
    migrate(client)
    return client
