"""The warehouse's reading door: a bounded pool of threads, each with a client of its own.

The sink writes on its own thread (pipeline.warehouse.sink); every read runs here, so a reader
never waits behind the sink and the sink never waits behind a reader. chDB runs the sessions of
one process side by side, as a ClickHouse server runs its connections. Each read is held to
`ReadLimits`, which ClickHouse enforces: a read past them stops and raises `ReadRefused`, naming
the limit. At most `threads` reads run and `waiting` more wait; the next is refused at once
(`ReadsBusy`) rather than queued behind work it cannot see the end of.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from clickhouse_connect.driver.client import Client

from pipeline.warehouse.client import serve_on_this_thread

T = TypeVar("T")
ERROR_CODE = re.compile(r"Code: (\d+)\.")
TIMEOUT_EXCEEDED, MEMORY_LIMIT_EXCEEDED, TOO_MANY_ROWS, TOO_MANY_ROWS_OR_BYTES = 159, 241, 158, 396


@dataclass(frozen=True)
class ReadLimits:
    """What one read of the warehouse may use.

    `max_seconds` is CDRFLOW_REPORT_MAX_SECONDS for reports; `setting` names it in refusals."""

    max_seconds: int = 60
    max_memory_bytes: int = 4 << 30
    max_rows_to_read: int = 0  # 0: no limit; the time limit bounds a scan already
    max_threads: int = 1  # threads of one read (the worker gives reports at most half its cores)
    setting: str = "CDRFLOW_REPORT_MAX_SECONDS"

    def settings(self) -> dict[str, object]:
        """The ClickHouse settings that hold a read to these limits."""
        return {
            "max_execution_time": self.max_seconds,
            "max_memory_usage": self.max_memory_bytes,
            "max_rows_to_read": self.max_rows_to_read,
            "max_threads": self.max_threads,
        }

    def refusal(self, error: Exception) -> str | None:
        """What a read past these limits is told, or None when `error` is not about them."""
        found = ERROR_CODE.search(str(error))
        code = int(found.group(1)) if found else None
        if code == TIMEOUT_EXCEEDED:
            return f"ran past {self.setting} = {self.max_seconds} s: narrow its range, groups or numbers"
        if code == MEMORY_LIMIT_EXCEEDED:
            return f"needed more than {self.max_memory_bytes >> 20} MB: narrow its range, groups or numbers"
        if code in (TOO_MANY_ROWS, TOO_MANY_ROWS_OR_BYTES):
            return "reads more rows than one report may: narrow its range, groups or numbers"
        return None


class ReadRefused(Exception):
    """A read stopped at its limits (the API answers 400 with the reason; the CLI exits 2)."""


class ReadsBusy(Exception):
    """Every read thread is busy and enough reads wait already (the API answers 503)."""


class WarehouseReads:
    """Reads on `threads` threads, each with the client `connect(settings)` made for it, where
    `settings` hold it to `limits`."""

    def __init__(
        self, connect: Callable[[dict[str, object]], Client], limits: ReadLimits, threads: int = 2,
        waiting: int = 16, name: str = "reads",
    ) -> None:  # fmt: skip
        self._connect = connect
        self.limits = limits
        self.name = name
        self.executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=name, initializer=serve_on_this_thread, initargs=(self._client,)
        )
        self.capacity = threads + waiting
        self.taken = 0
        self._taking = threading.Lock()
        self._here = threading.local()

    def _client(self) -> Client:
        """The calling read thread's client (made on its first read)."""
        client = getattr(self._here, "client", None)
        if client is None:
            client = self._here.client = self._connect(self.limits.settings())
        return client

    def _read(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except Exception as error:
            reason = self.limits.refusal(error)
            if reason is None:
                raise
            raise ReadRefused(reason) from None

    async def run(self, work: Callable[[], T]) -> T:
        """`work` on a read thread, where `current_client()` is that thread's client. A read whose
        caller stopped waiting still holds its place until ClickHouse ends it."""
        with self._taking:
            if self.taken >= self.capacity:
                raise ReadsBusy(f"{self.taken} reads are running or waiting: try again in a moment")
            self.taken += 1
        done = self.executor.submit(self._read, work)
        done.add_done_callback(self._release)
        return await asyncio.wrap_future(done)

    def _release(self, _: Future) -> None:
        with self._taking:
            self.taken -= 1

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
