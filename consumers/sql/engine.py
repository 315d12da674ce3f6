"""Read-only queries on the embedded warehouse, with limits of their own, off the event loop.

Each query thread holds a chDB session of its own on the worker's folder (chDB shares one engine
per process between sessions), set up with the limits and then `readonly = 1`, which ClickHouse
itself enforces: no writes, no DDL, no table functions that reach files or the network, and no
setting may be changed afterwards, so no query can lift its limits. The few things readonly
lets through that a shared warehouse must not (several statements in one request, KILL) are
refused here first, with ClickHouse's own error text.

`ReadOnlySql` answers in the format a client asks for (the SQL port, `cdrflow sql`);
`ReadOnlyRows` answers typed rows (custom reports), through read-only clients of the one
warehouse factory, so it reads a ClickHouse server as well as the folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import chdb
from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.settings import WarehouseUrl
from pipeline.warehouse import connect_read_only

READONLY_TEXT = "Code: 164. DB::Exception: default: Cannot execute query in readonly mode. (READONLY)"
ERROR_CODE = re.compile(r"Code: (\d+)\.")
READING_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "(")
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
PLACEHOLDER = re.compile(r"\{\s*[A-Za-z_]\w*\s*:")  # {name:Type}, bound by the server
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# How ClickHouse's HTTP handler answers some error codes; every other error is 500.
HTTP_STATUS = {164: 403, 497: 403, 516: 401, 62: 400, 60: 404, 81: 404}


@dataclass(frozen=True)
class SqlLimits:
    """What one ad-hoc query may use."""

    max_seconds: int = 30  # CDRFLOW_SQL_MAX_SECONDS
    max_rows: int = 1_000_000  # result rows
    max_memory_bytes: int = 2 << 30
    max_threads: int = max(1, (os.cpu_count() or 2) // 2)  # the other cores stay with the pipeline

    def settings(self) -> dict[str, object]:
        """The ClickHouse settings that hold a query to these limits."""
        return {
            "max_execution_time": self.max_seconds,
            "max_result_rows": self.max_rows,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_bytes,
            "max_threads": self.max_threads,
        }


class SqlError(Exception):
    """A refused or failed query: ClickHouse's error text and code, and the HTTP status for it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        found = ERROR_CODE.search(text)
        self.code = int(found.group(1)) if found else 1000
        self.text = text.strip()
        self.status = HTTP_STATUS.get(self.code, 500)


def statements(sql: str) -> list[str]:
    """The statements of `sql`, split at semicolons outside quotes and comments."""
    parts, start, i, n = [], 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            i += 1
            while i < n and sql[i] != c:
                i += 2 if sql[i] == "\\" else 1
        elif sql.startswith("--", i) or c == "#":
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif c == ";":
            parts.append(sql[start:i])
            start = i + 1
        i += 1
    parts.append(sql[start:])
    return [part for part in parts if strip_comments(part).strip()]


def string_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|#[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)


def check_reading(sql: str) -> str:
    """The one reading statement of `sql`, or SqlError as ClickHouse would answer."""
    found = statements(sql)
    if len(found) > 1:
        raise SqlError(
            "Code: 62. DB::Exception: Syntax error (Multi-statements are not allowed): failed at position "
            f"{len(found[0]) + 1} (end of query). (SYNTAX_ERROR)"
        )
    if not found:
        raise SqlError("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
    words = strip_comments(found[0]).split()
    if not words[0].upper().startswith(READING_STATEMENTS):
        raise SqlError(READONLY_TEXT)
    return found[0]


class ReadOnlySql:
    """Ad-hoc queries on the chDB folder `path`, each on one of `threads` read-only sessions."""

    def __init__(self, path: str, database: str, limits: SqlLimits, threads: int = 2) -> None:
        self.path = path
        self.database = database
        self.limits = limits
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sql")
        self.sessions = threading.local()

    def _session(self):
        session = getattr(self.sessions, "session", None)
        if session is None:
            session = chdb.connect(os.path.realpath(self.path))
            for name, value in {**self.limits.settings(), "readonly": 1}.items():
                session.query(f"SET {name} = {string_literal(value) if isinstance(value, str) else value}")
            self.sessions.session = session
        return session

    def run(
        self, sql: str, fmt: str, database: str | None = None, params: dict[str, str] | None = None,
        settings: dict[str, str] | None = None,
    ) -> bytes:  # fmt: skip
        """Run one reading statement; the output in `fmt` unless the query names its own FORMAT."""
        statement = check_reading(sql)
        database = database or self.database
        if not DATABASE_NAME.match(database):
            raise SqlError(f"Code: 81. DB::Exception: Database {database} does not exist. (UNKNOWN_DATABASE)")
        session = self._session()
        try:
            for name, value in (settings or {}).items():  # readonly refuses any change, in its own words
                if not SETTING_NAME.match(name):
                    raise SqlError(f"Code: 115. DB::Exception: Unknown setting '{name}'. (UNKNOWN_SETTING)")
                session.query(f"SET {name} = {string_literal(value)}")
            session.query(f"USE `{database}`")
            return session.query(statement, fmt, params=params or None).bytes()
        except SqlError:
            raise
        except Exception as error:
            raise SqlError(str(error)) from None

    async def query(self, *args, **kwargs) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: self.run(*args, **kwargs))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class ReadOnlyRows:
    """Read-only queries on the warehouse at `url` answering typed rows, held to `limits`: each
    thread has a read-only client of its own (a chDB handle, or HTTP to a server)."""

    def __init__(self, url: WarehouseUrl, limits: SqlLimits, threads: int = 2) -> None:
        self.url = url
        self.limits = limits
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="read-only")
        self.clients = threading.local()

    def rows(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """The column names and rows of one reading statement, here on the calling thread."""
        statement = check_reading(sql)
        client = getattr(self.clients, "client", None)
        if client is None:
            client = self.clients.client = connect_read_only(self.url, self.limits.settings())
        if not PLACEHOLDER.search(statement):
            params = None  # else clickhouse-connect would format them into the text with % (LIKE '44%' breaks)
        try:
            result = client.query(statement, parameters=params)
        except ClickHouseError as error:
            raise SqlError(str(error)) from None
        return list(result.column_names), result.result_rows

    async def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """rows() on this object's threads, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: self.rows(sql, params))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
