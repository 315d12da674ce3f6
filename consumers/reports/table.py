"""A report's rows as the formats people read: CSV, JSON, XLSX, an aligned text table, HTML."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Collection, Mapping
from decimal import Decimal

import orjson
import xlsxwriter

NUMERIC_TYPE = re.compile(r"^(Nullable\(|LowCardinality\()*(U?Int\d+|Float\d+|Decimal)")


def _cell(value: object) -> str:
    return "" if value is None else str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell as a spreadsheet reads it back: text that starts like a formula gets a leading `'`
    (a customer or CLI sent as `=HYPERLINK(...)` stays text); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return _cell(value)


def to_csv(columns: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in columns])
    writer.writerows([csv_cell(row[c]) for c in columns] for row in rows)
    return out.getvalue().encode()


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


def _json_value(value: object) -> object:
    """Sums (6 places) as strings, so no precision is lost; rounded ratios (2 places) as numbers."""
    if isinstance(value, Decimal):
        return str(value) if value.as_tuple().exponent == -6 else float(value)
    return value


def to_json(columns: list[str], rows: list[dict]) -> bytes:
    """Values JSON has no type for (an IP address, say) as their text."""
    return orjson.dumps([{c: _json_value(row[c]) for c in columns} for row in rows], default=str)


def to_text_table(columns: list[str], rows: list[dict], units: Mapping[str, str] | None = None) -> str:
    """Aligned columns: numbers to the right, text to the left; a header cell with its unit from
    `units` (`acd (s)`)."""
    units = units or {}
    header = [f"{c} ({units[c]})" if c in units else c for c in columns]
    cells = [header] + [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    numeric = [
        all(isinstance(row[c], (int, float, Decimal)) or row[c] is None for row in rows if row[c] != "")
        and any(row[c] not in (None, "") for row in rows)
        for c in columns
    ]  # fmt: skip
    lines = [
        "  ".join(cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(line, widths, numeric))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def to_html(columns: list[str], rows: list[dict], title: str, intro: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in columns) + "</tr>" for row in rows
    )
    paragraph = f"<p>{html.escape(intro)}</p>" if intro else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{paragraph}<table border='1' cellspacing='0' cellpadding='4'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )


def to_xlsx(
    columns: list[str], rows: list[dict], title: str, sheet_name: str, money: Collection[str] = (), currency: str = ""
) -> bytes:
    """One sheet named `sheet_name` (as Excel allows: 31 characters, none of []:*?/\\), the title
    in the document's properties: a bold header row, frozen; money and durations with 6 places,
    the `money` columns' cells with the currency's code beside them."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    workbook.set_properties({"title": title})
    sheet = workbook.add_worksheet(sheet_name.translate(str.maketrans(dict.fromkeys("[]:*?/\\", " ")))[:31].strip())
    bold, six, two = (
        workbook.add_format(f) for f in ({"bold": True}, {"num_format": "0.000000"}, {"num_format": "0.00"})
    )
    in_currency = workbook.add_format({"num_format": f'0.000000 "{currency}"'}) if currency else six
    sheet.write_row(0, 0, columns, bold)
    sheet.freeze_panes(1, 0)
    for r, row in enumerate(rows, start=1):
        for c, name in enumerate(columns):
            value = row[name]
            if isinstance(value, Decimal):
                places = six if value.as_tuple().exponent == -6 else two
                sheet.write_number(r, c, float(value), in_currency if name in money and places is six else places)
            elif isinstance(value, (int, float)):
                sheet.write_number(r, c, value)
            elif value is not None:  # text never as a formula; times (Excel has no zones), arrays: as text
                sheet.write_string(r, c, str(value))
    sheet.set_column(0, len(columns) - 1, 14)
    workbook.close()
    return out.getvalue()
