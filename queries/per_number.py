"""The Per Number report: one or many numbers, matched on the dialled (`dest`) or calling (`cli`)
number, over at most six months: a summary per number and SIP code, or the call list.

A dialled number is the same number with or without its leading `+` (switches differ in how
they write it): both forms are searched, and the summary shows it without the `+`.

The summary reads whole 15-minute buckets from `agg_number` and the cut edges of the range from
the raw CDRs (newest revision only), like the breakout; the call list reads the raw CDRs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from pipeline.warehouse.aggregates import BREAKOUT_METRICS
from queries.breakout import RAW_EDGES, RAW_VECTOR, WHOLE_BUCKETS, WHOLE_RANGE, bucket_bounds, epoch_ms
from queries.errors import ReportError
from queries.times import parse_moment

MAX_MONTHS = 6
MAX_NUMBERS = 1000
CALLS_PER_PAGE, MAX_CALLS_PER_PAGE = 1000, 100_000
DEST_NUMBER = re.compile(r"^\+?[0-9]{1,32}$")
SUMMARY_SUMS = (
    "attempts", "connected", "duration_us", "customer_charge_micros", "provider_charge_micros",
    "pdd_in_sum", "pdd_in_count", "pdd_out_sum", "pdd_out_count",
)  # fmt: skip
RAW_SUMS = {name: expr for name, expr in zip(BREAKOUT_METRICS, RAW_VECTOR) if name in SUMMARY_SUMS}
CALL_COLUMNS = (
    "id", "rev", "start_time", "customer", "provider", "customer_destination", "provider_destination", "cli",
    "dest_number", "sip_code", "duration", "customer_duration", "provider_duration", "customer_charge",
    "provider_charge", "dtmf", "pdd_in_ms", "pdd_out_ms", "switch",
)  # fmt: skip


def months_later(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


@dataclass(frozen=True)
class PerNumberQuery:
    start: datetime
    end: datetime
    numbers: tuple[str, ...]
    by: str = "dest"
    customers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # the per-number aggregates have no provider: filtered on the raw CDRs

    def __post_init__(self) -> None:
        if self.by not in ("dest", "cli"):
            raise ReportError(f"by: must be dest or cli, not {self.by!r}")
        if not self.numbers:
            raise ReportError("number: at least one number is required")
        if len(self.numbers) > MAX_NUMBERS:
            raise ReportError(f"number: at most {MAX_NUMBERS} numbers at once")
        for number in self.numbers:
            valid = DEST_NUMBER.match(number) if self.by == "dest" else 0 < len(number) <= 64
            if not valid:
                raise ReportError(f"number: not a {'dialled' if self.by == 'dest' else 'calling'} number: {number!r}")
        if self.start >= self.end:
            raise ReportError("from must be before to")
        if self.end > months_later(self.start, MAX_MONTHS):
            raise ReportError(
                f"the range is longer than {MAX_MONTHS} months; Per Number looks at most {MAX_MONTHS} months at once"
            )

    @property
    def column(self) -> str:
        return "dest_number" if self.by == "dest" else "cli"

    @property
    def stored_forms(self) -> list[str]:
        """The numbers as CDRs may hold them: a dialled number with and without its leading `+`."""
        if self.by == "cli":
            return list(self.numbers)
        digits = dict.fromkeys(number.removeprefix("+") for number in self.numbers)
        return [form for number in digits for form in (number, "+" + number)]

    def _params(self) -> dict:
        left_start, inner_start, inner_end, right_end = bucket_bounds(epoch_ms(self.start), epoch_ms(self.end))
        return {
            "left_start": left_start, "inner_start": inner_start, "inner_end": inner_end, "right_end": right_end,
            "numbers": self.stored_forms, "customers": list(self.customers), "kind": self.by,
            "providers": list(self.providers),
        }  # fmt: skip

    def _customer_filter(self) -> str:
        return " AND customer IN {customers:Array(String)}" if self.customers else ""

    def _provider_filter(self) -> str:
        return " AND provider IN {providers:Array(String)}" if self.providers else ""

    def summary_sql(self) -> tuple[str, dict]:
        """Rows of number (a dialled one without its `+`), sip_code and SUMMARY_SUMS."""
        sums = ", ".join(f"sum({name}) AS {name}" for name in SUMMARY_SUMS)
        shown = "if(startsWith(stored, '+'), substring(stored, 2), stored)" if self.by == "dest" else "stored"
        sql = (
            f"SELECT {shown} AS number, sip_code, {sums} FROM ({self._sums()}) "
            "GROUP BY number, sip_code ORDER BY number, sip_code"
        )
        return sql, self._params()

    def totals_sql(self) -> tuple[str, dict]:
        """One row of SUMMARY_SUMS over every number searched."""
        sums = ", ".join(f"sum({name}) AS {name}" for name in SUMMARY_SUMS)
        return f"SELECT {sums} FROM ({self._sums()})", self._params()

    def _sums(self) -> str:
        """Rows of stored number, sip_code and SUMMARY_SUMS: whole buckets, then the cut edges (or,
        filtered by provider, all of the range from the raw CDRs)."""
        raw = ", ".join(f"{expr} AS {name}" for name, expr in RAW_SUMS.items())
        if self.providers:
            return (
                f"SELECT {self.column} AS stored, sip_code, {raw} FROM cdr FINAL "
                f"WHERE {self.column} IN {{numbers:Array(String)}} AND {WHOLE_RANGE}"
                + self._customer_filter() + self._provider_filter()
            )  # fmt: skip
        aggregated = (
            f"SELECT number AS stored, sip_code, {', '.join(SUMMARY_SUMS)} FROM agg_number "
            f"WHERE kind = {{kind:String}} AND number IN {{numbers:Array(String)}} AND {WHOLE_BUCKETS}"
            + self._customer_filter()
        )
        edges = (
            f"SELECT {self.column} AS stored, sip_code, {raw} FROM cdr FINAL "
            f"WHERE {self.column} IN {{numbers:Array(String)}} AND (" + RAW_EDGES + ")" + self._customer_filter()
        )
        return f"{aggregated} UNION ALL {edges}"

    def calls_sql(self, page: CallPage) -> tuple[str, dict]:
        """The CDRs of the numbers in the range on `page`, newest revision, by start_time and id,
        and one more row when more follow."""
        sql = (
            f"SELECT {', '.join(CALL_COLUMNS)} FROM cdr FINAL "
            f"WHERE {self.column} IN {{numbers:Array(String)}} AND {WHOLE_RANGE}"
            + self._customer_filter()
            + self._provider_filter()
            + (
                " AND (start_time, id) > (fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC'), {after_id:String})"
                if page.after
                else ""
            )
            + " ORDER BY start_time, id LIMIT {page_rows:UInt32}"
        )
        params = self._params()
        if page.after:
            params |= {"after_ms": epoch_ms(page.after[0]), "after_id": page.after[1]}
        params["page_rows"] = page.limit + 1
        return sql, params


@dataclass(frozen=True)
class CallPage:
    """A page of a call list: at most `limit` calls after the call `after` (its start time and id)."""

    limit: int = CALLS_PER_PAGE
    after: tuple[datetime, str] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_CALLS_PER_PAGE:
            raise ReportError(f"limit: 1 to {MAX_CALLS_PER_PAGE} calls a page, not {self.limit}")


def parse_after(text: str) -> tuple[datetime, str]:
    """`after` as a page's `next` gives it: the last call's RFC 3339 start time, a comma, its id."""
    moment, comma, call_id = text.partition(",")
    if not comma or not call_id:
        raise ReportError(f"after: the last call's start time and id, as `next` gives them, not {text!r}")
    return parse_moment("after", moment), call_id


def next_after(start: datetime, call_id: str) -> str:
    """The `after` of the page that follows a call starting at `start` (naive: UTC) with this id."""
    utc = (start if start.tzinfo else start.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return f"{utc.isoformat(timespec='milliseconds').replace('+00:00', 'Z')},{call_id}"
