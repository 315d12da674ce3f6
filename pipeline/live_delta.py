"""A batch's live delta, summed by the warehouse from the rows the sink stores.

The sink's `cdr_changes` rows of a batch (+1 its newest revisions, -1 those they replace, 0
tombstones, which add nothing) go once more into a session's temporary table, and one query sums
them per minute of end time and per key of the five dimensions, and per minute and
`dest_number`. ClickHouse does the grouping in native code, on the warehouse thread and without
holding the interpreter's lock, so the event loop goes on meanwhile. The answer is the live
topic's message as it is:

    {"p": batch partition, "o": batch offset,
     "m": [[minute, newest end time of the new revisions ending in it (ms, or null),
            [[customer, provider, customer_destination, provider_destination, switch, *sums], ...],
            "[[dest_number, *sums], ...]"], ...]}    (oldest minute first; sums in LIVE_SUMS order)

The per-number rows come as JSON text: the live worker reads them only when a window of
`dest_number` asks for them (pipeline.live.Slice).
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

from pipeline.live import LIVE_SUMS, MINUTE_MS, REACHED_CODES, SHORT_CALL_US

BATCH_TABLE = "live_batch"  # temporary: one per warehouse session, so workers sharing a server never meet
CONNECTED = "sip_code BETWEEN 200 AND 299"
SUM_EXPRESSIONS = {
    "attempts": "sign",
    "connected": f"sign * ({CONNECTED})",
    "reached": f"sign * ({CONNECTED} OR sip_code IN ({', '.join(map(str, sorted(REACHED_CODES)))}))",
    "duration_us": f"sign * if({CONNECTED}, duration_us, 0)",
    "customer_charge_micros": "sign * customer_charge_micros",
    "provider_charge_micros": "sign * provider_charge_micros",
    "dtmf": "sign * dtmf",
    "dtmf_calls": f"sign * ({CONNECTED} AND dtmf > 0)",
    "pdd_in_sum": "sign * ifNull(pdd_in_ms, 0)",
    "pdd_in_count": "sign * isNotNull(pdd_in_ms)",
    "pdd_out_sum": "sign * ifNull(pdd_out_ms, 0)",
    "pdd_out_count": "sign * isNotNull(pdd_out_ms)",
    "short_calls": f"sign * ({CONNECTED} AND duration_us < {SHORT_CALL_US})",
}
assert tuple(SUM_EXPRESSIONS) == LIVE_SUMS
SUMS = ", ".join(f"sum({expression}) AS s{i}" for i, expression in enumerate(SUM_EXPRESSIONS.values()))
SUM_COLUMNS = ", ".join(f"s{i}" for i in range(len(LIVE_SUMS)))
KEY = "customer, provider, customer_destination, provider_destination, switch"
# Both groupings in one pass over the rows (GROUPING SETS), then one row per minute. The settings
# go in the query: clickhouse-connect applies per-call settings to chDB with a SET before and
# after, which costs more than the query on a small batch. Integers come out as JSON numbers (not
# strings); one thread: a batch is small, and the pipeline's other work needs the other core more.
DELTA_BY_MINUTE = f"""
SELECT minute, max(newest_end),
       groupArrayIf(tuple({KEY}, {SUM_COLUMNS}), by_key),
       toJSONString(groupArrayIf(tuple(dest_number, {SUM_COLUMNS}), NOT by_key))
FROM (
    SELECT intDiv(start_ms + intDiv(duration_us, 1000), {MINUTE_MS}) AS minute, {KEY}, dest_number,
           grouping(dest_number) = 1 AS by_key, maxIfOrNull(start_ms + intDiv(duration_us, 1000), sign = 1) AS newest_end,
           {SUMS}
    FROM {BATCH_TABLE} WHERE sign != 0
    GROUP BY GROUPING SETS ((minute, {KEY}), (minute, dest_number))
)
GROUP BY minute
ORDER BY minute
SETTINGS output_format_json_quote_64bit_integers = 0, max_threads = 1
"""


def live_delta(client: Client, columns: Sequence[str], rows: bytes, partition: int, offset: int) -> bytes:
    """The live delta of the batch whose `cdr_changes` rows are `rows` (JSONCompactColumns of
    `columns`, as the sink stores them), as the live topic carries it. Blocking: run it on the
    warehouse thread."""
    client.command(f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH_TABLE} AS cdr_changes ENGINE = Memory")
    client.command(f"TRUNCATE TABLE {BATCH_TABLE}")
    client.raw_insert(BATCH_TABLE, columns, insert_block=rows, fmt="JSONCompactColumns")
    minutes = client.raw_query(DELTA_BY_MINUTE, fmt="JSONCompactEachRow")
    # one JSON array per line, and a line break never occurs inside one (JSON escapes it)
    return b'{"p":%d,"o":%d,"m":[%s]}' % (partition, offset, minutes.rstrip(b"\n").replace(b"\n", b","))
