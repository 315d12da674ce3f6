"""The top numbers: the busiest dialled numbers of a range, ordered by attempts, connected calls,
duration, customer charge or short calls, from `agg_number`.

Like the Per Number summary, whole 15-minute buckets come from the aggregates and the cut edges
of the range from the raw CDRs (newest revision only), so the sums are exact; a number with and
without its leading `+` is one number, shown without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.warehouse.aggregates import BREAKOUT_METRICS
from queries.breakout import RAW_EDGES, RAW_VECTOR, WHOLE_BUCKETS, bucket_bounds, epoch_ms
from queries.errors import ReportError
from queries.per_number import SUMMARY_SUMS

ORDERS = {  # `by` -> the sum it orders by
    "attempts": "attempts", "connected": "connected", "duration": "duration_us",
    "customer_charge": "customer_charge_micros", "short_calls": "short_calls",
}  # fmt: skip
TOP_SUMS = (*SUMMARY_SUMS, "short_calls")
RAW_SUMS = {name: expr for name, expr in zip(BREAKOUT_METRICS, RAW_VECTOR) if name in TOP_SUMS}
TOP_COLUMNS = (
    "attempts", "connected", "asr", "duration", "acd", "customer_charge", "provider_charge", "pdd_in_avg",
    "pdd_out_avg", "short_calls",
)  # fmt: skip
TOP_LIMIT, MAX_TOP_LIMIT = 50, 1000


@dataclass(frozen=True)
class TopNumbersQuery:
    start: datetime
    end: datetime
    by: str = "attempts"
    limit: int = TOP_LIMIT
    customers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # refused: the per-number aggregates keep no provider

    def __post_init__(self) -> None:
        if self.by not in ORDERS:
            raise ReportError(f"by: one of {', '.join(ORDERS)}, not {self.by!r}")
        if not 1 <= self.limit <= MAX_TOP_LIMIT:
            raise ReportError(f"limit: 1 to {MAX_TOP_LIMIT} numbers, not {self.limit}")
        if self.providers:
            raise ReportError("provider: the top numbers are by customer only (the per-number sums keep no provider)")
        if self.start >= self.end:
            raise ReportError("from must be before to")

    def sql(self) -> tuple[str, dict]:
        """The `limit` numbers with the most `by` (ties by number): number and TOP_SUMS."""
        left_start, inner_start, inner_end, right_end = bucket_bounds(epoch_ms(self.start), epoch_ms(self.end))
        customers = " AND customer IN {customers:Array(String)}" if self.customers else ""
        aggregated = (
            f"SELECT number AS stored, {', '.join(TOP_SUMS)} FROM agg_number "
            f"WHERE kind = 'dest' AND {WHOLE_BUCKETS}{customers}"
        )
        raw = ", ".join(f"{expr} AS {name}" for name, expr in RAW_SUMS.items())
        edges = (
            f"SELECT dest_number AS stored, {raw} FROM cdr FINAL WHERE dest_number != '' AND ({RAW_EDGES}){customers}"
        )
        sums = ", ".join(f"sum({name}) AS {name}" for name in TOP_SUMS)
        sql = (
            f"SELECT if(startsWith(stored, '+'), substring(stored, 2), stored) AS number, {sums} "
            f"FROM ({aggregated} UNION ALL {edges}) GROUP BY number HAVING attempts != 0 "
            f"ORDER BY {ORDERS[self.by]} DESC, number LIMIT {{top:UInt32}}"
        )
        params = {
            "left_start": left_start, "inner_start": inner_start, "inner_end": inner_end, "right_end": right_end,
            "customers": list(self.customers), "top": self.limit,
        }  # fmt: skip
        return sql, params
