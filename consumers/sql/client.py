"""`cdrflow sql`: one ad-hoc query through the worker's SQL port, or on the folder when no worker runs."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from consumers.sql.engine import ReadOnlySql, SqlError, SqlLimits
from pipeline.settings import Settings

# CSV is written by the command line from typed rows (consumers.reports.table), with the cell rule of every report.
FORMATS = {"table": "PrettyCompactMonoBlock", "csv": "JSONCompactEachRowWithNamesAndTypes", "json": "JSON"}


class WorkerSqlPortClosed(Exception):
    """No worker answers on the SQL port and the warehouse is not a folder this process can open."""


def run_sql(settings: Settings, sql: str, params: dict[str, str], output: str) -> bytes:
    """The query's output for the `output` format (table, json; csv: typed rows for csv_from_typed_rows);
    SqlError as ClickHouse words it."""
    fmt = FORMATS[output]
    if settings.sql_port:
        query = urllib.parse.urlencode({"default_format": fmt, **{f"param_{k}": v for k, v in params.items()}})
        headers = {"X-ClickHouse-Key": settings.api_token} if settings.api_token else {}
        request = urllib.request.Request(
            f"http://127.0.0.1:{settings.sql_port}/?{query}", data=sql.encode(), headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.sql_max_seconds + 30) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise SqlError(error.read().decode(errors="replace")) from None
        except urllib.error.URLError:
            pass  # no worker: the folder is free
    if settings.clickhouse.interface != "chdb":
        raise WorkerSqlPortClosed(
            f"no worker answers on CDRFLOW_SQL_PORT {settings.sql_port}; query {settings.clickhouse.display} directly"
        )
    engine = ReadOnlySql(settings.clickhouse.path, settings.clickhouse.database, SqlLimits(settings.sql_max_seconds), 1)
    try:
        return engine.executor.submit(engine.run, sql, fmt, params=params).result()
    finally:
        engine.close()
