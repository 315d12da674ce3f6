"""A report's rows as the formats people read: CSV, JSON, an aligned text table, HTML."""

from __future__ import annotations

import csv
import html
import io
from decimal import Decimal

import orjson


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def to_csv(columns: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([_cell(row[c]) for c in columns] for row in rows)
    return out.getvalue().encode()


def _json_value(value: object) -> object:
    """Sums (6 places) as strings, so no precision is lost; rounded ratios (2 places) as numbers."""
    if isinstance(value, Decimal):
        return str(value) if value.as_tuple().exponent == -6 else float(value)
    return value


def to_json(columns: list[str], rows: list[dict]) -> bytes:
    return orjson.dumps([{c: _json_value(row[c]) for c in columns} for row in rows])


def to_text_table(columns: list[str], rows: list[dict]) -> str:
    cells = [columns] + [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) if n else cell.ljust(w) for cell, w in zip(line, widths)) for n, line in enumerate(cells)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_html(columns: list[str], rows: list[dict], title: str, intro: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in columns) + "</tr>" for row in rows)
    paragraph = f"<p>{html.escape(intro)}</p>" if intro else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{paragraph}<table border='1' cellspacing='0' cellpadding='4'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
