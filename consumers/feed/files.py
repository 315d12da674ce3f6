"""CDR files to replay: JSON Lines (one CDR or array per line, sent as is) or CSV with a header.

CSV cells are strings; the numeric fields of the CDR event are converted, empty cells are left
out (so the event's defaults apply), and a cell that is not a number is passed on as written so
that the worker dead-letters that CDR with a reason naming the field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import orjson

INTEGER_FIELDS = {"rev", "sip_code", "dtmf", "pdd_in_ms", "pdd_out_ms"}
NUMBER_FIELDS = {"duration", "customer_duration", "provider_duration"}


def _typed(field: str, cell: str) -> object:
    try:
        if field in INTEGER_FIELDS or (field == "start_time" and cell.isdigit()):
            return int(cell)
        if field in NUMBER_FIELDS:
            return float(cell) if any(c in cell for c in ".eE") else int(cell)
    except ValueError:
        return cell
    return cell


def csv_messages(text: io.TextIOBase) -> Iterator[bytes]:
    for row in csv.DictReader(text):
        yield orjson.dumps({k: _typed(k, v) for k, v in row.items() if k and v not in (None, "")})


def jsonl_messages(data: io.BufferedIOBase) -> Iterator[bytes]:
    for line in data:
        line = line.strip()
        if line:
            yield line


def count_records(path: Path) -> int:
    """Lines holding records (data rows for CSV), for the progress bar."""
    with path.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    return lines - 1 if path.suffix.lower() == ".csv" else lines


def file_messages(path: Path) -> Iterator[bytes]:
    """The Kafka message values a CDR file holds."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            yield from csv_messages(f)
    else:
        with path.open("rb") as f:
            yield from jsonl_messages(f)
