"""The one way into ClickHouse: embedded chDB (`chdb://PATH`) or a server over HTTP(S).

Both are clickhouse-connect clients, so every caller runs the same SQL either way. chDB lets
one process own one data folder; the worker is that process, and the command line opens the
folder only when no worker runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from pipeline.settings import WarehouseUrl


def _open(url: WarehouseUrl, settings: Mapping[str, object] | None = None) -> Client:
    if url.interface == "chdb":
        return clickhouse_connect.get_client(interface="chdb", path=url.path, settings=settings)
    return clickhouse_connect.get_client(
        interface=url.interface,
        host=url.host,
        port=url.port,
        username=url.username,
        password=url.password,
        settings=settings,
    )


def connect(url: WarehouseUrl) -> Client:
    """A client whose current database is `url.database`, creating that database if missing."""
    if url.interface == "chdb":
        Path(url.path).mkdir(parents=True, exist_ok=True)
    client = _open(url)
    client.command(f"CREATE DATABASE IF NOT EXISTS `{url.database}`")  # name validated by settings
    client.database = url.database
    return client


def connect_read_only(url: WarehouseUrl, limits: Mapping[str, object]) -> Client:
    """A client on `url`'s database whose every query runs with the settings `limits` and then
    `readonly = 1`, which ClickHouse enforces: no writes, no DDL, no table functions that reach
    files or the network, and no setting changed afterwards (so no query lifts its limits)."""
    client = _open(url, {**limits, "readonly": 1})
    client.database = url.database
    return client
