"""CSV cells as spreadsheets read them back: a formula that came in a CDR stays text, numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from consumers.reports.table import csv_from_typed_rows, to_csv, to_text_table

HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+441234", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


@pytest.mark.parametrize("text", HOSTILE)
def test_a_text_cell_that_starts_like_a_formula_gets_a_leading_quote(text):
    rows = read(
        to_csv(["customer", "attempts", "profit"], [{"customer": text, "attempts": -3, "profit": Decimal("-1.5")}])
    )
    assert rows[1] == ["'" + text, "-3", "-1.5"]


def test_plain_text_and_a_formula_like_column_name_follow_the_same_rule():
    rows = read(to_csv(["=cmd", "name"], [{"=cmd": "acme", "name": "a=b"}]))
    assert rows == [["'=cmd", "name"], ["acme", "a=b"]]


def test_the_sql_command_line_csv_follows_it_by_the_column_type():
    answer = b'["cli","n","d"]\n["String","Int64","Decimal(18, 6)"]\n["=1+1","-5",-0.5]\n["acme","7",1]\n'
    assert read(csv_from_typed_rows(answer)) == [["cli", "n", "d"], ["'=1+1", "-5", "-0.5"], ["acme", "7", "1"]]


def test_an_answer_in_a_format_the_query_named_is_left_as_it_is():
    assert csv_from_typed_rows(b"1\t2\n") == b"1\t2\n"


def test_the_text_table_puts_text_left_numbers_right_and_units_beside_the_header():
    rows = [{"provider": "tata", "attempts": 1200, "acd": Decimal("61.50")},
            {"provider": "o'neil & sons", "attempts": 7, "acd": None}]  # fmt: skip
    assert to_text_table(["provider", "attempts", "acd"], rows, {"acd": "s"}).splitlines() == [
        "provider       attempts  acd (s)",
        "-------------  --------  -------",
        "tata               1200    61.50",
        "o'neil & sons         7",
    ]
