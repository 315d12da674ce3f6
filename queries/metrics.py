"""Report columns derived from exact metric sums, as reports.md defines them.

Sums stay exact (money as decimals with 6 places, durations in seconds); percentages and
averages are rounded half up to 2 places; a ratio over zero is null.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from pipeline.warehouse.aggregates import BREAKOUT_METRICS as SUM_NAMES

TWO_PLACES = Decimal("0.01")
SIX_PLACES = Decimal("0.000001")
COLUMNS = (  # in the order a carrier reads a route: traffic, quality, minutes, money, then the rest
    "attempts", "connected", "asr", "acd", "duration", "customer_duration", "provider_duration", "customer_charge",
    "provider_charge", "profit", "profit_percent", "pdd_in_avg", "pdd_out_avg", "short_calls", "dtmf",
    "dtmf_calls", "dtmf_percent",
)  # fmt: skip
DTMF_COLUMNS = (
    "dtmf", "dtmf_calls", "connected", "customer_charge", "provider_charge", "provider_cost_per_digit",
    "customer_charge_per_digit", "dtmf_customer_charge", "dtmf_provider_charge", "dtmf_provider_cost_per_digit",
    "dtmf_customer_charge_per_digit",
)  # fmt: skip
MONEY_COLUMNS = frozenset((  # in the currency of the CDRs' charges
    "customer_charge", "provider_charge", "profit", "provider_cost_per_digit", "customer_charge_per_digit",
    "dtmf_customer_charge", "dtmf_provider_charge", "dtmf_provider_cost_per_digit", "dtmf_customer_charge_per_digit",
))  # fmt: skip
# What the text table's header says beside a column: its unit (JSON, CSV and XLSX keep bare names).
UNITS = {
    "duration": "s", "customer_duration": "s", "provider_duration": "s", "acd": "s", "pdd_in_avg": "ms",
    "pdd_out_avg": "ms", "asr": "%", "profit_percent": "%", "dtmf_percent": "%", "short_calls_percent": "%",
    "ner": "%",
}  # fmt: skip
NUMBER_COLUMNS = (
    "attempts", "connected", "duration", "acd", "customer_charge", "provider_charge", "pdd_in_avg", "pdd_out_avg",
)  # fmt: skip


def _millionths(value: int) -> Decimal:
    return (Decimal(value) / 1_000_000).quantize(SIX_PLACES)


def _ratio(numerator: int, denominator: int, scale: int = 1) -> Decimal | None:
    """scale * numerator / denominator rounded half away from zero to 2 places, in integers (exact,
    and cheap enough for the alert rules' evaluation of every key at every minute step)."""
    if not denominator:
        return None
    scaled = 100 * scale * numerator
    quotient, remainder = divmod(abs(scaled), abs(denominator))
    if 2 * remainder >= abs(denominator):
        quotient += 1
    return Decimal(-quotient if (scaled < 0) != (denominator < 0) else quotient).scaleb(-2)


def _per_digit(charge_micros: int, digits: int) -> Decimal | None:
    if not digits:
        return None
    return (_millionths(charge_micros) / digits).quantize(SIX_PLACES, ROUND_HALF_UP)


Sums = dict[str, int]
# Every report column from the metric sums, one definition each (money and durations in millionths).
DEFINITIONS: dict[str, Callable[[Sums], object]] = {
    "attempts": lambda s: s["attempts"],
    "connected": lambda s: s["connected"],
    "duration": lambda s: _millionths(s["duration_us"]),
    "customer_duration": lambda s: _millionths(s["customer_duration_us"]),
    "provider_duration": lambda s: _millionths(s["provider_duration_us"]),
    "customer_charge": lambda s: _millionths(s["customer_charge_micros"]),
    "provider_charge": lambda s: _millionths(s["provider_charge_micros"]),
    "profit": lambda s: _millionths(s["customer_charge_micros"] - s["provider_charge_micros"]),
    "profit_percent": lambda s: _ratio(
        s["customer_charge_micros"] - s["provider_charge_micros"], s["customer_charge_micros"], 100
    ),  # fmt: skip
    "asr": lambda s: _ratio(s["connected"], s["attempts"], 100),
    "acd": lambda s: _ratio(s["duration_us"], s["connected"] * 1_000_000),
    "dtmf": lambda s: s["dtmf"],
    "dtmf_calls": lambda s: s["dtmf_calls"],
    "dtmf_percent": lambda s: _ratio(s["dtmf_calls"], s["connected"], 100),
    "pdd_in_avg": lambda s: _ratio(s["pdd_in_sum"], s["pdd_in_count"]),
    "pdd_out_avg": lambda s: _ratio(s["pdd_out_sum"], s["pdd_out_count"]),
    "short_calls": lambda s: s["short_calls"],
    "provider_cost_per_digit": lambda s: _per_digit(s["provider_charge_micros"], s["dtmf"]),
    "customer_charge_per_digit": lambda s: _per_digit(s["customer_charge_micros"], s["dtmf"]),
    "dtmf_customer_charge": lambda s: _millionths(s["dtmf_customer_charge_micros"]),
    "dtmf_provider_charge": lambda s: _millionths(s["dtmf_provider_charge_micros"]),
    "dtmf_provider_cost_per_digit": lambda s: _per_digit(s["dtmf_provider_charge_micros"], s["dtmf"]),
    "dtmf_customer_charge_per_digit": lambda s: _per_digit(s["dtmf_customer_charge_micros"], s["dtmf"]),
    "short_calls_percent": lambda s: _ratio(s["short_calls"], s["connected"], 100),
    "ner": lambda s: _ratio(s["reached"], s["attempts"], 100),  # live sums only: the reports have no `reached`
}


NO_SUMS: Sums = dict.fromkeys((*SUM_NAMES, "reached"), 0)


def _sums(row: dict[str, int]) -> Sums:
    return {**NO_SUMS, **row}  # the row's other columns come along: the definitions read sums by name


def derive(row: dict[str, int]) -> dict[str, object]:
    """Every report column from the metric sums of one row (sums a table lacks count as 0)."""
    sums = _sums(row)
    return {name: define(sums) for name, define in DEFINITIONS.items()}


def metric(row: dict[str, int], name: str) -> object:
    """One column of derive(row), alone."""
    return DEFINITIONS[name](_sums(row))
