"""ClickHouse's HTTP interface on CDRFLOW_SQL_PORT, read-only, over the worker's embedded warehouse.

So that clickhouse-connect, curl, Grafana, DBeaver and the ClickHouse JDBC driver connect to the
embedded warehouse as to a ClickHouse server: the query comes in the `query` parameter and/or
the body, `param_<name>` binds `{name:Type}`, the output format is the query's FORMAT clause,
else the `X-ClickHouse-Format` header, else `default_format`, else TabSeparated; `database` (or
`X-ClickHouse-Database`) picks the database; any other parameter is a setting, which readonly
refuses unless it leaves the value as it is. With CDRFLOW_API_TOKEN set, the token is the
password: basic auth with any user, `X-ClickHouse-Key`, `Authorization: Bearer`, or `password`.
Errors answer as ClickHouse does: its `Code: N. DB::Exception: ...` text, the code in
`X-ClickHouse-Exception-Code`, and its HTTP status.

From a browser, the worker's browser rules hold (pipeline.browser_rules: the Host must be this
server's, no cross-site request, no foreign Origin), with and without a token. At most
CDRFLOW_SQL_CONCURRENCY queries run at once, the next answering TOO_MANY_SIMULTANEOUS_QUERIES
(503); a result streams out block by block as the engine makes it, and compressing it runs off
the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import struct
import uuid

import lz4.block
from aiohttp import web
from clickhouse_cityhash.cityhash import CityHash128
from mode import Service

from consumers.sql.engine import ReadOnlySql, SqlError, SqlLimits
from pipeline.app import app, browser_rules, settings
from pipeline.browser_rules import BrowserRules

log = logging.getLogger(__name__)
# Parameters of the HTTP interface itself, not settings of the query.
HTTP_PARAMETERS = {
    "query", "database", "default_format", "user", "password", "query_id", "session_id", "session_timeout",
    "session_check", "compress", "decompress", "enable_http_compression", "wait_end_of_query",
    "send_progress_in_http_headers", "http_headers_progress_interval_ms", "buffer_size", "quota_key",
    "http_zlib_compression_level", "client_protocol_version", "extremes",
}  # fmt: skip
REQUIRED_PASSWORD = "Code: 194. DB::Exception: default: Password required for user default. (REQUIRED_PASSWORD)"
TOO_MANY_QUERIES = (
    "Code: 202. DB::Exception: Too many simultaneous queries. Maximum: {limit} (CDRFLOW_SQL_CONCURRENCY). "
    "(TOO_MANY_SIMULTANEOUS_QUERIES)"
)
BUFFER_BYTES = 1 << 20
BODY_SECONDS = 30.0  # the longest a client may take to send its query
# A connection that has not sent a whole request line and headers this long after it opened, or
# after its last answer, is closed (ClickHouse's keep_alive_timeout is 10 s too): a client that
# sends its headers a byte at a time holds no connection for long.
HEADER_SECONDS = 10.0
AUTHENTICATION_FAILED = (
    "Code: 516. DB::Exception: default: Authentication failed: password is incorrect, or there is no user "
    "with such name. (AUTHENTICATION_FAILED)"
)
CONTENT_TYPES = {
    "JSON": "application/json",
    "JSONCompact": "application/json",
    "JSONEachRow": "application/x-ndjson",
    "CSV": "text/csv",
    "CSVWithNames": "text/csv",
}


def given_password(request: web.Request) -> str | None:
    headers = request.headers
    if "X-ClickHouse-Key" in headers:
        return headers["X-ClickHouse-Key"]
    authorization = headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    return request.query.get("password")


def authentication_error(request: web.Request, token: str | None) -> SqlError | None:
    if not token:
        return None
    password = given_password(request)
    if password is None:
        return SqlError(REQUIRED_PASSWORD)
    if not hmac.compare_digest(password.encode(), token.encode()):
        return SqlError(AUTHENTICATION_FAILED)
    return None


def clickhouse_error(error: SqlError, query_id: str) -> web.Response:
    return web.Response(
        status=error.status,
        text=error.text + "\n",
        headers={"X-ClickHouse-Exception-Code": str(error.code), "X-ClickHouse-Query-Id": query_id},
    )


def native_compressed(data: bytes, block_bytes: int = 1 << 20) -> bytes:
    """`data` in ClickHouse's own compressed blocks, as the HTTP interface sends them for `compress=1`
    (the JDBC driver asks for it): per block a CityHash128 checksum (high half first), the method
    (0x82, LZ4), the compressed size with its 9-byte header, the raw size, then the LZ4 data."""
    blocks = []
    for start in range(0, len(data), block_bytes):
        raw = data[start : start + block_bytes]
        packed = lz4.block.compress(raw, store_size=False)
        block = struct.pack("<BII", 0x82, len(packed) + 9, len(raw)) + packed
        checksum = CityHash128(block)
        blocks.append(struct.pack("<QQ", checksum >> 64, checksum & (1 << 64) - 1) + block)
    return b"".join(blocks)


class SqlPort(Service):
    def __init__(
        self, engine: ReadOnlySql, host: str, port: int, rules: BrowserRules, token: str | None, concurrency: int,
        **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.engine = engine
        self.host = host
        self.port = port
        self.rules = rules
        self.token = token
        self.concurrency = concurrency
        self.running = 0
        self.runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        server = web.Application(client_max_size=16 << 20)
        server.router.add_route("GET", "/ping", self.ping)
        server.router.add_route("*", "/", self.answer)
        self.runner = web.AppRunner(server, access_log=None, keepalive_timeout=HEADER_SECONDS)
        await self.runner.setup()
        try:
            await web.TCPSite(self.runner, self.host, self.port).start()
        except OSError as error:  # a ClickHouse server on the same machine, say: the pipeline runs on without it
            log.error("ad-hoc SQL is off: cannot listen on %s:%d (CDRFLOW_SQL_PORT): %s", self.host, self.port, error)

    async def on_stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.engine.close()

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def answer(self, request: web.Request) -> web.StreamResponse:
        params = request.query
        query_id = params.get("query_id") or str(uuid.uuid4())
        refusal = self.rules.refusal(request.headers)
        if refusal is not None:
            return clickhouse_error(
                SqlError(f"Code: 497. DB::Exception: refused: {refusal}. (ACCESS_DENIED)"), query_id
            )
        error = authentication_error(request, self.token)
        if error is not None:
            return clickhouse_error(error, query_id)
        if self.running >= self.concurrency:
            return clickhouse_error(SqlError(TOO_MANY_QUERIES.format(limit=self.concurrency)), query_id)
        self.running += 1
        try:
            return await self._run(request, query_id)
        finally:
            self.running -= 1

    async def _run(self, request: web.Request, query_id: str) -> web.StreamResponse:
        params = request.query
        try:
            body = await asyncio.wait_for(request.read(), BODY_SECONDS) if request.can_read_body else b""
        except asyncio.TimeoutError:
            return clickhouse_error(
                SqlError("Code: 209. DB::Exception: Timeout reading the query. (SOCKET_TIMEOUT)"), query_id
            )
        sql = "\n".join(part for part in (params.get("query", ""), body.decode(errors="replace")) if part)
        fmt = request.headers.get("X-ClickHouse-Format") or params.get("default_format") or "TabSeparated"
        blocks = self.engine.stream(
            sql,
            fmt,
            database=request.headers.get("X-ClickHouse-Database") or params.get("database"),
            params={name[6:]: value for name, value in params.items() if name.startswith("param_")},
            settings={
                name: value
                for name, value in params.items()
                if name not in HTTP_PARAMETERS and not name.startswith("param_")
            },
        )  # fmt: skip
        # As ClickHouse's HTTP interface: the first buffer_size bytes (1 MiB), or the whole result with
        # wait_end_of_query=1, are held before the status is sent, so an error in them has its own status.
        limit = int(params["buffer_size"]) if params.get("buffer_size", "").isdigit() else BUFFER_BYTES
        first: list[bytes] = []
        held = 0
        try:
            while params.get("wait_end_of_query") == "1" or held < limit:
                block = await anext(blocks, None)
                if block is None:
                    break
                first.append(block)
                held += len(block)
        except SqlError as error:
            await blocks.aclose()
            return clickhouse_error(error, query_id)
        compress = params.get("compress") == "1"
        response = web.StreamResponse(
            headers={
                "Content-Type": CONTENT_TYPES.get(fmt, "text/plain"),
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Server-Display-Name": "cdrflow",
            },
        )
        if params.get("enable_http_compression") == "1":
            response.enable_compression()
        await response.prepare(request)
        loop = asyncio.get_running_loop()

        async def send(block: bytes) -> None:
            await response.write(await loop.run_in_executor(None, native_compressed, block) if compress else block)

        try:
            for block in first:
                await send(block)
            async for block in blocks:
                await send(block)
        except SqlError as error:  # past the first block the status is sent: the error ends the body, as ClickHouse's
            await response.write(f"\n{error.text}\n".encode())
        finally:
            await blocks.aclose()
        await response.write_eof()
        return response


if settings.sql_port and settings.clickhouse.interface == "chdb":
    app.service(
        SqlPort(
            ReadOnlySql(
                settings.clickhouse.path, settings.clickhouse.database,
                SqlLimits(settings.sql_max_seconds, max_result_mb=settings.sql_max_result_mb),
                threads=settings.sql_concurrency,
            ),
            settings.web_host,
            settings.sql_port,
            browser_rules,
            settings.api_token,
            settings.sql_concurrency,
        )
    )  # fmt: skip
