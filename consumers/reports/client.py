"""Answering a report for the command line: through the running worker, or from the warehouse.

chDB allows one process per data folder, so while a worker runs the command line asks the
worker's API; when none answers, it opens the warehouse itself.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal

import orjson
from clickhouse_connect.driver.client import Client

from consumers.reports.custom import FIELDS, CustomReports
from consumers.reports.request import answer, parse_report, query_runner, render, report_warnings
from consumers.sql.engine import ReadOnlyRows, SqlLimits
from consumers.store import HERE, SavedTable, UnknownName
from consumers.worker import ask_worker_else_folder, say_warnings
from pipeline.settings import Settings
from queries.metrics import MONEY_COLUMNS
from queries.per_number import MAX_CALLS_PER_PAGE


def answer_report(settings: Settings, kind: str, params: Mapping[str, Sequence[str]], quiet: bool = False) -> bytes:
    """The report, rendered; its warnings said on standard error unless `quiet`."""
    request = parse_report(kind, params)  # refuse a bad request before reaching anything
    path = f"/api/reports/{kind}?" + urllib.parse.urlencode(params, doseq=True)

    def on_folder(client: Client) -> bytes:
        run_query = query_runner(lambda: client)
        if not quiet:
            say_warnings(report_warnings(request, run_query))
        return answer(request, run_query, settings.currency)

    return ask_worker_else_folder(settings, "GET", path, None, on_folder, raw=True, quiet=quiet)


def answer_every_call(settings: Settings, params: Mapping[str, Sequence[str]]) -> bytes:
    """A Per Number call list whole, in the format asked: asked a page at a time (each a JSON
    list of every column), so that neither the worker nor the answer holds more than a page."""
    request = parse_report("per-number", params)
    asked = {name: values for name, values in params.items() if name not in ("columns", "format", "limit", "after")}
    calls: list[dict] = []
    after: list[str] = []
    while True:
        page_params = {**asked, "format": ["json"], "limit": [str(MAX_CALLS_PER_PAGE)], "after": after}
        asked_page = {k: v for k, v in page_params.items() if v}
        page = orjson.loads(answer_report(settings, "per-number", asked_page, quiet=bool(after)))
        calls += [{k: Decimal(v) if k in MONEY_COLUMNS else v for k, v in call.items()} for call in page]
        if len(page) < MAX_CALLS_PER_PAGE:
            return render(request, calls, None, settings.currency)
        after = [f"{page[-1]['start_time']},{page[-1]['id']}"]


def direct_custom_reports(settings: Settings, client: Client) -> CustomReports:
    """Custom reports on the warehouse itself (no worker runs), `client` keeping them."""

    reader = ReadOnlyRows(settings.clickhouse, SqlLimits(settings.sql_max_seconds), threads=1)
    return CustomReports(SavedTable(lambda: client, "custom_reports", FIELDS), HERE, reader.query)


def answer_custom(settings: Settings, name: str, params: Mapping[str, Sequence[str]]) -> bytes:
    path = f"/api/reports/custom/{urllib.parse.quote(name, safe='')}?" + urllib.parse.urlencode(params, doseq=True)

    def on_folder(client: Client) -> bytes:
        reports = direct_custom_reports(settings, client)

        async def run() -> bytes:
            return await reports.answer(await reports.get(name), params)

        return asyncio.run(run())

    return ask_worker_else_folder(settings, "GET", path, None, on_folder, raw=True)


def custom_command(settings: Settings, action: str, name: str | None = None, fields: dict | None = None) -> object:
    """add (fields), list, show (name), remove (name): through the worker, or on the warehouse."""
    one = "/api/custom-reports/" + urllib.parse.quote(name or "", safe="")
    method, path, body = {
        "add": ("POST", "/api/custom-reports", fields),
        "list": ("GET", "/api/custom-reports", None),
        "show": ("GET", one, None),
        "remove": ("DELETE", one, None),
    }[action]

    async def run(reports: CustomReports) -> object:
        if action == "add":
            return await reports.add(fields or {})
        if action == "list":
            return await reports.list()
        if action == "show":
            return asdict(await reports.get(name or ""))
        if not await reports.remove(name or ""):
            raise UnknownName(f"no custom report named {name!r}")
        return {"removed": name}

    return ask_worker_else_folder(
        settings, method, path, body, lambda client: asyncio.run(run(direct_custom_reports(settings, client)))
    )
