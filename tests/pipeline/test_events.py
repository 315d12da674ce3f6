import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.events import parse_message

NOW = 1_795_000_000_000
VALID = {
    "id": "a1",
    "start_time": "2026-11-02T10:00:00.250+05:30",
    "customer": "acme",
    "dest_number": "+447700900123",
    "sip_code": 200,
    "duration": 61.5,
    "customer_charge": "0.123456",
    "provider_charge": 0.1,
}


def one(event) -> tuple:
    return parse_message(orjson.dumps(event), NOW)


def reason(event) -> str:
    cdrs, invalid = one(event)
    assert cdrs == [] and len(invalid) == 1
    return invalid[0].reason


def test_a_valid_cdr_is_normalised_exactly():
    [cdr], invalid = one(VALID)
    assert invalid == []
    assert cdr.start_ms == 1_793_593_800_250  # 2026-11-02T04:30:00.250Z
    assert cdr.duration_us == cdr.customer_duration_us == cdr.provider_duration_us == 61_500_000
    assert (cdr.customer_charge_micros, cdr.provider_charge_micros) == (123_456, 100_000)
    assert (cdr.rev, cdr.provider, cdr.switch, cdr.dtmf, cdr.pdd_in_ms) == (0, "", "", 0, None)
    assert cdr.connected


def test_epoch_milliseconds_and_unknown_fields_are_accepted():
    [cdr], _ = one(dict(VALID, start_time=1_793_593_800_250, vendor_extra={"x": 1}))
    assert cdr.start_ms == 1_793_593_800_250


def test_an_array_message_is_many_cdrs_and_bad_elements_are_named():
    cdrs, invalid = parse_message(orjson.dumps([VALID, dict(VALID, sip_code=42), dict(VALID, id="a2")]), NOW)
    assert [c.id for c in cdrs] == ["a1", "a2"]
    assert invalid[0].element == 1 and invalid[0].reason.startswith("element 1: sip_code")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_charge": -1}, "customer_charge"),
        ({"customer_charge": "1.1234567"}, "customer_charge"),
        ({"provider_charge": "abc"}, "provider_charge"),
        ({"sip_code": 42}, "sip_code"),
        ({"sip_code": "200"}, "sip_code"),
        ({"start_time": "2026-13-02T10:00:00Z"}, "start_time"),
        ({"start_time": "2026-11-02T10:00:00"}, "start_time"),
        ({"start_time": NOW + 2 * 86400_000}, "start_time"),
        ({"id": ""}, "id"),
        ({"id": "x" * 129}, "id"),
        ({"dest_number": "44-77"}, "dest_number"),
        ({"customer": None}, "customer"),
        ({"sip_code": 486}, "duration"),
        ({"duration": -3}, "duration"),
        ({"dtmf": 1.5}, "dtmf"),
        ({"rev": -1}, "rev"),
        ({"pdd_in_ms": True}, "pdd_in_ms"),
    ],
)
def test_invalid_events_name_the_field(change, field):
    assert reason(dict(VALID, **change)).startswith(f"{field}: ")


def test_not_json_not_an_object_and_too_large():
    assert parse_message(b"{", NOW)[1][0].reason.startswith("not JSON")
    assert parse_message(b"42", NOW)[1][0].reason.startswith("a CDR is a JSON object")
    big = orjson.dumps(dict(VALID, pad="x" * 70_000))
    assert "64 KiB" in parse_message(big, NOW)[1][0].reason


def test_a_failed_call_without_duration_is_valid():
    [cdr], _ = one(dict(VALID, sip_code=487, duration=0))
    assert not cdr.connected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(VALID) + ["rev", "dtmf", "pdd_in_ms", "cli"]), json_values))
def test_no_object_crashes_the_parser(event):
    cdrs, invalid = parse_message(orjson.dumps(dict(VALID, **event)), NOW)
    assert len(cdrs) + len(invalid) == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_no_bytes_crash_the_parser(raw):
    cdrs, invalid = parse_message(raw, NOW)
    assert all(i.reason for i in invalid)


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=False).map(str),
                 st.from_regex(r"\A[0-9]{1,13}(\.[0-9]{0,7})?\Z")))  # fmt: skip
@settings(max_examples=400)
def test_the_fast_amount_path_agrees_with_exact_decimal_arithmetic(value):
    from pipeline.events import Invalid, _micros, _micros_of_anything

    def outcome(parse):
        try:
            return parse(value, "customer_charge", True)
        except Invalid:
            return "invalid"

    assert outcome(_micros) == outcome(_micros_of_anything)
