import orjson
import pytest

from consumers.report_request import breakout_rows, parse_breakout, render
from queries.breakout import ReportError

DAY = {"from": ["2026-11-01T00:00:00Z"], "to": ["2026-11-02T00:00:00+05:30"]}


def test_defaults_are_customer_provider_groups_every_column_and_json():
    request = parse_breakout(DAY)
    assert request.query.groups == ("customer", "provider") and request.format == "json"
    assert request.header[:4] == ["customer", "provider", "attempts", "connected"]


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"group": ["customer;DROP TABLE cdr"]}, "unknown group"),
        ({"columns": ["attempts,1; DROP TABLE cdr"]}, "unknown column '1; DROP TABLE cdr'"),
        ({"format": ["pdf"]}, "unknown format"),
        ({"tz": ["Europe/Atlantis"]}, "unknown time zone"),
        ({"limit": ["5"]}, "unknown parameter 'limit'"),
        ({"from": ["yesterday"]}, "from: not an RFC 3339 time"),
        ({"from": ["2026-11-01T00:00:00"]}, "from: needs a UTC offset"),
        ({"to": ["2026-10-01T00:00:00Z"]}, "from must be before to"),
        ({"tz": ["UTC", "Asia/Kolkata"]}, "tz: given more than once"),
    ],
)
def test_bad_requests_name_what_is_wrong(extra, message):
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_breakout({**DAY, **extra})


def test_missing_range_is_refused():
    with pytest.raises(ReportError, match="from: required"):
        parse_breakout({"to": DAY["to"]})


def test_customer_names_with_quotes_reach_clickhouse_as_parameters_only():
    name = "o'neil\"; DROP TABLE cdr; --"
    request = parse_breakout({**DAY, "customer": [name]})
    sql, params = request.query.sql()
    assert name not in sql and params["customers"] == [name]


def test_rows_carry_groups_then_metrics_and_render_in_every_format():
    request = parse_breakout({**DAY, "group": ["day"], "columns": ["attempts,asr,customer_charge"], "tz": ["Asia/Kolkata"]})
    sums = dict.fromkeys(["attempts", "connected", "duration_us", "customer_duration_us", "provider_duration_us",
                          "customer_charge_micros", "provider_charge_micros", "dtmf", "dtmf_calls", "pdd_in_sum",
                          "pdd_in_count", "pdd_out_sum", "pdd_out_count", "short_calls"], 0)  # fmt: skip
    sums.update(attempts=4, connected=1, customer_charge_micros=1_500_001)
    names = ["day", *sums]
    rows = breakout_rows(request, lambda sql, params: (names, [(1_793_471_400, *sums.values())]))
    assert orjson.loads(render(request, rows)) == [
        {"day": "2026-11-01T00:00:00+05:30", "attempts": 4, "asr": 25.0, "customer_charge": "1.500001"}
    ]
    assert render(parse_breakout({**DAY, "format": ["csv"], "group": ["day"], "columns": ["attempts"]}), rows).startswith(b"day,attempts\r\n")
