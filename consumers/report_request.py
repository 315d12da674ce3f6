"""A Breakout report request as the command line and the HTTP API take it, and its answer.

Both front ends hand over the same name -> values mapping (repeated names for many values,
comma lists for `group` and `columns`), so a request means the same thing wherever it is made.
Every error is a `ReportError` whose message names the offending parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from consumers import report_table
from queries.breakout import BreakoutQuery, ReportError
from queries.metrics import COLUMNS, derive

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "table": "text/plain; charset=utf-8",
}
KNOWN = {"from", "to", "customer", "provider", "group", "columns", "tz", "format"}


@dataclass(frozen=True)
class BreakoutRequest:
    query: BreakoutQuery
    columns: tuple[str, ...]
    format: str

    @property
    def header(self) -> list[str]:
        return [*self.query.groups, *self.columns]


def _one(params: Mapping[str, Sequence[str]], name: str, default: str | None = None) -> str:
    values = params.get(name) or ([] if default is None else [default])
    if not values:
        raise ReportError(f"{name}: required")
    if len(values) > 1:
        raise ReportError(f"{name}: given more than once")
    return values[0]


def _moment(params: Mapping[str, Sequence[str]], name: str) -> datetime:
    text = _one(params, name)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{name}: not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ReportError(f"{name}: needs a UTC offset (e.g. Z or +05:30): {text!r}")
    return moment


def _list(params: Mapping[str, Sequence[str]], name: str, default: str) -> tuple[str, ...]:
    text = _one(params, name, default)
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_breakout(params: Mapping[str, Sequence[str]]) -> BreakoutRequest:
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise ReportError(f"unknown parameter {unknown[0]!r}")
    columns = _list(params, "columns", ",".join(COLUMNS))
    bad = [c for c in columns if c not in COLUMNS]
    if bad:
        raise ReportError(f"columns: unknown column {bad[0]!r}; columns are {', '.join(COLUMNS)}")
    output = _one(params, "format", "json")
    if output not in FORMATS:
        raise ReportError(f"format: unknown format {output!r}; formats are {', '.join(FORMATS)}")
    query = BreakoutQuery(
        _moment(params, "from"), _moment(params, "to"), groups=_list(params, "group", "customer,provider"),
        customers=tuple(params.get("customer", ())), providers=tuple(params.get("provider", ())),
        tz=_one(params, "tz", "UTC"),
    )  # fmt: skip
    return BreakoutRequest(query, columns, output)


def breakout_rows(request: BreakoutRequest, run_query: Callable[[str, dict], tuple[list[str], list[tuple]]]) -> list[dict]:
    """The report's rows: group cells as shown, then every metric column."""
    sql, params = request.query.sql()
    names, result = run_query(sql, params)
    rows = []
    for values in (dict(zip(names, row)) for row in result):
        groups = {g: request.query.group_value(g, values[g]) for g in request.query.groups}
        rows.append({**groups, **derive(values)})
    return rows


def render(request: BreakoutRequest, rows: list[dict]) -> bytes:
    header = request.header
    if request.format == "json":
        return report_table.to_json(header, rows)
    if request.format == "csv":
        return report_table.to_csv(header, rows)
    if request.format == "html":
        title = f"Breakout {request.query.start.isoformat()} .. {request.query.end.isoformat()}"
        return report_table.to_html(header, rows, title).encode()
    return (report_table.to_text_table(header, rows) + "\n").encode()
