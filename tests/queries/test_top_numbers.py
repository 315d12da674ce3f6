"""The top numbers equal those computed here from the newest revisions: busiest first, exact sums."""

from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from queries.errors import ReportError
from queries.metrics import derive
from queries.top_numbers import TopNumbersQuery
from tests.cdr_factory import BASE_MS


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def expected_top(newest: dict, start_ms: int, end_ms: int, by: str, customers: tuple[str, ...]) -> list[tuple]:
    sums: dict = defaultdict(lambda: {"attempts": 0, "connected": 0, "duration": Decimal(0),
                                      "customer_charge": Decimal(0), "short_calls": 0})  # fmt: skip
    for e in newest.values():
        if not start_ms <= e["start_time"] < end_ms or (customers and e["customer"] not in customers):
            continue
        row = sums[e["dest_number"].removeprefix("+")]
        connected = 200 <= e["sip_code"] <= 299
        row["attempts"] += 1
        row["connected"] += connected
        row["duration"] += Decimal(str(e.get("duration", 0)))
        row["customer_charge"] += Decimal(str(e.get("customer_charge", 0)))
        row["short_calls"] += connected and Decimal(str(e.get("duration", 0))) < 6
    ranked = sorted(sums.items(), key=lambda item: (-item[1][by], item[0]))
    return [(number, row["attempts"], row["connected"], row["customer_charge"], row["short_calls"])
            for number, row in ranked]  # fmt: skip


@pytest.mark.parametrize(
    "by,customers", [("attempts", ()), ("connected", ("acme",)), ("duration", ()), ("customer_charge", ()),
                     ("short_calls", ("globex", "o'neil & sons"))],
)  # fmt: skip
def test_the_busiest_numbers_come_first_with_exact_sums_over_a_range_that_cuts_buckets(loaded, by, customers):
    client, newest, _ = loaded
    start_ms, end_ms = BASE_MS + 7 * 60_000 + 123, BASE_MS + 20 * 86_400_000 + 456_789
    query = TopNumbersQuery(utc(start_ms), utc(end_ms), by=by, limit=20, customers=customers)
    result = client.query(*query.sql())
    rows = [dict(zip(result.column_names, r)) for r in result.result_rows]
    got = [(r["number"], *(derive(r)[c] for c in ("attempts", "connected", "customer_charge", "short_calls")))
           for r in rows]  # fmt: skip
    expected = expected_top(newest, start_ms, end_ms, by, customers)
    assert len(got) == 20 and got == expected[:20]


@pytest.mark.parametrize(
    "change,message",
    [
        ({"by": "profit"}, "by: one of attempts, connected, duration, customer_charge, short_calls"),
        ({"limit": 0}, "limit: 1 to 1000 numbers"),
        ({"limit": 1001}, "limit: 1 to 1000 numbers"),
        ({"providers": ("tata",)}, "provider: the top numbers are by customer only"),
    ],
)
def test_bad_requests_name_what_is_wrong(change, message):
    with pytest.raises(ReportError, match=message):
        TopNumbersQuery(utc(BASE_MS), utc(BASE_MS + 86_400_000), **change)
