"""The Breakout report: metric sums grouped by any of the breakout groups, over an exact range.

Whole 15-minute buckets inside the range are read from `agg_breakout`; the parts of the range
that cut a bucket (ranges are exact to the millisecond) are read from the raw CDRs, newest
revision only. Both sides produce the same metric vector, so the union sums exactly.
The aggregates keep no SIP code, so a report grouped by `sip_code` reads the raw CDRs of the
whole range (newest revision only): exact as well, slower over long ranges.
Group names, filters and the time zone are whitelisted; every value reaches ClickHouse as a
query parameter, never as SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, available_timezones

from pipeline.warehouse.aggregates import BREAKOUT_METRICS, BUCKET_MS
from queries.errors import ReportError

DIMENSIONS = ("customer", "provider", "customer_destination", "provider_destination", "switch")
TIME_GROUPS = {
    "hour": "toStartOfHour(t, {tz:String})",
    "day": "toStartOfDay(t, {tz:String})",
    "week": "toDateTime(toMonday(t, {tz:String}), {tz:String})",
    "month": "toDateTime(toStartOfMonth(t, {tz:String}), {tz:String})",
}
SIP_CODE = "sip_code"  # a group for NOC work, read from the raw CDRs
GROUPS = DIMENSIONS + (SIP_CODE,) + tuple(TIME_GROUPS)
# The metric vector of one raw CDR, in BREAKOUT_METRICS order (as the views of 004_cdr_changes.sql add it).
RAW_VECTOR = (
    "toInt64(1)",
    "toInt64(sip_code BETWEEN 200 AND 299)",
    "toInt64(toDecimal128(duration, 6) * 1000000)",  # exact up to 10^12: Decimal64 * 10^6 would overflow
    "toInt64(toDecimal128(customer_duration, 6) * 1000000)",
    "toInt64(toDecimal128(provider_duration, 6) * 1000000)",
    "toInt64(toDecimal128(customer_charge, 6) * 1000000)",
    "toInt64(toDecimal128(provider_charge, 6) * 1000000)",
    "toInt64(dtmf)",
    "toInt64(sip_code BETWEEN 200 AND 299 AND dtmf > 0)",
    "toInt64(ifNull(pdd_in_ms, 0))",
    "toInt64(isNotNull(pdd_in_ms))",
    "toInt64(ifNull(pdd_out_ms, 0))",
    "toInt64(isNotNull(pdd_out_ms))",
    "toInt64(sip_code BETWEEN 200 AND 299 AND duration < 6)",
    "toInt64(sip_code BETWEEN 200 AND 299 AND dtmf > 0) * toInt64(toDecimal128(customer_charge, 6) * 1000000)",
    "toInt64(sip_code BETWEEN 200 AND 299 AND dtmf > 0) * toInt64(toDecimal128(provider_charge, 6) * 1000000)",
)


@dataclass(frozen=True)
class BreakoutQuery:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware
    groups: tuple[str, ...] = ("customer", "provider")
    customers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    tz: str = "UTC"
    parameters: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [g for g in self.groups if g not in GROUPS]
        if unknown:
            raise ReportError(f"unknown group {unknown[0]!r}; groups are {', '.join(GROUPS)}")
        if len(set(self.groups)) != len(self.groups):
            raise ReportError("a group is named twice")
        if self.tz not in available_timezones() and self.tz != "UTC":
            raise ReportError(f"unknown time zone {self.tz!r}")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ReportError("from and to need a UTC offset")
        if self.start >= self.end:
            raise ReportError("from must be before to")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def sql(self) -> tuple[str, dict]:
        """The query and its parameters. Result columns: the groups, then BREAKOUT_METRICS sums."""
        left_start, inner_start, inner_end, right_end = bucket_bounds(epoch_ms(self.start), epoch_ms(self.end))
        params = {
            "left_start": left_start, "inner_start": inner_start, "inner_end": inner_end, "right_end": right_end,
            "customers": list(self.customers), "providers": list(self.providers), "tz": self.tz,
        }  # fmt: skip
        filters = ""
        if self.customers:
            filters += " AND customer IN {customers:Array(String)}"
        if self.providers:
            filters += " AND provider IN {providers:Array(String)}"
        dims = ", ".join(DIMENSIONS)
        vector = ", ".join(f"{expr} AS {name}" for expr, name in zip(RAW_VECTOR, BREAKOUT_METRICS))
        if SIP_CODE in self.groups:
            rows = (
                f"SELECT toDateTime(start_time, 'UTC') AS t, {dims}, sip_code, {vector} FROM cdr FINAL "
                f"WHERE {WHOLE_RANGE}{filters}"
            )
        else:
            aggregated = (
                f"SELECT bucket AS t, {dims}, {', '.join(BREAKOUT_METRICS)} FROM agg_breakout "
                f"WHERE {WHOLE_BUCKETS}{filters}"
            )
            edges = (
                f"SELECT toDateTime(start_time, 'UTC') AS t, {dims}, {vector} FROM cdr FINAL "
                f"WHERE ({RAW_EDGES}){filters}"
            )
            rows = f"{aggregated} UNION ALL {edges}"
        group_exprs = [f"toUnixTimestamp({TIME_GROUPS[g]}) AS {g}" if g in TIME_GROUPS else g for g in self.groups]
        sums = ", ".join(f"sum({name}) AS {name}" for name in BREAKOUT_METRICS)
        select = ", ".join([*group_exprs, sums])
        group_by = f" GROUP BY {', '.join(self.groups)} ORDER BY {', '.join(self.groups)}" if self.groups else ""
        sql = f"SELECT {select} FROM ({rows}){group_by}"
        return sql, params

    def group_value(self, group: str, value: object) -> object:
        """A group cell as shown: time buckets as their local start in the query's zone."""
        if group in TIME_GROUPS:
            return datetime.fromtimestamp(int(value), self.zone).isoformat()
        return value


def bucket_bounds(start_ms: int, end_ms: int) -> tuple[int, int, int, int]:
    """(left_start, inner_start, inner_end, right_end): whole buckets are [inner_start, inner_end),
    raw CDRs cover [left_start, inner_start) and [inner_end, right_end)."""
    inner_start = -(-start_ms // BUCKET_MS) * BUCKET_MS
    inner_end = end_ms // BUCKET_MS * BUCKET_MS
    if inner_start >= inner_end:  # no whole bucket: all of the range comes from raw CDRs
        inner_start = inner_end = end_ms
    return start_ms, inner_start, inner_end, end_ms


# The whole buckets of a range, on an aggregate table's `bucket`.
WHOLE_BUCKETS = (
    "bucket >= toDateTime(intDiv({inner_start:Int64}, 1000), 'UTC')"
    " AND bucket < toDateTime(intDiv({inner_end:Int64}, 1000), 'UTC')"
)
# All of a range, on `cdr.start_time`.
WHOLE_RANGE = (
    "start_time >= fromUnixTimestamp64Milli({left_start:Int64}, 'UTC')"
    " AND start_time < fromUnixTimestamp64Milli({right_end:Int64}, 'UTC')"
)
# The parts of a range outside whole buckets, on `cdr.start_time`.
RAW_EDGES = (
    "(start_time >= fromUnixTimestamp64Milli({left_start:Int64}, 'UTC')"
    " AND start_time < fromUnixTimestamp64Milli({inner_start:Int64}, 'UTC'))"
    " OR (start_time >= fromUnixTimestamp64Milli({inner_end:Int64}, 'UTC')"
    " AND start_time < fromUnixTimestamp64Milli({right_end:Int64}, 'UTC'))"
)


def epoch_ms(moment: datetime) -> int:
    delta = moment.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
