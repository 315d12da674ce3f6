"""The reports as the worker answers them: the built-in ones on its warehouse thread (with chDB,
the worker's own engine), custom reports on read-only threads of their own."""

from __future__ import annotations

from functools import cache

from consumers.reports.custom import FIELDS, CustomReports
from consumers.reports.request import query_runner
from consumers.sql.engine import ReadOnlyRows, SqlLimits
from consumers.store import SavedTable
from pipeline.app import settings, sink

query_warehouse = query_runner(lambda: sink.client)  # on the warehouse thread, through sink.run


@cache
def custom_reports() -> CustomReports:
    reader = ReadOnlyRows(settings.clickhouse, SqlLimits(settings.sql_max_seconds))
    return CustomReports(SavedTable(lambda: sink.client, "custom_reports", FIELDS), sink.run, reader.query)
