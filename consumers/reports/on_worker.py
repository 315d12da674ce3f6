"""The reports as the worker answers them: read through its report pool, held to
CDRFLOW_REPORT_MAX_SECONDS (pipeline.warehouse.reads); custom reports through the same pool,
read-only and guarded."""

from __future__ import annotations

from functools import cache

from consumers.on_worker import warehouse
from consumers.reports.custom import FIELDS, CustomReports
from consumers.reports.request import query_runner
from consumers.sql.engine import guarded_rows
from consumers.store import SavedTable
from pipeline.app import reads, settings
from pipeline.warehouse.client import current_client

query_warehouse = query_runner(current_client)  # on a read thread, through warehouse.report


async def read_custom(sql: str, params: dict) -> tuple[list[str], list[tuple]]:
    return await reads.run(lambda: guarded_rows(current_client(), sql, params, settings.clickhouse.database))


@cache
def custom_reports() -> CustomReports:
    return CustomReports(SavedTable(current_client, "custom_reports", FIELDS), warehouse, read_custom)
