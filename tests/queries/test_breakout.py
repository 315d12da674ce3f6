"""Breakout sums equal those computed here from the newest revisions, for ranges that cut buckets
and for local days in time zones with half- and three-quarter-hour offsets."""

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pipeline.warehouse.client import connect
from queries.breakout import GROUPS, BreakoutQuery
from queries.errors import ReportError
from queries.metrics import derive
from tests.cdr_factory import BASE_MS, newest_revisions
from tests.warehouse_data import fresh_url, load_events


def report(client, query: BreakoutQuery) -> dict[tuple, dict]:
    sql, params = query.sql()
    result = client.query(sql, parameters=params)
    names = result.column_names
    rows = {}
    for row in result.result_rows:
        values = dict(zip(names, row))
        key = tuple(query.group_value(g, values[g]) for g in query.groups)
        rows[key] = derive(values)
    return rows


def truth(newest: dict, start: datetime, end: datetime, key) -> dict[tuple, dict]:
    """attempts, connected and customer_charge per group, straight from the events."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    totals: dict = defaultdict(lambda: {"attempts": 0, "connected": 0, "customer_charge": Decimal(0)})
    for event in newest.values():
        if start_ms <= event["start_time"] < end_ms:
            row = totals[key(event)]
            row["attempts"] += 1
            row["connected"] += 200 <= event["sip_code"] <= 299
            row["customer_charge"] += Decimal(str(event.get("customer_charge", 0)))
    return dict(totals)


def picked(rows: dict) -> dict:
    return {k: {n: v[n] for n in ("attempts", "connected", "customer_charge")} for k, v in rows.items()}


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


@pytest.mark.parametrize(
    "start_ms,end_ms",
    [
        (BASE_MS, BASE_MS + 40 * 86_400_000),  # whole buckets
        (BASE_MS + 1234, BASE_MS + 3 * 86_400_000 + 777),  # both ends inside a bucket
        (BASE_MS + 60_000, BASE_MS + 600_000),  # inside one bucket
        (BASE_MS - 40 * 86_400_000, BASE_MS + 86_400_000 * 10 + 450_001),  # from the moved rerates' month
    ],
)
def test_breakout_by_customer_and_provider_equals_the_events(loaded, start_ms, end_ms):
    """Whole buckets come from the aggregates, the cut ones from the raw CDRs."""
    client, newest, _ = loaded
    query = BreakoutQuery(utc(start_ms), utc(end_ms))
    expected = truth(newest, query.start, query.end, lambda e: (e["customer"], e.get("provider", "")))
    assert picked(report(client, query)) == expected


def test_breakout_by_provider_and_sip_code_equals_the_events(loaded):
    """The SIP code is not in the aggregates: the whole range comes from the raw CDRs."""
    client, newest, _ = loaded
    query = BreakoutQuery(
        utc(BASE_MS + 1234), utc(BASE_MS + 30 * 86_400_000 + 777), groups=("provider", "sip_code"), providers=("tata",)
    )
    expected = truth(
        newest,
        query.start,
        query.end,
        lambda e: (e["provider"], e["sip_code"]) if e.get("provider") == "tata" else None,
    )
    expected.pop(None, None)
    assert len({code for _, code in expected}) > 2
    assert picked(report(client, query)) == expected


def test_from_is_inclusive_and_to_exclusive_to_the_millisecond(loaded):
    client, newest, _ = loaded
    starts = sorted(e["start_time"] for e in newest.values())
    start_ms, end_ms = starts[100], starts[200]
    query = BreakoutQuery(utc(start_ms), utc(end_ms), groups=())
    [(_, row)] = report(client, query).items()
    assert row["attempts"] == 100
    assert report(client, BreakoutQuery(utc(start_ms + 1), utc(end_ms + 1), groups=()))[()]["attempts"] == 100


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu", "UTC"])
def test_local_days_begin_at_local_midnight(loaded, tz):
    client, newest, _ = loaded
    zone = ZoneInfo(tz)
    start, end = datetime(2026, 9, 3, tzinfo=zone), datetime(2026, 9, 10, tzinfo=zone)
    query = BreakoutQuery(start, end, groups=("day",), tz=tz)

    def local_day(event) -> tuple:
        moment = datetime.fromtimestamp(event["start_time"] / 1000, zone)
        return (moment.replace(hour=0, minute=0, second=0, microsecond=0).isoformat(),)

    assert picked(report(client, query)) == truth(newest, start, end, local_day)


def test_filters_keep_only_the_named_customers_and_providers(loaded):
    client, newest, _ = loaded
    query = BreakoutQuery(utc(BASE_MS), utc(BASE_MS + 50 * 86_400_000), groups=("customer",),
                          customers=("o'neil & sons", "ÅSA-tel"), providers=("tata",))  # fmt: skip
    rows = report(client, query)
    expected = truth(
        newest, query.start, query.end, lambda e: (e["customer"],) if e.get("provider") == "tata" else None
    )
    expected.pop(None, None)
    expected = {k: v for k, v in expected.items() if k[0] in query.customers}
    assert picked(rows) == expected


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"groups": ("customer; DROP TABLE cdr",)}, "unknown group"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
        ({"groups": ("day", "day")}, "named twice"),
    ],
)
def test_bad_requests_are_refused_with_a_message(kwargs, message):
    with pytest.raises(ReportError, match=message):
        BreakoutQuery(utc(BASE_MS), utc(BASE_MS + 1000), **kwargs)


def test_from_must_be_before_to():
    with pytest.raises(ReportError, match="before"):
        BreakoutQuery(utc(BASE_MS), utc(BASE_MS))


def test_every_metric_equals_its_definition_over_the_events(loaded):
    client, newest, _ = loaded
    sums: dict = defaultdict(lambda: dict.fromkeys(
        ["attempts", "connected", "duration_us", "customer_duration_us", "provider_duration_us", "customer_charge_micros",
         "provider_charge_micros", "dtmf", "dtmf_calls", "pdd_in_sum", "pdd_in_count", "pdd_out_sum", "pdd_out_count",
         "short_calls", "dtmf_customer_charge_micros", "dtmf_provider_charge_micros"], 0))  # fmt: skip
    for e in newest.values():
        row, connected = sums[(e["customer"],)], 200 <= e["sip_code"] <= 299
        duration = Decimal(str(e.get("duration", 0)))
        row["attempts"] += 1
        row["connected"] += connected
        row["duration_us"] += int(duration * 10**6)
        row["customer_duration_us"] += int(Decimal(str(e.get("customer_duration", duration))) * 10**6)
        row["provider_duration_us"] += int(Decimal(str(e.get("provider_duration", duration))) * 10**6)
        row["customer_charge_micros"] += int(Decimal(str(e.get("customer_charge", 0))) * 10**6)
        row["provider_charge_micros"] += int(Decimal(str(e.get("provider_charge", 0))) * 10**6)
        row["dtmf"] += e.get("dtmf", 0)
        row["dtmf_calls"] += connected and e.get("dtmf", 0) > 0
        for side in ("in", "out"):
            if e.get(f"pdd_{side}_ms") is not None:
                row[f"pdd_{side}_sum"] += e[f"pdd_{side}_ms"]
                row[f"pdd_{side}_count"] += 1
        row["short_calls"] += connected and duration < 6
        if connected and e.get("dtmf", 0) > 0:
            row["dtmf_customer_charge_micros"] += int(Decimal(str(e.get("customer_charge", 0))) * 10**6)
            row["dtmf_provider_charge_micros"] += int(Decimal(str(e.get("provider_charge", 0))) * 10**6)
    query = BreakoutQuery(utc(BASE_MS - 40 * 86_400_000), utc(BASE_MS + 50 * 86_400_000), groups=("customer",))
    expected = {key: derive(row) for key, row in sums.items()}
    assert report(client, query) == expected
    some = next(iter(expected.values()))
    assert some["profit"] == some["customer_charge"] - some["provider_charge"] and some["asr"] is not None
    assert some["pdd_out_avg"] is None  # no CDR carries pdd_out_ms: a mean over nothing is null


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_splits_the_same_totals(loaded, group):
    client, newest, _ = loaded
    query = BreakoutQuery(utc(BASE_MS), utc(BASE_MS + 20 * 86_400_000 + 1), groups=(group,), tz="Asia/Kolkata")
    rows = report(client, query)
    everything = truth(newest, query.start, query.end, lambda e: ())[()]
    assert sum(r["attempts"] for r in rows.values()) == everything["attempts"]
    assert sum(r["customer_charge"] for r in rows.values()) == everything["customer_charge"]
    assert len(rows) > 1 or group in ("month", "provider_destination", "switch")  # one value in these CDRs


DST_WEEKS_MS = 1_792_454_400_000  # 2026-10-20T00:00:00Z: London changes on Oct 25, New York on Nov 1


@pytest.fixture(scope="module")
def around_dst(clickhouse):
    """CDRs over 2026-10-20 .. 2026-11-05 (every 7 minutes and a bit), in a warehouse of their own."""
    events = [
        {"id": f"dst-{i}", "start_time": DST_WEEKS_MS + i * 431_011, "customer": "acme", "dest_number": "4420",
         "sip_code": 200, "duration": 30, "customer_charge": f"{i % 97}.{i % 1_000_000:06d}"}
        for i in range(16 * 86_400_000 // 431_011)
    ]  # fmt: skip
    url = fresh_url(clickhouse, "dst")
    load_events(url, events)
    return connect(url), newest_revisions(events)


@pytest.mark.parametrize(
    "tz,first_day",
    [("Europe/London", datetime(2026, 10, 21)), ("America/New_York", datetime(2026, 10, 28))],
)
def test_a_week_with_a_daylight_saving_change_has_its_local_days(around_dst, tz, first_day):
    """Seven local days, one of them 23 or 25 hours long, each from its own local midnight."""
    client, newest = around_dst
    zone = ZoneInfo(tz)
    start, end = first_day.replace(tzinfo=zone), (first_day + timedelta(days=7)).replace(tzinfo=zone)
    query = BreakoutQuery(start, end, groups=("day",), tz=tz)

    def local_day(event) -> tuple:
        moment = datetime.fromtimestamp(event["start_time"] / 1000, zone)
        return (moment.replace(hour=0, minute=0, second=0, microsecond=0).isoformat(),)

    rows = picked(report(client, query))
    assert rows == truth(newest, start, end, local_day)
    offsets = {day[0][-6:] for day in rows}
    assert len(rows) == 7 and len(offsets) == 2  # the week crosses the change
    hours = sorted(round((end - start).total_seconds() / 3600) for start, end in zip(
        [datetime.fromisoformat(d[0]) for d in sorted(rows)],
        [datetime.fromisoformat(d[0]) for d in sorted(rows)][1:] + [end],
    ))  # fmt: skip
    assert hours[0] == 24 and hours[-1] == 25  # autumn: one local day of 25 hours


def test_charges_of_ten_to_the_twelfth_sum_exactly_at_the_range_edges(clickhouse):
    """Amounts in IDR or VND: validation takes up to 10^12; a range cutting their bucket sums them exactly."""
    charges = ["50000000.000000", "999999999999.999999", "123456789.123456"]
    events = [
        {"id": f"big-{n}", "start_time": BASE_MS + 60_000 * (n + 1), "customer": "acme", "dest_number": "62811",
         "sip_code": 200, "duration": 60, "customer_charge": charge, "provider_charge": charge}
        for n, charge in enumerate(charges)
    ]  # fmt: skip
    url = fresh_url(clickhouse, "big")
    load_events(url, events)
    cut = BreakoutQuery(utc(BASE_MS + 1), utc(BASE_MS + 10 * 60_000), groups=())  # inside one bucket: raw CDRs
    whole = BreakoutQuery(utc(BASE_MS), utc(BASE_MS + 15 * 60_000), groups=())  # one whole bucket: aggregates
    expected = sum(Decimal(c) for c in charges)
    for query in (cut, whole):
        [row] = report(connect(url), query).values()
        assert (row["customer_charge"], row["provider_charge"], row["profit"]) == (expected, expected, Decimal(0))
