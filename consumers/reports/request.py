"""Report requests as the command line and the HTTP API take them, and their answers.

Both front ends hand over the same name -> values mapping (repeated names for many values,
comma lists for `group` and `columns`), so a request means the same thing wherever it is made.
Every error is a `ReportError` whose message names the offending parameter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, available_timezones

from clickhouse_connect.driver.client import Client

from consumers.reports import table as report_table
from consumers.reports.dates import resolve_range
from pipeline.warehouse.aggregates import BREAKOUT_METRICS
from queries.breakout import BreakoutQuery
from queries.errors import ReportError
from queries.metrics import COLUMNS, DTMF_COLUMNS, MONEY_COLUMNS, NUMBER_COLUMNS, UNITS, derive
from queries.names import filter_warnings
from queries.per_number import CALL_COLUMNS, CallPage, PerNumberQuery, next_after, parse_after
from queries.times import parse_moment
from queries.top_numbers import TOP_COLUMNS, TOP_LIMIT, TopNumbersQuery

FORMATS = {
    "json": "application/json",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
    "table": "text/plain",
}
KINDS = ("breakout", "dtmf", "per-number", "top-numbers")
HEADINGS = {"breakout": "Breakout", "dtmf": "DTMF", "per-number": "Per Number", "top-numbers": "Top Numbers"}
NONE_SHOWN = "(none)"  # an empty group value (an unrouted call's provider, say), where people read it
GROUPED = {"from", "to", "customer", "provider", "group", "columns", "tz", "format"}
PER_NUMBER = {
    "from", "to", "number", "by", "calls", "customer", "provider", "columns", "format", "tz", "limit", "after",
}  # fmt: skip
TOP_NUMBERS = {"from", "to", "by", "limit", "customer", "provider", "columns", "format", "tz"}
RunQuery = Callable[[str, dict], tuple[list[str], list[tuple]]]


def query_runner(connected: Callable[[], Client]) -> RunQuery:
    """A RunQuery over the warehouse client `connected()` returns (the worker's own, or a fresh one)."""

    def run_query(sql: str, parameters: dict) -> tuple[list[str], list[tuple]]:
        result = connected().query(sql, parameters=parameters)
        return list(result.column_names), result.result_rows

    return run_query


@dataclass(frozen=True)
class ReportRequest:
    kind: str
    query: BreakoutQuery | PerNumberQuery | TopNumbersQuery
    columns: tuple[str, ...]
    format: str
    calls: bool = False
    tz: str = "UTC"  # the zone call times are shown in
    # Only the rows whose first group shows one of these values (the rows a console filter left),
    # with a Total row of those rows; None: every row.
    keep: frozenset[str] | None = None
    page: CallPage = CallPage()  # of a call list

    @property
    def header(self) -> list[str]:
        if isinstance(self.query, BreakoutQuery):
            return [*self.query.groups, *self.columns]
        if isinstance(self.query, TopNumbersQuery):
            return ["number", *self.columns]
        return list(self.columns) if self.calls else ["number", "sip_code", *self.columns]

    @property
    def title(self) -> str:
        return f"{self.kind} {self.query.start.isoformat()} .. {self.query.end.isoformat()}"

    @property
    def heading(self) -> str:
        """The report's name as people read it (the XLSX sheet's name)."""
        return HEADINGS[self.kind]

    @property
    def span(self) -> str:
        """The range and zone, as the text table says it of an empty report."""
        tz = self.query.tz if isinstance(self.query, BreakoutQuery) else self.tz
        return range_text(self.query.start, self.query.end, tz)

    def shown(self, rows: list[dict]) -> list[dict]:
        """The rows as the formats people read show them: an empty group value as "(none)"."""
        groups = [g for g in self.query.groups if g in self.header] if isinstance(self.query, BreakoutQuery) else []
        return [{**row, **{g: NONE_SHOWN for g in groups if row[g] == ""}} for row in rows]


def range_text(start: datetime, end: datetime, tz: str) -> str:
    return f"{start.isoformat()} .. {end.isoformat()} ({tz})"


def one_value(params: Mapping[str, Sequence[str]], name: str, default: str | None = None) -> str:
    values = params.get(name) or ([] if default is None else [default])
    if not values:
        raise ReportError(f"{name}: required")
    if len(values) > 1:
        raise ReportError(f"{name}: given more than once")
    return values[0]


def range_value(params: Mapping[str, Sequence[str]]) -> tuple[datetime, datetime]:
    """`from` and `to`: RFC 3339 times, or local dates and words in the request's `tz` as the
    command line takes them (consumers.reports.dates)."""
    start, end = resolve_range(
        one_value(params, "from"), one_value(params, "to") if params.get("to") else None, one_value(params, "tz", "UTC")
    )
    return parse_moment("from", start), parse_moment("to", end)


def _list(params: Mapping[str, Sequence[str]], name: str, default: str) -> tuple[str, ...]:
    text = one_value(params, name, default)
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _columns(params: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> tuple[str, ...]:
    columns = _list(params, "columns", ",".join(allowed))
    bad = [c for c in columns if c not in allowed]
    if bad:
        raise ReportError(f"columns: unknown column {bad[0]!r}; columns are {', '.join(allowed)}")
    return columns


def _zone(params: Mapping[str, Sequence[str]]) -> str:
    tz = one_value(params, "tz", "UTC")
    if tz not in available_timezones() and tz != "UTC":
        raise ReportError(f"tz: unknown time zone {tz!r}")
    return tz


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ReportError(f"{name}: a whole number, not {text!r}") from None


def keeping(request: ReportRequest, fields: Mapping[str, object]) -> ReportRequest:
    """The request narrowed by a JSON body {"keep": [first group values]} (the console's export of
    the rows its filters left)."""
    unknown = sorted(set(fields) - {"keep"})
    if unknown:
        raise ReportError(f"unknown field {unknown[0]!r}; the body holds keep")
    keep = fields.get("keep")
    if not isinstance(keep, list) or not all(isinstance(v, (str, int)) for v in keep):
        raise ReportError("keep: a list of the first group's values")
    if not isinstance(request.query, BreakoutQuery) or not request.query.groups:
        raise ReportError("keep: for a report with row groups")
    return dataclasses.replace(request, keep=frozenset(str(v) for v in keep))


def parse_report(kind: str, params: Mapping[str, Sequence[str]]) -> ReportRequest:
    if kind not in KINDS:
        raise ReportError(f"unknown report {kind!r}; reports are {', '.join(KINDS)}")
    known = {"per-number": PER_NUMBER, "top-numbers": TOP_NUMBERS}.get(kind, GROUPED)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ReportError(f"unknown parameter {unknown[0]!r} for the {kind} report")
    output = one_value(params, "format", "json")
    if output not in FORMATS:
        raise ReportError(f"format: unknown format {output!r}; formats are {', '.join(FORMATS)}")
    if kind == "per-number":
        calls = one_value(params, "calls", "false").lower()
        if calls not in ("true", "false", "1", "0"):
            raise ReportError(f"calls: true or false, not {calls!r}")
        query = PerNumberQuery(
            *range_value(params), numbers=tuple(params.get("number", ())),
            by=one_value(params, "by", "dest"), customers=tuple(params.get("customer", ())),
            providers=tuple(params.get("provider", ())),
        )  # fmt: skip
        tz = _zone(params)
        listing = calls in ("true", "1")
        columns = _columns(params, CALL_COLUMNS if listing else NUMBER_COLUMNS)
        paging = {name: one_value(params, name) for name in ("limit", "after") if name in params}
        if paging and not listing:
            raise ReportError(f"{next(iter(paging))}: pages a call list (calls=true)")
        page = CallPage(
            _integer("limit", paging.get("limit", str(CallPage.limit))),
            parse_after(paging["after"]) if "after" in paging else None,
        )
        return ReportRequest(kind, query, columns, output, listing, tz, page=page)
    if kind == "top-numbers":
        query = TopNumbersQuery(
            *range_value(params), by=one_value(params, "by", "attempts"),
            limit=_integer("limit", one_value(params, "limit", str(TOP_LIMIT))),
            customers=tuple(params.get("customer", ())), providers=tuple(params.get("provider", ())),
        )  # fmt: skip
        return ReportRequest(kind, query, _columns(params, TOP_COLUMNS), output, tz=_zone(params))
    allowed = DTMF_COLUMNS if kind == "dtmf" else COLUMNS
    query = BreakoutQuery(
        *range_value(params),
        groups=_list(params, "group", "day,provider" if kind == "dtmf" else "customer,provider"),
        customers=tuple(params.get("customer", ())), providers=tuple(params.get("provider", ())),
        tz=one_value(params, "tz", "UTC"),
    )  # fmt: skip
    return ReportRequest(kind, query, _columns(params, allowed), output)


def report_rows(request: ReportRequest, run_query: RunQuery) -> list[dict]:
    """The report's rows: group cells as shown, then the metric columns (or the call list)."""
    query = request.query
    if isinstance(query, TopNumbersQuery):
        names, result = run_query(*query.sql())
        return [{"number": v["number"], **derive(v)} for v in (dict(zip(names, r)) for r in result)]
    if isinstance(query, PerNumberQuery):
        if request.calls:
            return call_page(request, run_query)[0]
        names, result = run_query(*query.summary_sql())
        return [
            {"number": v["number"], "sip_code": v["sip_code"], **derive(v)}
            for v in (dict(zip(names, r)) for r in result)
        ]
    return [{**groups, **derive(values)} for groups, values in _grouped_sums(request, run_query)]


def report_warnings(request: ReportRequest, run_query: RunQuery) -> list[str]:
    """What the request probably did not mean: customers or providers no CDR carries (queries.names)."""
    return filter_warnings(request.query.customers, request.query.providers, run_query)


def call_page(request: ReportRequest, run_query: RunQuery) -> tuple[list[dict], str | None]:
    """A call list's page of calls, and the `after` of the next page when more follow."""
    assert isinstance(request.query, PerNumberQuery)
    names, result = run_query(*request.query.calls_sql(request.page))
    more = len(result) > request.page.limit
    found = [dict(zip(names, row)) for row in result[: request.page.limit]]
    following = next_after(found[-1]["start_time"], found[-1]["id"]) if more else None
    zone = ZoneInfo(request.tz)
    return [_call(call, zone) for call in found], following


def _grouped_sums(request: ReportRequest, run_query: RunQuery) -> list[tuple[dict, dict]]:
    """Per row of a grouped report: its group cells as shown, and its metric sums."""
    query = request.query
    assert isinstance(query, BreakoutQuery)
    names, result = run_query(*query.sql())
    rows = []
    for values in (dict(zip(names, row)) for row in result):
        groups = {g: query.group_value(g, values[g]) for g in query.groups}
        if request.keep is None or str(groups[query.groups[0]]) in request.keep:
            rows.append((groups, values))
    return rows


def _kept_totals(grouped: list[tuple[dict, dict]]) -> dict:
    """The totals of the rows kept: their sums added here (exact, averages included)."""
    return derive({name: sum(values.get(name, 0) for _groups, values in grouped) for name in BREAKOUT_METRICS})


def answer(request: ReportRequest, run_query: RunQuery, currency: str = "") -> bytes:
    """The report, rendered: its rows and, where it has them, its totals."""
    return answer_page(request, run_query, currency)[0]


def answer_page(request: ReportRequest, run_query: RunQuery, currency: str = "") -> tuple[bytes, str | None]:
    """The report rendered, and for a call list with more calls, the `after` of its next page."""
    if request.calls:
        rows, following = call_page(request, run_query)
        return render(request, rows, None, currency), following
    return _answer(request, run_query, currency), None


def _answer(request: ReportRequest, run_query: RunQuery, currency: str) -> bytes:
    if request.keep is not None:  # the rows kept and their totals from one query's sums
        grouped = _grouped_sums(request, run_query)
        rows = [{**groups, **derive(values)} for groups, values in grouped]
        return render(request, rows, _kept_totals(grouped), currency)
    return render(request, report_rows(request, run_query), report_totals(request, run_query), currency)


def report_totals(request: ReportRequest, run_query: RunQuery) -> dict | None:
    """The totals of the report's rows, as ClickHouse sums them (exact sums, ratios and averages
    of the sums); None for a call list, the top numbers, and a report without groups (its one row
    is the total)."""
    query = request.query
    if isinstance(query, TopNumbersQuery):
        return None
    if isinstance(query, PerNumberQuery):
        if request.calls:
            return None
        names, result = run_query(*query.totals_sql())
    elif not query.groups:
        return None
    elif request.keep is not None:
        return _kept_totals(_grouped_sums(request, run_query))
    else:
        names, result = run_query(*dataclasses.replace(query, groups=()).sql())
    return derive(dict(zip(names, result[0])) if result else {})


def _call(values: dict, zone: ZoneInfo) -> dict:
    """A call as listed: its start time in the request's zone."""
    start = values["start_time"]
    if isinstance(start, datetime):
        start = start.replace(tzinfo=start.tzinfo or timezone.utc).astimezone(zone).isoformat(timespec="milliseconds")
    return {**values, "start_time": start}


def render(request: ReportRequest, rows: list[dict], totals: dict | None = None, currency: str = "") -> bytes:
    """The rows in the request's format; CSV, XLSX, HTML and the text table end with a Total row
    (JSON stays a list of rows: ask for the totals with an empty group)."""
    if request.format != "json":
        rows = request.shown(rows)
    return render_rows(
        request.header, rows, request.format, request.title, totals, request.heading, currency, request.span
    )


def render_rows(
    header: list[str], rows: list[dict], output: str, title: str, totals: dict | None = None, sheet: str = "",
    currency: str = "", span: str = "",
) -> bytes:  # fmt: skip
    """Rows with the columns `header` in the format `output`, with a Total row from `totals` if given;
    an XLSX sheet is named `sheet` (default the title). With a `currency`, XLSX money cells show its
    code and an HTML page says what the amounts are in (CSV, JSON and the text table keep the
    column names and plain numbers). Without rows, the text table and the HTML page say
    "0 rows for `span`" (CSV and XLSX keep their header row)."""
    if output == "json":
        return report_table.to_json(header, rows)
    empty = f"0 rows for {span}" if span else "0 rows"
    if not rows and output in ("table", "html"):
        if output == "html":
            return report_table.to_html(header, [], title, empty).encode()
        return (report_table.to_text_table(header, [], UNITS) + f"\n{empty}\n").encode()
    if totals is not None:
        total = {column: totals.get(column, "") for column in header} | {header[0]: "Total"}
        rows = [*rows, total]
    if output == "csv":
        return report_table.to_csv(header, rows)
    if output == "xlsx":
        return report_table.to_xlsx(header, rows, title, sheet or title, MONEY_COLUMNS, currency)
    if output == "html":
        money = currency and any(column in MONEY_COLUMNS for column in header)
        return report_table.to_html(header, rows, title, f"Amounts in {currency}." if money else "").encode()
    return (report_table.to_text_table(header, rows, UNITS) + "\n").encode()
