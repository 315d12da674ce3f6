"""Custom reports: named, saved, read-only queries that take the filter bar's parameters.

A report's SQL is one SELECT that may use `{from:DateTime64(3)}`, `{to:DateTime64(3)}`,
`{tz:String}`, `{customers:Array(String)}` and `{providers:Array(String)}` (an empty array
means all). It runs read-only and held to the ad-hoc SQL limits (consumers.sql.engine), on
threads of its own, so a slow report never holds up the pipeline's warehouse thread. Saving
checks the query: one read-only SELECT of readable tables that runs on an empty range, else
refused with ClickHouse's reason.
Reports are kept in `custom_reports` (deploy/clickhouse/006_custom_reports.sql). What the query
is, and which tables it reads, is decided by ClickHouse's parser (consumers.sql.guard) when it is
saved and every time it runs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from zoneinfo import available_timezones

from clickhouse_connect.driver.client import Client

from consumers.reports.request import FORMATS, one_value, range_text, range_value, render_rows
from consumers.sql.errors import SqlError
from consumers.sql.guard import READABLE_TABLES
from consumers.store import SavedTable, UnknownName, Warehouse
from queries.errors import ReportError

NAME = re.compile(r"[a-z0-9_-]{1,64}")
FIELDS = ("name", "title", "description", "sql")
RUN_PARAMETERS = {"from", "to", "tz", "customer", "provider", "format"}
EMPTY_RANGE = datetime(2000, 1, 1, tzinfo=timezone.utc)  # from = to: nothing lies in it
ReadRows = Callable[[str, dict], Awaitable[tuple[list[str], list[tuple]]]]  # a read-only query's names and rows


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def refusal(error: SqlError) -> str:
    """ClickHouse's reason for refusing a report's query, in a line."""
    if error.code == 164:
        return f"a custom report is one read-only SELECT: {first_line(error.text)}"
    return first_line(error.text)


@dataclass(frozen=True)
class CustomReport:
    name: str
    sql: str
    title: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ReportError(f"name: 1 to 64 characters of a-z, 0-9, _ and -, not {self.name!r}")
        if len(self.title) > 200 or any(c in self.title for c in "\r\n"):
            raise ReportError("title: at most 200 characters on one line")
        if len(self.description) > 2000:
            raise ReportError("description: at most 2000 characters")
        if not self.sql.strip():
            raise ReportError("sql: required")

    @property
    def heading(self) -> str:
        return self.title or self.name


def custom_report_from(fields: Mapping[str, object]) -> CustomReport:
    """A custom report from JSON-like fields: `name` and `sql` required, `title` and `description` text."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ReportError(f"unknown field {unknown[0]!r}")
    for name, value in fields.items():
        if not isinstance(value, str):
            raise ReportError(f"{name}: a string")
    if "name" not in fields or "sql" not in fields:
        raise ReportError("name and sql are required")
    return CustomReport(**fields)  # type: ignore[arg-type]


def query_parameters(
    start: datetime, end: datetime, tz: str, customers: Sequence[str], providers: Sequence[str]
) -> dict:
    return {"from": start, "to": end, "tz": tz, "customers": list(customers), "providers": list(providers)}


@dataclass(frozen=True)
class CustomRun:
    """One run of a custom report over [start, end) with the filter bar's zone and filters."""

    report: CustomReport
    start: datetime
    end: datetime
    tz: str = "UTC"
    customers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    format: str = "json"

    def __post_init__(self) -> None:
        if self.tz not in available_timezones() and self.tz != "UTC":
            raise ReportError(f"tz: unknown time zone {self.tz!r}")
        if self.format not in FORMATS:
            raise ReportError(f"format: unknown format {self.format!r}; formats are {', '.join(FORMATS)}")
        if self.start >= self.end:
            raise ReportError("from must be before to")

    @property
    def parameters(self) -> dict:
        return query_parameters(self.start, self.end, self.tz, self.customers, self.providers)

    @property
    def title(self) -> str:
        return f"{self.report.heading} {self.start.isoformat()} .. {self.end.isoformat()}"

    @property
    def span(self) -> str:
        return range_text(self.start, self.end, self.tz)


def parse_custom_run(report: CustomReport, params: Mapping[str, Sequence[str]]) -> CustomRun:
    """A run from the parameters the built-in reports take (repeat customer and provider for many)."""
    unknown = sorted(set(params) - RUN_PARAMETERS)
    if unknown:
        raise ReportError(f"unknown parameter {unknown[0]!r} for a custom report")
    return CustomRun(
        report, *range_value(params), one_value(params, "tz", "UTC"),
        tuple(params.get("customer", ())), tuple(params.get("provider", ())), one_value(params, "format", "json"),
    )  # fmt: skip


def readable_tables(client: Client) -> dict[str, list[dict]]:
    """The tables of docs/schema.md that the warehouse has, each with its columns' names and types."""
    result = client.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
        "AND table IN {tables:Array(String)} ORDER BY position",
        parameters={"tables": list(READABLE_TABLES)},
    )
    columns: dict[str, list[dict]] = {}
    for table, name, column_type in result.result_rows:
        columns.setdefault(table, []).append({"name": name, "type": column_type})
    return {table: columns[table] for table in READABLE_TABLES if table in columns}


def schedules_of(client: Client, name: str) -> list[str]:
    """The schedules that mail the custom report `name` (the schedules' own table, read as it is)."""
    found = client.query(
        "SELECT name FROM schedules FINAL WHERE report = {report:String} AND deleted = 0 ORDER BY name",
        parameters={"report": f"custom:{name}"},
    )
    return [row[0] for row in found.result_rows]


class CustomReports:
    """What `cdrflow custom`, `cdrflow report custom`, the API and schedules do with custom reports:
    kept through `warehouse`, run through `read` (read-only, held to the report limits)."""

    def __init__(self, saved: SavedTable, warehouse: Warehouse, read: ReadRows) -> None:
        self.saved = saved
        self.warehouse = warehouse
        self.read = read

    async def add(self, fields: Mapping[str, object]) -> dict:
        """Save a report (or replace one of the same name) once its query runs on an empty range."""
        report = custom_report_from(fields)
        try:
            await self.read(report.sql, query_parameters(EMPTY_RANGE, EMPTY_RANGE, "UTC", (), ()))
        except SqlError as error:
            raise ReportError(f"sql: {refusal(error)}") from None
        await self.warehouse.write(lambda: self.saved.save(asdict(report)))
        return asdict(report)

    async def list(self) -> list[dict]:
        return await self.warehouse.read(self.saved.rows)

    async def get(self, name: str) -> CustomReport:
        found = [row for row in await self.list() if row["name"] == name]
        if not found:
            raise UnknownName(f"no custom report named {name!r}")
        try:
            return CustomReport(**found[0])
        except ReportError as error:  # saved by hand, or by a version that allowed it
            raise ReportError(f"the saved custom report {name!r} is not valid: {error}") from None

    async def remove(self, name: str) -> bool:
        """Whether there was a report `name` to remove; one a schedule mails is refused, naming it."""
        users = await self.warehouse.read(lambda: schedules_of(self.saved.connected(), name))
        if users:
            raise ReportError(
                f"custom report {name!r} is mailed by the schedule{'s' if len(users) > 1 else ''} "
                f"{', '.join(users)}: remove or change {'them' if len(users) > 1 else 'it'} first"
            )
        return await self.warehouse.write(lambda: self.saved.remove(name))

    async def rows(self, report: CustomReport, parameters: dict) -> tuple[list[str], list[dict]]:
        """The report's column names and rows; a ReportError with ClickHouse's reason if it fails."""
        try:
            names, rows = await self.read(report.sql, parameters)
        except SqlError as error:
            raise ReportError(f"{report.name}: {refusal(error)}") from None
        return names, [dict(zip(names, row)) for row in rows]

    async def run(self, run: CustomRun) -> tuple[list[str], list[dict]]:
        return await self.rows(run.report, run.parameters)

    async def answer(self, report: CustomReport, params: Mapping[str, Sequence[str]]) -> bytes:
        """The report run with `params` (from, to, tz, customer, provider, format), rendered."""
        run = parse_custom_run(report, params)
        names, rows = await self.run(run)
        return await asyncio.to_thread(
            render_rows, names, rows, run.format, run.title, sheet=report.heading, span=run.span
        )
