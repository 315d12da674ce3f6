"""`cdrflow sql`: one ad-hoc query through the worker's SQL port, or on the folder when no worker runs."""

from __future__ import annotations

import csv
import io
import re
import urllib.error
import urllib.parse
import urllib.request

import orjson

from consumers.reports.table import csv_cell
from consumers.sql.engine import ReadOnlySql, SqlError, SqlLimits
from pipeline.settings import Settings

# CSV is written here from typed rows, so that text cells follow the CSV rule of every report.
FORMATS = {"table": "PrettyCompactMonoBlock", "csv": "JSONCompactEachRowWithNamesAndTypes", "json": "JSON"}
NUMERIC_TYPE = re.compile(r"^(Nullable\(|LowCardinality\()*(U?Int\d+|Float\d+|Decimal)")


class WorkerSqlPortClosed(Exception):
    """No worker answers on the SQL port and the warehouse is not a folder this process can open."""


def csv_from_typed_rows(answer: bytes) -> bytes:
    """JSONCompactEachRowWithNamesAndTypes as CSV with a header row: numbers as they are, text cells
    that start like a formula with a leading `'`. An answer in another format (the query named its
    own FORMAT) is left as it is."""
    lines = answer.splitlines()
    try:
        names, types, *rows = [orjson.loads(line) for line in lines if line.strip()]
    except (orjson.JSONDecodeError, ValueError):
        return answer
    numeric = [bool(NUMERIC_TYPE.match(t)) for t in types]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in names])
    for row in rows:
        writer.writerow([value if number else csv_cell(value) for value, number in zip(row, numeric)])
    return out.getvalue().encode()


def run_sql(settings: Settings, sql: str, params: dict[str, str], output: str) -> bytes:
    """The query's output in the `output` format (table, csv or json); SqlError as ClickHouse words it."""
    answer = run_in_format(settings, sql, params, FORMATS[output])
    return csv_from_typed_rows(answer) if output == "csv" else answer


def run_in_format(settings: Settings, sql: str, params: dict[str, str], fmt: str) -> bytes:
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
