"""Read-only queries on the embedded warehouse, with limits of their own, off the event loop.

Each query thread holds a chDB session of its own on the worker's folder (chDB shares one engine
per process between sessions), set up with the limits and then `readonly = 1`, which ClickHouse
itself enforces: no writes, no DDL, no table functions that reach files or the network, and no
setting may be changed afterwards, so no query can lift its limits. What readonly lets through
that a shared warehouse must not (INTO OUTFILE, which the embedded engine's client side writes;
the private tables; KILL) is refused first by consumers.sql.guard, from ClickHouse's own parse
of the statement, with ClickHouse's own error text.

`ReadOnlySql` answers in the format a client asks for (the SQL port, `cdrflow sql`);
`ReadOnlyRows` answers typed rows (custom reports), through read-only clients of the one
warehouse factory, so it reads a ClickHouse server as well as the folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import chdb
import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from consumers.sql.errors import SqlError
from consumers.sql.guard import SELECTS, check_statement
from pipeline.settings import WarehouseUrl
from pipeline.warehouse.client import connect_read_only

SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
PLACEHOLDER = re.compile(r"\{\s*[A-Za-z_]\w*\s*:")  # {name:Type}, bound by the server
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Formats whose output, written block by block, is the blocks' outputs one after the other. The
# engine writes a format's header (names, types), prefix or suffix once per streamed block, so
# others (RowBinaryWithNamesAndTypes, which the JDBC driver asks for; JSON; CSVWithNames) are
# answered whole, within CDRFLOW_SQL_MAX_RESULT_MB.
STREAMED_FORMATS = frozenset((
    "Native", "RowBinary", "TabSeparated", "TSV", "TabSeparatedRaw", "TSVRaw", "CSV", "JSONEachRow",
    "JSONCompactEachRow", "JSONStringsEachRow", "JSONCompactStringsEachRow", "JSONLines", "NDJSON",
))  # fmt: skip
ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"})


@dataclass(frozen=True)
class SqlLimits:
    """What one ad-hoc query may use."""

    max_seconds: int = 30  # CDRFLOW_SQL_MAX_SECONDS
    max_rows: int = 1_000_000  # result rows
    max_result_mb: int = 100  # CDRFLOW_SQL_MAX_RESULT_MB
    max_memory_bytes: int = 2 << 30
    max_threads: int = max(1, (os.cpu_count() or 2) // 2)  # the other cores stay with the pipeline

    def settings(self) -> dict[str, object]:
        """The ClickHouse settings that hold a query to these limits."""
        return {
            "max_execution_time": self.max_seconds,
            "max_result_rows": self.max_rows,
            "max_result_bytes": self.max_result_mb << 20,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_bytes,
            "max_threads": self.max_threads,
        }


def string_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parameter_value(value: object) -> object:
    """A query parameter as chDB takes it: text in ClickHouse's escaped form (as param_ values over HTTP)."""
    return value.translate(ESCAPES) if isinstance(value, str) else value


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

    def chunks(
        self, sql: str, fmt: str, database: str | None = None, params: dict[str, str] | None = None,
        settings: dict[str, str] | None = None,
    ) -> Iterator[bytes]:  # fmt: skip
        """Run one reading statement here, on the calling thread; its output in `fmt` (unless the
        query names its own FORMAT) as the engine produces it, block by block."""
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

            def ask(query: str, values: dict) -> list:
                try:
                    answer = session.query(
                        query, "JSONCompactEachRow", params={k: parameter_value(v) for k, v in values.items()}
                    )
                except Exception as error:
                    raise SqlError(str(error)) from None
                return [orjson.loads(line) for line in answer.bytes().splitlines() if line.strip()]

            kind = check_statement(sql, database, ask, self.database)
            if kind not in SELECTS or fmt not in STREAMED_FORMATS:  # the engine streams SELECTs only
                yield session.query(sql, fmt, params=params or None).bytes()
                return
            result = session.send_query(sql, fmt, params=params or None)
        except SqlError:
            raise
        except Exception as error:
            raise SqlError(str(error).removeprefix("Streaming query failed: ")) from None
        finished = False
        try:
            for chunk in result:
                yield chunk.bytes()
            finished = True
        except Exception as error:
            finished = True
            raise SqlError(str(error).removeprefix("Streaming query failed: ")) from None
        finally:
            if not finished:  # the reader stopped early: the engine stops too
                result.cancel()

    def run(self, *args, **kwargs) -> bytes:
        """chunks() as one answer."""
        return b"".join(self.chunks(*args, **kwargs))

    async def query(self, *args, **kwargs) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: self.run(*args, **kwargs))

    async def stream(self, *args, **kwargs) -> AsyncIterator[bytes]:
        """chunks() on this object's threads, handed to the event loop a block at a time (at most two
        blocks wait while the client reads: a large result is never held whole)."""
        loop = asyncio.get_running_loop()
        blocks: asyncio.Queue = asyncio.Queue(maxsize=2)
        stopped = threading.Event()

        def produce() -> None:
            try:
                for block in self.chunks(*args, **kwargs):
                    if stopped.is_set():
                        return
                    asyncio.run_coroutine_threadsafe(blocks.put(block), loop).result()
                end: object = None
            except Exception as error:
                end = error
            if not stopped.is_set():
                asyncio.run_coroutine_threadsafe(blocks.put(end), loop).result()

        producing = loop.run_in_executor(self.executor, produce)
        try:
            while (block := await blocks.get()) is not None:
                if isinstance(block, Exception):
                    raise block
                yield block
        finally:
            stopped.set()
            while not blocks.empty():  # let a producer waiting to put see the stop
                blocks.get_nowait()
            await asyncio.shield(producing)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def guarded_rows(client: Client, sql: str, params: dict | None, database: str) -> tuple[list[str], list[tuple]]:
    """The column names and rows of one SELECT on the read-only `client`, once the guard let it
    through; a refusal or a failure is a SqlError with ClickHouse's text."""
    if not PLACEHOLDER.search(sql):
        params = None  # else clickhouse-connect would format them into the text with % (LIKE '44%' breaks)

    def ask(query: str, values: dict) -> list:
        try:
            return client.query(query, parameters=values).result_rows
        except ClickHouseError as error:
            raise SqlError(str(error)) from None

    check_statement(sql, database, ask, database, kinds=SELECTS)
    try:
        result = client.query(sql, parameters=params)
    except ClickHouseError as error:
        raise SqlError(str(error)) from None
    return list(result.column_names) or described_names(client, sql, params), result.result_rows


def described_names(client: Client, sql: str, params: dict | None) -> list[str]:
    """The column names of a SELECT that answered no rows (and so no block naming them), as
    ClickHouse describes the query; none when it cannot (a statement that names its own FORMAT)."""
    try:
        # the SELECT passed the guard; the line break ends a trailing comment before the bracket
        described = client.query(f"DESCRIBE TABLE ({sql.strip().rstrip(';')}\n)", parameters=params)
    except ClickHouseError:
        return []
    return [row[0] for row in described.result_rows]


class ReadOnlyRows:
    """Read-only queries on the warehouse at `url` answering typed rows, held to `limits`: each
    thread has a read-only client of its own (a chDB handle, or HTTP to a server)."""

    def __init__(self, url: WarehouseUrl, limits: SqlLimits, threads: int = 2) -> None:
        self.url = url
        self.limits = limits
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="read-only")
        self.clients = threading.local()

    def rows(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """The column names and rows of one SELECT, here on the calling thread."""
        client = getattr(self.clients, "client", None)
        if client is None:
            client = self.clients.client = connect_read_only(self.url, self.limits.settings())
        return guarded_rows(client, sql, params, self.url.database)

    async def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """rows() on this object's threads, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: self.rows(sql, params))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
