"""A cdrflow worker in a process of its own, as an operator runs it, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.port = int(env["CDRFLOW_WEB_PORT"])
        self.process: subprocess.Popen | None = None
        self.log = cwd / "worker.log"

    def start(self) -> None:
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumers.cli", "worker", "--loglevel", "warn"],
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return {
            name: float(value)
            for name, _, value in (line.partition(" ") for line in text.splitlines() if line and not line.startswith("#"))
        }

    def wait_until_caught_up(self, messages: int = 0, timeout: float = 300) -> dict[str, float]:
        """Until this process read `messages` input messages and nothing is left to apply."""
        deadline = time.monotonic() + timeout
        settled = 0
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.tail()
            try:
                m = self.metrics()
            except OSError:
                time.sleep(0.5)
                continue
            if m["cdrflow_messages_total"] >= messages and m["cdrflow_lag"] == 0:
                settled += 1
                if settled >= 3:
                    return m
            else:
                settled = 0
            time.sleep(0.5)
        raise TimeoutError(f"worker did not catch up: {self.metrics()}\n{self.tail()}")

    def kill(self) -> None:
        assert self.process is not None
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


def query_chdb(path: Path, sql: str) -> list:
    """Rows of one query on a chDB folder, from a fresh process (the worker must be stopped)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.chdb_query", str(path), sql], capture_output=True, timeout=120, check=True
    )
    return orjson.loads(done.stdout)
