"""docs/schema.md's examples run on a worker's SQL port, and its columns exist."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cdr_factory import newest_revisions
from tests.services import DOCKER
from tests.sql_worker import sql_client

pytestmark = pytest.mark.skipif(DOCKER, reason="the port serves the worker's embedded chDB folder")
SCHEMA = Path(__file__).parents[2] / "docs" / "schema.md"
EXAMPLES = re.findall(r"```sql\n(.*?)```", SCHEMA.read_text(), flags=re.S)


@pytest.mark.parametrize("sql", EXAMPLES, ids=[f"example{n}" for n in range(len(EXAMPLES))])
def test_every_example_runs(sql_worker, sql):
    number = next(iter(newest_revisions(sql_worker[1]).values()))["dest_number"]
    sql_client(sql_worker).query(sql, parameters={"number": number} if "{number:" in sql else None)


def test_the_revenue_example_adds_up_to_the_cdrs_sent(sql_worker):
    [madrid] = [sql for sql in EXAMPLES if "Europe/Madrid" in sql]
    rows = sql_client(sql_worker).query(madrid).result_rows
    expected: dict[str, Decimal] = {}
    for event in newest_revisions(sql_worker[1]).values():
        expected[event["customer"]] = expected.get(event["customer"], Decimal(0)) + Decimal(
            event.get("customer_charge", "0")
        )
    got: dict[str, Decimal] = {}
    for _day, customer, revenue in rows:
        got[customer] = got.get(customer, Decimal(0)) + revenue
    assert got == expected


def test_every_documented_column_exists(sql_worker):
    documented = set(re.findall(r"^\| `(\w+)`", SCHEMA.read_text(), flags=re.M))
    documented |= {name for cell in re.findall(r"^\| (`\w+`(?:, `\w+`)+) \|", SCHEMA.read_text(), flags=re.M)
                   for name in re.findall(r"`(\w+)`", cell)}  # fmt: skip
    existing = {
        name
        for (name,) in sql_client(sql_worker)
        .query("SELECT DISTINCT name FROM system.columns WHERE database = 'cdrflow'")
        .result_rows
    }
    assert documented and documented <= existing, documented - existing
