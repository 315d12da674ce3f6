"""Report columns from exact sums: the definitions, rounding and null rules of the reports."""

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from pipeline.warehouse.aggregates import BREAKOUT_METRICS
from queries.metrics import derive, metric


def sums(**given: int) -> dict[str, int]:
    return {**dict.fromkeys(BREAKOUT_METRICS, 0), **given}


def test_definitions():
    row = derive(sums(attempts=3, connected=2, duration_us=100_000_001, customer_duration_us=120_000_000,
                      provider_duration_us=102_000_000, customer_charge_micros=3_000_000, provider_charge_micros=1_000_001,
                      dtmf=7, dtmf_calls=1, pdd_in_sum=3001, pdd_in_count=2, pdd_out_sum=900, pdd_out_count=1,
                      short_calls=1, dtmf_customer_charge_micros=1_400_000, dtmf_provider_charge_micros=700_001))  # fmt: skip
    assert row == {
        "attempts": 3, "connected": 2, "duration": Decimal("100.000001"), "customer_duration": Decimal("120.000000"),
        "provider_duration": Decimal("102.000000"), "customer_charge": Decimal("3.000000"),
        "provider_charge": Decimal("1.000001"), "profit": Decimal("1.999999"), "profit_percent": Decimal("66.67"),
        "asr": Decimal("66.67"), "acd": Decimal("50.00"), "dtmf": 7, "dtmf_calls": 1, "dtmf_percent": Decimal("50.00"),
        "pdd_in_avg": Decimal("1500.50"), "pdd_out_avg": Decimal("900.00"), "short_calls": 1,
        "provider_cost_per_digit": Decimal("0.142857"), "customer_charge_per_digit": Decimal("0.428571"),
        "dtmf_customer_charge": Decimal("1.400000"), "dtmf_provider_charge": Decimal("0.700001"),
        "dtmf_provider_cost_per_digit": Decimal("0.100000"), "dtmf_customer_charge_per_digit": Decimal("0.200000"),
        "short_calls_percent": Decimal("50.00"), "ner": Decimal("0.00"),
    }  # fmt: skip


def test_ner_counts_the_attempts_that_reached_the_far_end():
    assert derive({"attempts": 8, "reached": 3})["ner"] == Decimal("37.50")  # 2xx, 480, 486, 487, 603
    assert derive({"attempts": 0})["ner"] is None


def test_ratios_over_nothing_are_null():
    row = derive(sums(attempts=4))  # no connected call, no charge, no digits, no PDD
    assert row["asr"] == Decimal("0.00")
    nulls = ("acd", "profit_percent", "dtmf_percent", "pdd_in_avg", "pdd_out_avg", "provider_cost_per_digit",
             "customer_charge_per_digit", "dtmf_provider_cost_per_digit", "dtmf_customer_charge_per_digit")  # fmt: skip
    assert [row[name] for name in nulls] == [None] * len(nulls)


def test_rounding_is_half_up_to_two_places():
    assert derive(sums(attempts=8, connected=1))["asr"] == Decimal("12.50")
    assert derive(sums(attempts=200_000, connected=25))["asr"] == Decimal("0.01")  # 0.0125 rounds up
    assert derive(sums(attempts=3, connected=1))["asr"] == Decimal("33.33")


def test_a_loss_is_a_negative_profit():
    row = derive(sums(customer_charge_micros=1_000_000, provider_charge_micros=1_500_000))
    assert (row["profit"], row["profit_percent"]) == (Decimal("-0.500000"), Decimal("-50.00"))


@given(st.integers(-(10**15), 10**15), st.integers(-(10**9), 10**9).filter(bool), st.sampled_from([1, 100]))
def test_ratios_are_those_of_decimal_division_rounded_half_away_from_zero(numerator, denominator, scale):
    exact = (Decimal(scale) * Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    got = (
        derive({"attempts": denominator, "connected": numerator})["asr"]
        if scale == 100
        else derive({"pdd_in_sum": numerator, "pdd_in_count": denominator})["pdd_in_avg"]
    )
    assert got == exact and (str(got) == str(exact) or got == 0)  # no "-0.00"


def test_one_metric_alone_is_the_same_as_in_every_column():
    row = sums(attempts=7, connected=3, duration_us=95_000_001, customer_charge_micros=12_345_678)
    assert {name: metric(row, name) for name in derive(row)} == derive(row)
