"""Bucketing and metric vectors: what one CDR contributes to each aggregate.

A vector is a tuple of integers (counts, microseconds, millionths), so adding and taking back
revisions is exact. Every metric of reports.md derives from these sums.
"""

from __future__ import annotations

from pipeline.events import Cdr

BUCKET_MS = 15 * 60 * 1000  # every IANA offset is a whole number of quarter hours
SHORT_CALL_US = 6_000_000

BREAKOUT_DIMENSIONS = ("customer", "provider", "customer_destination", "provider_destination", "switch")
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
)
NUMBER_DIMENSIONS = ("kind", "number", "bucket", "sip_code", "customer")
NUMBER_METRICS = (
    "attempts",
    "connected",
    "duration_us",
    "customer_charge_micros",
    "provider_charge_micros",
    "pdd_in_sum",
    "pdd_in_count",
    "pdd_out_sum",
    "pdd_out_count",
)
# Positions of the number metrics inside a breakout vector.
NUMBER_FROM_BREAKOUT = tuple(BREAKOUT_METRICS.index(name) for name in NUMBER_METRICS)

Vector = tuple[int, ...]
# ("b", bucket_ms, customer, provider, customer_destination, provider_destination, switch)
# ("n", kind, number, bucket_ms, sip_code, customer)
AggregateKey = tuple


def bucket_of(start_ms: int) -> int:
    """Start (epoch ms) of the 15-minute bucket holding `start_ms`."""
    return start_ms - start_ms % BUCKET_MS


def breakout_vector(cdr: Cdr) -> Vector:
    connected = 200 <= cdr.sip_code <= 299
    pdd_in, pdd_out = cdr.pdd_in_ms, cdr.pdd_out_ms
    return (
        1,
        1 if connected else 0,
        cdr.duration_us,
        cdr.customer_duration_us,
        cdr.provider_duration_us,
        cdr.customer_charge_micros,
        cdr.provider_charge_micros,
        cdr.dtmf,
        1 if connected and cdr.dtmf > 0 else 0,
        pdd_in or 0,
        0 if pdd_in is None else 1,
        pdd_out or 0,
        0 if pdd_out is None else 1,
        1 if connected and cdr.duration_us < SHORT_CALL_US else 0,
    )


def contributions(cdr: Cdr) -> list[tuple[AggregateKey, Vector]]:
    """Each aggregate key this CDR counts in, with what it adds there."""
    bucket = bucket_of(cdr.start_ms)
    vector = breakout_vector(cdr)
    number_vector = tuple(vector[i] for i in NUMBER_FROM_BREAKOUT)
    keys = [
        (("b", bucket, cdr.customer, cdr.provider, cdr.customer_destination, cdr.provider_destination, cdr.switch), vector),
        (("n", "dest", cdr.dest_number, bucket, cdr.sip_code, cdr.customer), number_vector),
    ]
    if cdr.cli:
        keys.append((("n", "cli", cdr.cli, bucket, cdr.sip_code, cdr.customer), number_vector))
    return keys


def add_into(totals: dict[AggregateKey, list[int]], key: AggregateKey, vector: Vector, sign: int) -> None:
    current = totals.get(key)
    if current is None:
        totals[key] = [sign * v for v in vector]
    else:
        for i, v in enumerate(vector):
            current[i] += sign * v
