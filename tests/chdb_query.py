"""Run one query on a chDB folder in a process of its own (chDB: one folder per process).

python -m tests.chdb_query PATH "SQL"  -> JSON rows on stdout
"""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
import orjson


def query_chdb(path: Path, sql: str) -> list:
    """Rows of one query on a stopped worker's chDB folder, from a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.chdb_query", str(path), sql], capture_output=True, timeout=120, check=True
    )
    return orjson.loads(done.stdout)


def aggregated_by_customer(path: Path) -> dict[str, tuple[int, int, Decimal, Decimal]]:
    """customer -> (attempts, connected, customer_charge, provider_charge) from agg_breakout, in
    the shape of tests.cdr_factory.truth_by_customer."""
    rows = query_chdb(
        path,
        "SELECT customer, sum(attempts), sum(connected), sum(customer_charge_micros), sum(provider_charge_micros) "
        "FROM agg_breakout FINAL GROUP BY customer HAVING sum(attempts) != 0",
    )
    return {r[0]: (int(r[1]), int(r[2]), Decimal(int(r[3])) / 10**6, Decimal(int(r[4])) / 10**6) for r in rows}


def main() -> None:
    path, sql = sys.argv[1], sys.argv[2]
    client = clickhouse_connect.get_client(interface="chdb", path=path, database="cdrflow")
    rows = client.query(sql).result_rows
    sys.stdout.buffer.write(orjson.dumps(rows, default=str))


if __name__ == "__main__":
    main()
