"""A batch's live delta: its rows summed per minute of end time and per key of the five
dimensions, and per minute and `dest_number` (+1 its newest revisions, -1 those they replace).

A large batch is summed by the warehouse: the sink's `cdr_changes` rows go once more into a
session's temporary table, and one query groups them, in native code on the warehouse thread and
without holding the interpreter's lock, so the event loop goes on meanwhile. A small one is summed
here: planning that query costs ClickHouse some 17 ms whatever the batch's size (more in its
first runs, while it compiles the expressions), more than summing a few thousand rows in Python.
Either way the answer is the live topic's message as it is:

    {"t": when the batch was applied (ms; the sink's caller adds it: `stamped`),
     "p": batch partition, "o": batch offset,
     "m": [[minute, newest end time of the new revisions ending in it (ms, or null),
            [[customer, provider, customer_destination, provider_destination, switch, *sums], ...],
            "[[dest_number, *sums], ...]"], ...]}    (oldest minute first; sums in LIVE_SUMS order)

The per-number rows come as JSON text: the live worker reads them only when a window of
`dest_number` asks for them (pipeline.live.windows.Slice).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import add as plus

import orjson
from clickhouse_connect.driver.client import Client

from pipeline.live.windows import LIVE_SUMS, MINUTE_MS, REACHED_CODES, SHORT_CALL_US
from pipeline.state.cdr_state import BatchChanges

ROWS_SUMMED_HERE = 5000  # a batch with fewer rows (newest and replaced) is summed in Python
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
# strings); one thread: a batch is small, and the pipeline's other work needs the other core more;
# grouping() as the SQL standard has it, 1 for a column outside the row's grouping set.
DELTA_BY_MINUTE = f"""
SELECT minute, max(newest_end),
       groupArrayIf(tuple({KEY}, {SUM_COLUMNS}), by_key),
       toJSONString(groupArrayIf(tuple(dest_number, {SUM_COLUMNS}), NOT by_key))
FROM (
    SELECT intDiv(start_ms + intDiv(duration_us, 1000), {MINUTE_MS}) AS minute, {KEY}, dest_number,
           grouping(dest_number) = 1 AS by_key,
           maxIfOrNull(start_ms + intDiv(duration_us, 1000), sign = 1) AS newest_end,
           {SUMS}
    FROM {BATCH_TABLE} WHERE sign != 0
    GROUP BY GROUPING SETS ((minute, {KEY}), (minute, dest_number))
)
GROUP BY minute
ORDER BY minute
SETTINGS output_format_json_quote_64bit_integers = 0, max_threads = 1, force_grouping_standard_compatibility = 1
"""


def stamped(delta: bytes, applied_ms: int) -> bytes:
    """The delta with the moment its batch was applied: the live clock is never ahead of it
    (less the grace), and a CDR that ends after it (plus the grace) lies in the future."""
    return b'{"t":%d,' % applied_ms + delta[1:]


def live_delta(client: Client, columns: Sequence[str], rows: bytes, changes: BatchChanges) -> bytes:
    """The live delta of a batch whose `cdr_changes` rows are `rows` (JSONCompactColumns of
    `columns`, as the sink stores them). Blocking: run it on the warehouse thread."""
    if len(changes.newest) + len(changes.replaced) < ROWS_SUMMED_HERE:
        return delta_summed_here(changes)
    return delta_summed_by_warehouse(client, columns, rows, changes.partition, changes.offset)


def delta_summed_by_warehouse(
    client: Client, columns: Sequence[str], rows: bytes, partition: int, offset: int
) -> bytes:
    # made afresh for every batch, so it always has the columns of cdr_changes as migrated
    client.command(f"DROP TEMPORARY TABLE IF EXISTS {BATCH_TABLE}")
    client.command(f"CREATE TEMPORARY TABLE {BATCH_TABLE} AS cdr_changes ENGINE = Memory")
    client.raw_insert(BATCH_TABLE, columns, insert_block=rows, fmt="JSONCompactColumns")
    minutes = client.raw_query(DELTA_BY_MINUTE, fmt="JSONCompactEachRow")
    # one JSON array per line, and a line break never occurs inside one (JSON escapes it)
    return b'{"p":%d,"o":%d,"m":[%s]}' % (partition, offset, minutes.rstrip(b"\n").replace(b"\n", b","))


def delta_summed_here(changes: BatchChanges) -> bytes:
    by_minute: dict[int, list] = {}
    for sign, rows in ((1, changes.newest), (-1, changes.replaced)):
        for row in rows:
            (_id, _rev, start_ms, customer, provider, c_dest, p_dest, _cli, number, code, duration_us, _cd, _pd,
             charge, cost, dtmf, pdd_in, pdd_out, switch) = row  # fmt: skip
            end_ms = start_ms + duration_us // 1000
            minute = end_ms // MINUTE_MS
            slot = by_minute.get(minute)
            if slot is None:
                slot = by_minute[minute] = [None, {}, {}]
            if sign > 0 and (slot[0] is None or end_ms > slot[0]):
                slot[0] = end_ms
            pdd_in_sum, pdd_in_count = (0, 0) if pdd_in is None else (sign * pdd_in, sign)
            pdd_out_sum, pdd_out_count = (0, 0) if pdd_out is None else (sign * pdd_out, sign)
            if 200 <= code <= 299:
                sums = (sign, sign, sign, sign * duration_us, sign * charge, sign * cost, sign * dtmf,
                        sign if dtmf else 0, pdd_in_sum, pdd_in_count, pdd_out_sum, pdd_out_count,
                        sign if duration_us < SHORT_CALL_US else 0)  # fmt: skip
            else:
                sums = (sign, 0, sign if code in REACHED_CODES else 0, 0, sign * charge, sign * cost, sign * dtmf, 0,
                        pdd_in_sum, pdd_in_count, pdd_out_sum, pdd_out_count, 0)  # fmt: skip
            by_key, by_number = slot[1], slot[2]
            key = (customer, provider, c_dest, p_dest, switch)
            held = by_key.get(key)
            by_key[key] = sums if held is None else tuple(map(plus, held, sums))
            held = by_number.get(number)
            by_number[number] = sums if held is None else tuple(map(plus, held, sums))
    minutes = [
        [minute, end, [[*key, *sums] for key, sums in by_key.items()],
         orjson.dumps([[number, *sums] for number, sums in by_number.items()]).decode()]
        for minute, (end, by_key, by_number) in sorted(by_minute.items())
    ]  # fmt: skip
    return orjson.dumps({"p": changes.partition, "o": changes.offset, "m": minutes})
