"""A cdrflow worker in a process of its own, as an operator runs it (demo, tests, benchmarks), and
the command line's way to a running worker's HTTP API (chDB allows one process per folder)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from pipeline.settings import Settings
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import pending_migrations
from queries.errors import ReportError
from queries.names import WARNING_HEADER


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def url_host(listening_on: str) -> str:
    """The host part of a URL that reaches a web server listening on `listening_on` from here."""
    if listening_on in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{listening_on}]" if ":" in listening_on else listening_on


class WorkerBusy(OSError):
    """The worker could not take the request now (every report thread taken); the CLI exits 69."""


class WarehouseNotReady(RuntimeError):
    """The warehouse has no cdrflow schema yet: no worker has run on it and nobody migrated it."""


def open_warehouse(settings: Settings) -> Client:
    """The warehouse itself, for a command run while no worker answers; refused without the schema."""
    client = connect(settings.clickhouse)
    if pending_migrations(client):
        raise WarehouseNotReady(
            f"the warehouse {settings.clickhouse.display} has no cdrflow schema yet: "
            "start `cdrflow worker` (or run `cdrflow migrate`) first"
        )
    return client


class WorkerProcess:
    @classmethod
    def on_folder(cls, settings: Settings, folder: Path) -> WorkerProcess:
        """A worker with `settings`' broker and topics, its chDB warehouse and state under `folder`."""
        env = {
            "CDRFLOW_BROKER": settings.broker,
            "CDRFLOW_TOPIC": settings.topic,
            "CDRFLOW_APP_ID": settings.app_id,
            "CDRFLOW_PARTITIONS": str(settings.partitions),
            "CDRFLOW_CLICKHOUSE": f"chdb://{folder / 'clickhouse'}",
            "CDRFLOW_DATA_DIR": str(folder / "var"),
            "CDRFLOW_WEB_PORT": str(free_port()),
            "CDRFLOW_SQL_PORT": str(free_port()),
        }
        return cls(env, folder)

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.port = int(env["CDRFLOW_WEB_PORT"])
        self.process: subprocess.Popen | None = None
        self.log = cwd / "worker.log"

    @property
    def host(self) -> str:
        """The address its web server listens on (loopback unless set)."""
        return url_host(self.env.get("CDRFLOW_WEB_HOST", "127.0.0.1"))

    def start(self, *options: str) -> None:
        """Start `cdrflow worker` with `options` added to its command line."""
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumers.cli", "worker", "--loglevel", "warn", *options],
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return {
            name: float(value)
            for name, _, value in (
                line.partition(" ") for line in text.splitlines() if line and not line.startswith("#")
            )
        }

    def _check_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"the worker is not running\n{self.tail()}")

    def wait_until_healthy(self, timeout: float = 120) -> None:
        """Until /api/health answers 200 (the worker consumes its partitions)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                with urllib.request.urlopen(f"http://{self.host}:{self.port}/api/health", timeout=5):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"worker not healthy after {timeout} s\n{self.tail()}")

    def wait_until_caught_up(self, messages: int = 0, timeout: float = 300, partitions: int = 4) -> dict[str, float]:
        """Until this process owns every partition, read `messages` input messages and has nothing left to apply."""
        deadline = time.monotonic() + timeout
        settled = 0
        while time.monotonic() < deadline:
            self._check_running()
            try:
                m = self.metrics()
            except OSError:
                time.sleep(0.5)
                continue
            owns_all = m["cdrflow_input_partitions"] == m["cdrflow_batch_partitions"] == partitions
            if owns_all and m["cdrflow_messages_total"] >= messages and m["cdrflow_lag"] == 0:
                settled += 1
                if settled >= 3:
                    return m
            else:
                settled = 0
            time.sleep(0.5)
        raise TimeoutError(f"worker did not catch up: {self.metrics()}\n{self.tail()}")

    def children(self) -> list[int]:
        """Pids of the worker's child processes (its ingest process)."""
        if self.process is None:
            return []
        tasks = Path(f"/proc/{self.process.pid}/task").glob("*/children")
        return [int(pid) for children in tasks for pid in children.read_text().split()]

    def kill(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def say_warnings(warnings: list[str]) -> None:
    """A report's warnings (a customer without traffic, say) on standard error, one a line."""
    for warning in warnings:
        print(f"cdrflow: warning: {warning}", file=sys.stderr)


def ask_worker(settings: Settings, method: str, path: str, body: object = None, quiet: bool = False) -> bytes | None:
    """The worker's answer to `method path`, or None when no worker answers on CDRFLOW_WEB_PORT;
    the answer's warnings (X-Cdrflow-Warning) are said on standard error unless `quiet`.

    A request the worker refuses (400, 404) raises ReportError with the worker's message; a worker
    too busy to take it (503) raises WorkerBusy with its message.
    """
    headers = {"Content-Type": "application/json"}
    if settings.api_token:
        headers["Authorization"] = f"Bearer {settings.api_token}"
    data = None if body is None else orjson.dumps(body)
    url = f"http://{url_host(settings.web_host)}:{settings.web_port}{path}"
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            if not quiet and response.headers.get(WARNING_HEADER):
                say_warnings(response.headers[WARNING_HEADER].split("; "))
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code in (400, 404):
            raise ReportError(orjson.loads(error.read())["error"]) from None
        if error.code == 503:
            raise WorkerBusy(orjson.loads(error.read()).get("error", "the worker is busy")) from None
        raise
    except urllib.error.URLError:
        return None


def ask_worker_else_folder(
    settings: Settings, method: str, path: str, body: object, on_folder: Callable[[Client], Any], raw: bool = False,
    quiet: bool = False,
) -> Any:  # fmt: skip
    """What a command answers: the running worker's answer to `method path` (its JSON read, or its
    bytes when `raw`); when no worker answers, `on_folder` with the warehouse itself (chDB allows
    one process per folder, so while a worker runs only the worker may open it)."""
    answer = ask_worker(settings, method, path, body, quiet)
    if answer is not None:
        return answer if raw else orjson.loads(answer)
    return on_folder(open_warehouse(settings))
