"""Report benchmark: median latency of breakout and per-number answers over many CDRs in chDB,
beside the same answers computed from the raw table in the same run.

The CDRs are generated inside ClickHouse (INSERT ... SELECT FROM numbers) into `cdr_changes`,
so they reach `cdr`, `agg_breakout` and `agg_number` through the same views as the pipeline's.
BENCH_SCALE scales the 10 million CDRs.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

from bench.pipeline_bench import scratch_folder
from pipeline.settings import parse_warehouse_url
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from queries.breakout import BreakoutQuery
from queries.per_number import PerNumberQuery

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
CDRS = int(10_000_000 * SCALE)
DAYS = 180
END = datetime(2026, 11, 1, tzinfo=timezone.utc)
START = END - timedelta(days=DAYS)
RUNS = 7
BLOCK = 1_000_000

# Heavy-tailed customers and numbers, ASR about 50 %, rerate-free (the raw side needs FINAL anyway).
GENERATE = """
INSERT INTO cdr_changes
SELECT 1, concat('b', toString(number)), 0,
       toInt64({start_ms:Int64} + rand64(1) % {span_ms:Int64}),
       concat('cust-', toString(1 + toUInt32(pow(rand(2) / 4294967295, 3) * 60))),
       concat('carrier-', toString(1 + rand(3) % 12)),
       concat('dest-', toString(rand(4) % 40)), concat('route-', toString(rand(5) % 60)),
       concat('1', toString(200000000 + rand(6) % 700000000)),
       concat('4477009', toString(10000 + toUInt32(pow(rand(7) / 4294967295, 4) * 80000))),
       if(rand(8) % 2 = 0, 200, [486, 487, 503, 404][1 + rand(9) % 4]) AS code,
       if(code = 200, toInt64(rand(10) % 600000) * 1000, 0) AS duration_us, duration_us, duration_us,
       if(code = 200, toInt64(rand(11) % 2000000), 0),
       if(code = 200, toInt64(rand(12) % 1500000), 0),
       if(code = 200 AND rand(13) % 20 = 0, rand(14) % 12, 0), 500 + rand(15) % 2500, NULL, 'sw-1'
FROM numbers({first:UInt64}, {count:UInt64})
"""


def median_ms(client, sql: str, params: dict) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        client.query(sql, parameters=params)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def attempts_by_group(client, sql: str, params: dict) -> dict[tuple, int]:
    """Attempts per row of a two-group answer (both sides put the two groups, then attempts, first)."""
    rows = client.query(sql, parameters=params).result_rows
    assert rows, "no rows: the generated CDRs miss the benchmark's ranges"
    return {tuple(row[:2]): int(row[2]) for row in rows}


def raw_breakout(query: BreakoutQuery) -> tuple[str, dict]:
    return (
        "SELECT customer, provider, count() AS attempts, countIf(sip_code BETWEEN 200 AND 299) AS connected, "
        "sum(duration) AS duration, sum(customer_charge) AS customer_charge, sum(provider_charge) AS provider_charge, "
        "sum(dtmf) AS dtmf, avg(pdd_in_ms) AS pdd_in FROM cdr FINAL "
        "WHERE start_time >= fromUnixTimestamp64Milli({s:Int64}, 'UTC') AND start_time < fromUnixTimestamp64Milli({e:Int64}, 'UTC') "
        "GROUP BY customer, provider ORDER BY customer, provider",
        {"s": int(query.start.timestamp() * 1000), "e": int(query.end.timestamp() * 1000)},
    )


def raw_per_number(query: PerNumberQuery) -> tuple[str, dict]:
    return (
        "SELECT dest_number, sip_code, count(), countIf(sip_code BETWEEN 200 AND 299), sum(duration), "
        "sum(customer_charge), sum(provider_charge), avg(pdd_in_ms), avg(pdd_out_ms) FROM cdr FINAL "
        "WHERE dest_number IN {n:Array(String)} AND start_time >= fromUnixTimestamp64Milli({s:Int64}, 'UTC') "
        "AND start_time < fromUnixTimestamp64Milli({e:Int64}, 'UTC') GROUP BY dest_number, sip_code",
        {"n": list(query.numbers), "s": int(query.start.timestamp() * 1000), "e": int(query.end.timestamp() * 1000)},
    )


def main() -> int:
    client = connect(parse_warehouse_url("CDRFLOW_CLICKHOUSE", f"chdb://{scratch_folder('cdrflow-bench-reports-')}"))
    migrate(client)
    started = time.perf_counter()
    span_ms = int((END - START).total_seconds() * 1000)
    for first in range(0, CDRS, BLOCK):
        client.command(
            GENERATE,
            parameters={
                "start_ms": int(START.timestamp() * 1000),
                "span_ms": span_ms,
                "first": first,
                "count": min(BLOCK, CDRS - first),
            },
            settings={
                "insert_deduplication_token": f"bench:{first}",
                "deduplicate_blocks_in_dependent_materialized_views": 1,
            },
        )
    loaded = time.perf_counter() - started
    client.command("OPTIMIZE TABLE agg_breakout FINAL")
    client.command("OPTIMIZE TABLE agg_number FINAL")
    print(f"bench reports_load: {CDRS / loaded:.0f} CDR/s ({CDRS} CDRs over {DAYS} days into chDB)")

    busiest = [
        r[0]
        for r in client.query(
            "SELECT dest_number FROM cdr GROUP BY dest_number ORDER BY count() DESC LIMIT 2"
        ).result_rows
    ]
    day = END - timedelta(days=7)
    cases = [
        ("breakout_1d", BreakoutQuery(day, day + timedelta(days=1)), raw_breakout),
        ("breakout_30d", BreakoutQuery(END - timedelta(days=30), END), raw_breakout),
        ("per_number_6m", PerNumberQuery(END - timedelta(days=181), END, numbers=tuple(busiest)), raw_per_number),
    ]
    for name, query, raw in cases:
        fast_sql = query.sql() if isinstance(query, BreakoutQuery) else query.summary_sql()
        if attempts_by_group(client, *fast_sql) != attempts_by_group(client, *raw(query)):
            print(f"bench {name}: the report and the raw scan disagree", file=sys.stderr)
            return 1
        fast = median_ms(client, *fast_sql)
        slow = median_ms(client, *raw(query))
        print(f"bench {name}: {fast:.0f} ms (raw scan {slow:.0f} ms, ratio {slow / fast:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
