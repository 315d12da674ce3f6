"""The one way into ClickHouse: embedded chDB (`chdb://PATH`) or a server over HTTP(S).

Both are clickhouse-connect clients, so every caller runs the same SQL either way. chDB lets
one process own one data folder; the worker is that process, and the command line opens the
folder only when no worker runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
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


_door = threading.local()


def serve_on_this_thread(client: Callable[[], Client]) -> None:
    """Make `client()` what `current_client()` answers on the calling thread (a door's thread)."""
    _door.client = client


def current_client() -> Client:
    """The client of the warehouse door whose thread calls: the sink's write thread, or a read
    thread (pipeline.warehouse.reads). Work handed to a door reaches the warehouse through this."""
    client = getattr(_door, "client", None)
    if client is None:
        raise RuntimeError("warehouse work runs on a door's thread (ClickHouseSink.run, WarehouseReads.run)")
    return client()
