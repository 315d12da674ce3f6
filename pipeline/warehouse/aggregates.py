"""What the aggregate tables hold: 15-minute buckets and exact integer metric sums.

`agg_breakout` and `agg_number` are filled by ClickHouse itself from each batch's signed CDR
revisions (deploy/clickhouse/004_cdr_changes.sql); the report queries read these columns.
Sums are integers (counts, microseconds, millionths of the currency), so adding a revision and
taking it back are exact, and every metric of the reports derives from them.
"""

from __future__ import annotations

BUCKET_MS = 15 * 60 * 1000  # every IANA offset is a whole number of quarter hours

BREAKOUT_METRICS = (
    "attempts",
    "connected",
    "duration_us",
    "customer_duration_us",
    "provider_duration_us",
    "customer_charge_micros",
    "provider_charge_micros",
    "dtmf",
    "dtmf_calls",
    "pdd_in_sum",
    "pdd_in_count",
    "pdd_out_sum",
    "pdd_out_count",
    "short_calls",
    "dtmf_customer_charge_micros",  # the charges of the DTMF calls alone
    "dtmf_provider_charge_micros",
)
