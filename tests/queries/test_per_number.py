"""Per Number summaries and call lists equal those computed here from the newest revisions."""

from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from pipeline.warehouse.client import connect
from queries.errors import ReportError
from queries.metrics import derive
from queries.per_number import MAX_CALLS_PER_PAGE, CallPage, PerNumberQuery, next_after
from tests.cdr_factory import BASE_MS
from tests.warehouse_data import fresh_url, load_events


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def busiest(newest: dict, field: str, count: int) -> tuple[str, ...]:
    return tuple(n for n, _ in Counter(e[field] for e in newest.values()).most_common(count))


@pytest.mark.parametrize(
    "by,field,providers", [("dest", "dest_number", ()), ("cli", "cli", ()), ("dest", "dest_number", ("tata", ""))]
)
def test_summary_per_number_and_sip_code_equals_the_events(loaded, by, field, providers):
    client, newest, _ = loaded
    numbers = busiest(newest, field, 2)
    start_ms, end_ms = BASE_MS - 30 * 86_400_000 + 123, BASE_MS + 30 * 86_400_000 + 456_789
    query = PerNumberQuery(utc(start_ms), utc(end_ms), numbers=numbers, by=by, providers=providers)
    result = client.query(*query.summary_sql())
    got = {(r[0], r[1]): derive(dict(zip(result.column_names, r))) for r in result.result_rows}
    expected: dict = defaultdict(lambda: {"attempts": 0, "connected": 0, "customer_charge": Decimal(0)})
    for e in newest.values():
        if providers and e.get("provider", "") not in providers:
            continue
        if e[field] in numbers and start_ms <= e["start_time"] < end_ms:
            row = expected[(e[field], e["sip_code"])]
            row["attempts"] += 1
            row["connected"] += 200 <= e["sip_code"] <= 299
            row["customer_charge"] += Decimal(str(e.get("customer_charge", 0)))
    assert {k: {n: v[n] for n in ("attempts", "connected", "customer_charge")} for k, v in got.items()} == expected
    assert len({number for number, _ in got}) == 2


def test_call_list_is_every_newest_revision_by_start_time(loaded):
    client, newest, _ = loaded
    numbers = busiest(newest, "dest_number", 3)
    query = PerNumberQuery(utc(BASE_MS), utc(BASE_MS + 40 * 86_400_000), numbers=numbers, customers=("acme", "globex"))
    result = client.query(*query.calls_sql(CallPage(MAX_CALLS_PER_PAGE)))
    got = [(r[0], r[1]) for r in result.result_rows]
    expected = sorted(
        (e["start_time"], e["id"], e.get("rev", 0)) for e in newest.values()
        if e["dest_number"] in numbers and e["customer"] in ("acme", "globex") and BASE_MS <= e["start_time"]
    )  # fmt: skip
    assert got == [(cdr_id, rev) for _, cdr_id, rev in expected]


def test_the_call_list_page_by_page_is_the_whole_list(loaded):
    """Pages of 7 calls, each after the last call of the one before, walk the whole list once, also
    across calls that start at the same millisecond (ordered by id)."""
    client, newest, _ = loaded
    numbers = busiest(newest, "dest_number", 12)
    query = PerNumberQuery(utc(BASE_MS), utc(BASE_MS + 40 * 86_400_000), numbers=numbers)
    whole = client.query(*query.calls_sql(CallPage(MAX_CALLS_PER_PAGE))).result_rows
    paged, page = [], CallPage(7)
    while True:
        rows = client.query(*query.calls_sql(page)).result_rows
        paged += rows[:7]
        if len(rows) <= 7:
            break
        page = CallPage(7, (rows[6][2], rows[6][0]))
    assert len(whole) > 30 and paged == whole
    assert next_after(datetime(2026, 9, 1, 0, 0, 0, 123000), "c5-1,2") == "2026-09-01T00:00:00.123Z,c5-1,2"


def test_a_page_holds_1_to_100000_calls():
    for limit in (0, MAX_CALLS_PER_PAGE + 1):
        with pytest.raises(ReportError, match="limit: 1 to 100000"):
            CallPage(limit)


def test_a_dialled_number_is_found_with_or_without_its_plus(clickhouse):
    """Switches write +442033000111 or 442033000111: one number, found either way, shown without +."""
    events = [
        {"id": f"plus-{n}", "start_time": BASE_MS + n * 60_000, "customer": "acme", "sip_code": 200, "duration": 60,
         "dest_number": "+442033000111" if n % 2 else "442033000111", "customer_charge": "0.010000"}
        for n in range(40)
    ]  # fmt: skip
    url = fresh_url(clickhouse, "plus")
    load_events(url, events)
    client = connect(url)
    for typed in ("+442033000111", "442033000111"):
        query = PerNumberQuery(utc(BASE_MS), utc(BASE_MS + 86_400_000), numbers=(typed,))
        result = client.query(*query.summary_sql())
        assert [(r[0], r[1], r[2]) for r in result.result_rows] == [("442033000111", 200, 40)]  # both halves
        calls = client.query(*query.calls_sql(CallPage(MAX_CALLS_PER_PAGE))).result_rows
        assert len(calls) == 40
