import dataclasses
from datetime import datetime
from decimal import Decimal

import orjson
import pytest

from consumers.reports.request import answer, keeping, parse_report, render, report_rows, report_totals
from queries.errors import ReportError

DAY = {"from": ["2026-11-01T00:00:00Z"], "to": ["2026-11-02T00:00:00+05:30"]}


def test_defaults_are_customer_provider_groups_every_column_and_json():
    request = parse_report("breakout", DAY)
    assert request.query.groups == ("customer", "provider") and request.format == "json"
    assert request.header[:4] == ["customer", "provider", "attempts", "connected"]


def test_an_empty_group_asks_for_the_totals_alone():
    request = parse_report("breakout", {**DAY, "group": [""]})
    assert request.query.groups == () and request.header[0] == "attempts"


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"group": ["customer;DROP TABLE cdr"]}, "unknown group"),
        ({"columns": ["attempts,1; DROP TABLE cdr"]}, "unknown column '1; DROP TABLE cdr'"),
        ({"format": ["pdf"]}, "unknown format"),
        ({"tz": ["Europe/Atlantis"]}, "unknown time zone"),
        ({"limit": ["5"]}, "unknown parameter 'limit' for the breakout report"),
        (
            {"from": ["someday"]},
            "from: not an RFC 3339 time, a date (2026-11-25) or one of today, yesterday, this-week",
        ),
        ({"to": ["9999-12-31T00:00:00Z"]}, "to: outside the times the warehouse stores"),
        ({"from": ["2026-11-01T00:00:00"]}, "from: needs a UTC offset"),
        ({"to": ["2026-10-01T00:00:00Z"]}, "from must be before to"),
        ({"tz": ["UTC", "Asia/Kolkata"]}, "tz: given more than once"),
    ],
)
def test_bad_requests_name_what_is_wrong(extra, message):
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_report("breakout", {**DAY, **extra})


def test_the_range_takes_the_words_and_dates_of_the_command_line_in_the_requests_zone():
    request = parse_report("breakout", {"from": ["2026-11-02"], "to": ["2026-11-03"], "tz": ["Asia/Kolkata"]})
    assert (request.query.start.isoformat(), request.query.end.isoformat()) == (
        "2026-11-02T00:00:00+05:30", "2026-11-04T00:00:00+05:30",
    )  # fmt: skip
    week = parse_report("dtmf", {"from": ["last-week"]}).query
    assert week.start.weekday() == 0 and (week.end - week.start).days == 7


def test_missing_range_is_refused():
    with pytest.raises(ReportError, match="from: required"):
        parse_report("breakout", {"to": DAY["to"]})


def test_customer_names_with_quotes_reach_clickhouse_as_parameters_only():
    name = "o'neil\"; DROP TABLE cdr; --"
    request = parse_report("breakout", {**DAY, "customer": [name]})
    sql, params = request.query.sql()
    assert name not in sql and params["customers"] == [name]


def test_rows_carry_groups_then_metrics_and_render_in_every_format():
    request = parse_report(
        "breakout", {**DAY, "group": ["day"], "columns": ["attempts,asr,customer_charge"], "tz": ["Asia/Kolkata"]}
    )
    sums = dict.fromkeys(["attempts", "connected", "duration_us", "customer_duration_us", "provider_duration_us",
                          "customer_charge_micros", "provider_charge_micros", "dtmf", "dtmf_calls", "pdd_in_sum",
                          "pdd_in_count", "pdd_out_sum", "pdd_out_count", "short_calls"], 0)  # fmt: skip
    sums.update(attempts=4, connected=1, customer_charge_micros=1_500_001)
    names = ["day", *sums]
    rows = report_rows(request, lambda sql, params: (names, [(1_793_471_400, *sums.values())]))
    assert orjson.loads(render(request, rows)) == [
        {"day": "2026-11-01T00:00:00+05:30", "attempts": 4, "asr": 25.0, "customer_charge": "1.500001"}
    ]
    assert render(
        parse_report("breakout", {**DAY, "format": ["csv"], "group": ["day"], "columns": ["attempts"]}), rows
    ).startswith(b"day,attempts\r\n")


def test_dtmf_defaults_to_day_and_provider_with_cost_per_digit_over_all_calls_and_over_dtmf_calls():
    request = parse_report("dtmf", DAY)
    assert request.query.groups == ("day", "provider")
    assert request.header == ["day", "provider", "dtmf", "dtmf_calls", "connected", "customer_charge",
                              "provider_charge", "provider_cost_per_digit", "customer_charge_per_digit",
                              "dtmf_customer_charge", "dtmf_provider_charge", "dtmf_provider_cost_per_digit",
                              "dtmf_customer_charge_per_digit"]  # fmt: skip
    rows = report_rows(
        request,
        lambda sql, params: (
            ["day", "provider", "dtmf", "provider_charge_micros", "dtmf_provider_charge_micros"],
            [(1_793_491_200, "tata", 3, 1_000_000, 600_000), (1_793_491_200, "bics", 0, 5, 0)],
        ),
    )
    per_digit = ("provider_cost_per_digit", "customer_charge_per_digit", "dtmf_provider_cost_per_digit")
    assert [tuple(r[name] for name in per_digit) for r in rows] == [
        (Decimal("0.333333"), Decimal("0.000000"), Decimal("0.200000")),
        (None, None, None),
    ]


@pytest.mark.parametrize(
    "params,message",
    [
        ({**DAY, "number": ["44 77"]}, "number: not a dialled number: '44 77'"),
        (DAY, "number: at least one number is required"),
        (
            {"from": ["2026-01-01T00:00:00Z"], "to": ["2026-07-01T00:00:01Z"], "number": ["4477"]},
            "longer than 6 months",
        ),
        ({**DAY, "number": ["4477"], "by": ["ani"]}, "by: must be dest or cli"),
        ({**DAY, "number": ["4477"], "group": ["day"]}, "unknown parameter 'group' for the per-number report"),
    ],
)
def test_per_number_requests_are_checked(params, message):
    with pytest.raises(ReportError, match=message):
        parse_report("per-number", params)


def test_six_months_exactly_is_allowed():
    request = parse_report(
        "per-number", {"from": ["2026-08-31T00:00:00Z"], "to": ["2027-02-28T00:00:00Z"], "number": ["4477"]}
    )
    assert request.header == ["number", "sip_code", "attempts", "connected", "duration", "acd", "customer_charge",
                              "provider_charge", "pdd_in_avg", "pdd_out_avg"]  # fmt: skip


def test_xlsx_holds_the_header_and_the_exact_values(tmp_path):
    import io

    import openpyxl

    request = parse_report(
        "breakout", {**DAY, "group": ["customer"], "columns": ["attempts,asr,customer_charge"], "format": ["xlsx"]}
    )
    rows = [{"customer": "o'neil & sons", "attempts": 3, "asr": Decimal("66.67"), "customer_charge": Decimal("1.500001")},
            {"customer": "acme", "attempts": 0, "asr": None, "customer_charge": Decimal("0.000000")}]  # fmt: skip
    sheet = openpyxl.load_workbook(io.BytesIO(render(request, rows))).active
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["customer", "attempts", "asr", "customer_charge"],
        ["o'neil & sons", 3, 66.67, 1.500001],
        ["acme", 0, None, 0],
    ]
    assert sheet["D2"].number_format == "0.000000"
    assert sheet.title == "Breakout"


@pytest.mark.parametrize("output", ["csv", "html", "table", "xlsx"])
def test_an_empty_group_value_reads_none_in_the_formats_people_read(output):
    import io

    import openpyxl

    request = parse_report(
        "breakout", {**DAY, "group": ["customer,provider"], "columns": ["attempts"], "format": [output]}
    )
    rows = [
        {"customer": "acme", "provider": "", "attempts": 2},
        {"customer": "acme", "provider": "tata", "attempts": 1},
    ]
    body = render(request, rows)
    if output == "xlsx":
        cells = [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(body)).active.iter_rows()]
        assert cells[1] == ["acme", "(none)", 2]
    else:
        assert body.decode().count("(none)") == 1
    assert orjson.loads(render(dataclasses.replace(request, format="json"), rows))[0]["provider"] == ""


def test_per_number_calls_are_listed_in_the_chosen_zone():
    request = parse_report("per-number", {**DAY, "number": ["442033000111"], "calls": ["true"], "tz": ["Asia/Kolkata"]})
    started = datetime(2026, 11, 24, 18, 45, 34, 120000)  # as ClickHouse returns DateTime64 in UTC
    [call] = report_rows(request, lambda sql, params: (["id", "start_time"], [("c1", started)]))
    assert call == {"id": "c1", "start_time": "2026-11-25T00:15:34.120+05:30"}
    with pytest.raises(ReportError, match="tz: unknown time zone 'Asia/Kolkatta'"):
        parse_report("per-number", {**DAY, "number": ["4420"], "tz": ["Asia/Kolkatta"]})


def test_columns_choose_among_the_calls_fields_when_calls_are_listed():
    request = parse_report("per-number", {**DAY, "number": ["4420"], "calls": ["true"], "columns": ["start_time,cli,sip_code"],
                                          "format": ["csv"]})  # fmt: skip
    assert request.header == ["start_time", "cli", "sip_code"]
    rows = [{"id": "c1", "start_time": "2026-11-25T00:15:34.120+00:00", "cli": "1555", "sip_code": 200}]
    assert render(request, rows) == b"start_time,cli,sip_code\r\n2026-11-25T00:15:34.120+00:00,1555,200\r\n"
    with pytest.raises(ReportError, match="columns: unknown column 'asr'"):
        parse_report("per-number", {**DAY, "number": ["4420"], "calls": ["true"], "columns": ["asr"]})


def test_tables_end_with_the_totals_of_clickhouse_and_json_stays_rows():
    request = parse_report("breakout", {**DAY, "group": ["customer"], "columns": ["attempts,asr"], "format": ["csv"]})
    rows = [{"customer": "acme", "attempts": 3, "asr": Decimal("33.33")}, {"customer": "globex", "attempts": 1,
            "asr": Decimal("100.00")}]  # fmt: skip
    totals = {"attempts": 4, "asr": Decimal("50.00"), "customer_charge": Decimal("1.000000")}
    assert (
        render(request, rows, totals)
        == b"customer,attempts,asr\r\nacme,3,33.33\r\nglobex,1,100.00\r\nTotal,4,50.00\r\n"
    )
    table = render(parse_report("breakout", {**DAY, "group": ["customer"], "columns": ["attempts"], "format": ["table"]}),
                   rows, totals).decode()  # fmt: skip
    assert table.splitlines()[-1].split() == ["Total", "4"]
    as_json = parse_report("breakout", {**DAY, "group": ["customer"], "columns": ["attempts"]})
    assert [r["customer"] for r in orjson.loads(render(as_json, rows, totals))] == ["acme", "globex"]


def test_totals_are_the_sums_of_a_query_without_groups_and_none_for_calls():
    asked = []

    def run_query(sql, params):
        asked.append(sql)
        return ["attempts", "connected"], [(10, 4)]

    request = parse_report("breakout", {**DAY, "group": ["customer,provider"]})
    totals = report_totals(request, run_query)
    assert (totals["attempts"], totals["asr"]) == (10, Decimal("40.00")) and "GROUP BY" not in asked[0]
    calls = parse_report("per-number", {**DAY, "number": ["4420"], "calls": ["true"]})
    assert report_totals(calls, run_query) is None


def test_keep_narrows_the_rows_to_the_first_groups_values_and_totals_them():
    request = parse_report("breakout", {**DAY, "group": ["customer,provider"], "columns": ["attempts,pdd_in_avg"]})
    names = ["customer", "provider", "attempts", "pdd_in_sum", "pdd_in_count"]
    result = [("acme", "tata", 3, 300, 2), ("acme", "", 1, 0, 0), ("globex", "tata", 5, 100, 1), ("", "bics", 2, 9, 1)]

    def run_query(sql, params):
        return names, result

    kept = keeping(request, {"keep": ["acme", ""]})
    assert [(r["customer"], r["provider"]) for r in report_rows(kept, run_query)] == [
        ("acme", "tata"), ("acme", ""), ("", "bics")
    ]  # fmt: skip
    totals = report_totals(kept, run_query)
    assert (totals["attempts"], totals["pdd_in_avg"]) == (6, Decimal("103.00"))  # (300 + 9) / 3, from the sums


@pytest.mark.parametrize(
    "fields,message",
    [({"keep": "acme"}, "keep: a list"), ({"keep": [{}]}, "keep: a list"), ({"rows": []}, "unknown field 'rows'")],
)
def test_a_bad_keep_is_refused(fields, message):
    with pytest.raises(ReportError, match=message):
        keeping(parse_report("breakout", DAY), fields)


def test_a_currency_shows_beside_money_in_xlsx_and_html_and_nowhere_else():
    import io

    import openpyxl

    request = parse_report("breakout", {**DAY, "group": ["customer"], "columns": ["attempts,customer_charge,asr"]})
    rows = [{"customer": "acme", "attempts": 3, "customer_charge": Decimal("1.500001"), "asr": Decimal("66.67")}]
    sheet = openpyxl.load_workbook(
        io.BytesIO(render(dataclasses.replace(request, format="xlsx"), rows, None, "EUR"))
    ).active
    assert (sheet["C2"].number_format, sheet["D2"].number_format) == ('0.000000 "EUR"', "0.00")
    assert "Amounts in EUR." in render(dataclasses.replace(request, format="html"), rows, None, "EUR").decode()
    assert b"EUR" not in render(dataclasses.replace(request, format="csv"), rows, None, "EUR")
    assert b"EUR" not in render(request, rows, None, "EUR")


def test_an_answer_with_keep_runs_the_report_query_once():
    request = parse_report("breakout", {**DAY, "group": ["customer"], "columns": ["attempts"], "format": ["csv"]})
    queries = []

    def run_query(sql, params):
        queries.append(sql)
        return ["customer", "attempts"], [("acme", 3), ("globex", 5)]

    assert answer(keeping(request, {"keep": ["acme"]}), run_query) == b"customer,attempts\r\nacme,3\r\nTotal,3\r\n"
    assert len(queries) == 1


@pytest.mark.parametrize("output", ["csv", "xlsx", "table", "html"])
def test_an_empty_report_keeps_its_header_and_says_it_has_0_rows(output):
    request = parse_report("breakout", {**DAY, "group": ["provider"], "columns": ["attempts,asr"], "format": [output]})
    body = render(request, [], None)
    if output == "csv":
        assert body == b"provider,attempts,asr\r\n"
    elif output == "xlsx":
        import io

        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(body)).active
        assert [c.value for c in sheet[1]] == ["provider", "attempts", "asr"] and sheet.max_row == 1
    else:
        span = "2026-11-01T00:00:00+00:00 .. 2026-11-02T00:00:00+05:30 (UTC)"
        assert f"0 rows for {span}" in body.decode() and "provider" in body.decode()
