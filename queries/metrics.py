"""Report columns derived from exact metric sums, as reports.md defines them.

Sums stay exact (money as decimals with 6 places, durations in seconds); percentages and
averages are rounded half up to 2 places; a ratio over zero is null.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pipeline.aggregates import BREAKOUT_METRICS as SUM_NAMES

TWO_PLACES = Decimal("0.01")
SIX_PLACES = Decimal("0.000001")
COLUMNS = (  # in the order a carrier reads a route: traffic, quality, minutes, money, then the rest
    "attempts", "connected", "asr", "acd", "duration", "customer_duration", "provider_duration", "customer_charge",
    "provider_charge", "profit", "profit_percent", "pdd_in_avg", "pdd_out_avg", "short_calls", "dtmf",
    "dtmf_calls", "dtmf_percent",
)  # fmt: skip
DTMF_COLUMNS = (
    "dtmf", "dtmf_calls", "connected", "customer_charge", "provider_charge", "provider_cost_per_digit",
    "customer_charge_per_digit",
)  # fmt: skip
NUMBER_COLUMNS = (
    "attempts", "connected", "duration", "acd", "customer_charge", "provider_charge", "pdd_in_avg", "pdd_out_avg",
)  # fmt: skip


def _millionths(value: int) -> Decimal:
    return (Decimal(value) / 1_000_000).quantize(SIX_PLACES)


def _ratio(numerator: Decimal | int, denominator: Decimal | int, scale: int = 1) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(scale) * Decimal(numerator) / Decimal(denominator)).quantize(TWO_PLACES, ROUND_HALF_UP)


def _per_digit(charge: Decimal, digits: int) -> Decimal | None:
    return (charge / digits).quantize(SIX_PLACES, ROUND_HALF_UP) if digits else None


def derive(row: dict[str, int]) -> dict[str, object]:
    """Every report column from the metric sums of one row (sums a table lacks count as 0)."""
    sums = {name: row.get(name, 0) for name in (*SUM_NAMES, "reached")}
    customer_charge = _millionths(sums["customer_charge_micros"])
    provider_charge = _millionths(sums["provider_charge_micros"])
    duration = _millionths(sums["duration_us"])
    profit = customer_charge - provider_charge
    return {
        "attempts": sums["attempts"],
        "connected": sums["connected"],
        "duration": duration,
        "customer_duration": _millionths(sums["customer_duration_us"]),
        "provider_duration": _millionths(sums["provider_duration_us"]),
        "customer_charge": customer_charge,
        "provider_charge": provider_charge,
        "profit": profit,
        "profit_percent": _ratio(profit, customer_charge, 100),
        "asr": _ratio(sums["connected"], sums["attempts"], 100),
        "acd": _ratio(duration, sums["connected"]),
        "dtmf": sums["dtmf"],
        "dtmf_calls": sums["dtmf_calls"],
        "dtmf_percent": _ratio(sums["dtmf_calls"], sums["connected"], 100),
        "pdd_in_avg": _ratio(sums["pdd_in_sum"], sums["pdd_in_count"]),
        "pdd_out_avg": _ratio(sums["pdd_out_sum"], sums["pdd_out_count"]),
        "short_calls": sums["short_calls"],
        "short_calls_percent": _ratio(sums["short_calls"], sums["connected"], 100),
        "ner": _ratio(sums["reached"], sums["attempts"], 100),  # live sums only: the reports have no `reached`
        "provider_cost_per_digit": _per_digit(provider_charge, sums["dtmf"]),
        "customer_charge_per_digit": _per_digit(customer_charge, sums["dtmf"]),
    }
