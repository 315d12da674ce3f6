"""The rated CDR event: parsing, validation, normalisation.

A valid event becomes a `Cdr`: start time in UTC epoch milliseconds, durations in integer
microseconds, money in integer millionths of the billing currency — exact, and cheap to add.
An invalid one becomes a reason that names the field.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import orjson

MAX_SINGLE_MESSAGE = 64 * 1024
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)
FUTURE_TOLERANCE_MS = 24 * 3600 * 1000
MAX_MICROS = 10**18 - 1  # Decimal(18, 6) in ClickHouse
DEST_NUMBER = re.compile(r"^\+?[0-9]{1,32}$")
DECIMAL_TEXT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?$")


class Cdr(NamedTuple):
    id: str
    rev: int
    start_ms: int
    customer: str
    provider: str
    customer_destination: str
    provider_destination: str
    cli: str
    dest_number: str
    sip_code: int
    duration_us: int
    customer_duration_us: int
    provider_duration_us: int
    customer_charge_micros: int
    provider_charge_micros: int
    dtmf: int
    pdd_in_ms: int | None
    pdd_out_ms: int | None
    switch: str

    @property
    def connected(self) -> bool:
        return 200 <= self.sip_code <= 299


class InvalidEvent(NamedTuple):
    raw: bytes  # the message's bytes, or one array element re-encoded
    reason: str
    element: int | None  # index in a JSON array message, None for a single event


class Invalid(ValueError):
    pass


def parse_message(value: bytes | None, now_ms: int | None = None) -> tuple[list[Cdr], list[InvalidEvent]]:
    """Every CDR of one Kafka message (an object, or an array of objects) and every invalid one."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    raw = value or b""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return [], [InvalidEvent(raw, f"not JSON: {error}", None)]
    if isinstance(document, list):
        cdrs, invalid = [], []
        for index, element in enumerate(document):
            try:
                cdrs.append(parse_cdr(element, now_ms))
            except Invalid as error:
                invalid.append(InvalidEvent(orjson.dumps(element), f"element {index}: {error}", index))
        return cdrs, invalid
    if len(raw) > MAX_SINGLE_MESSAGE:
        return [], [InvalidEvent(raw, f"message of {len(raw)} bytes exceeds the 64 KiB limit for one CDR", None)]
    try:
        return [parse_cdr(document, now_ms)], []
    except Invalid as error:
        return [], [InvalidEvent(raw, str(error), None)]


def parse_cdr(event: Any, now_ms: int) -> Cdr:
    if not isinstance(event, dict):
        raise Invalid(f"a CDR is a JSON object, got {type(event).__name__}")
    get = event.get
    duration_us = _micros(get("duration", 0), "duration")
    sip_code = _int(event, "sip_code", None, 100, 699)
    connected = 200 <= sip_code <= 299
    if not connected and duration_us > 0:
        raise Invalid(f"duration: {get('duration')} s on a call that did not connect (sip_code {sip_code})")
    start_ms = _start_time(get("start_time"))
    if start_ms > now_ms + FUTURE_TOLERANCE_MS:
        raise Invalid(f"start_time: {get('start_time')} is more than 1 day in the future")
    dest_number = _str(event, "dest_number", None)
    if not DEST_NUMBER.match(dest_number):
        raise Invalid(f"dest_number: expected digits with an optional leading +, got {dest_number!r}")
    customer = _str(event, "customer", None)
    if not customer:
        raise Invalid("customer: must not be empty")
    record_id = _str(event, "id", None)
    if not 1 <= len(record_id) <= 128:
        raise Invalid(f"id: expected 1-128 characters, got {len(record_id)}")
    return Cdr(
        record_id,
        _int(event, "rev", 0, 0, 2**32 - 1),
        start_ms,
        customer,
        _str(event, "provider", ""),
        _str(event, "customer_destination", ""),
        _str(event, "provider_destination", ""),
        _str(event, "cli", ""),
        dest_number,
        sip_code,
        duration_us,
        _micros(get("customer_duration"), "customer_duration") if get("customer_duration") is not None else duration_us,
        _micros(get("provider_duration"), "provider_duration") if get("provider_duration") is not None else duration_us,
        _micros(get("customer_charge", 0), "customer_charge", text_allowed=True),
        _micros(get("provider_charge", 0), "provider_charge", text_allowed=True),
        _int(event, "dtmf", 0, 0, 2**32 - 1),
        _int(event, "pdd_in_ms", None, 0, 2**32 - 1, optional=True),
        _int(event, "pdd_out_ms", None, 0, 2**32 - 1, optional=True),
        _str(event, "switch", ""),
    )


def _str(event: dict, field: str, default: str | None) -> str:
    value = event.get(field)
    if value is None:
        if default is None:
            raise Invalid(f"{field}: required")
        return default
    if not isinstance(value, str):
        raise Invalid(f"{field}: expected a string, got {type(value).__name__}")
    return value


def _int(event: dict, field: str, default: int | None, low: int, high: int, optional: bool = False) -> Any:
    value = event.get(field)
    if value is None:
        if default is None and not optional:
            raise Invalid(f"{field}: required")
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid(f"{field}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise Invalid(f"{field}: {value} is outside {low}..{high}")
    return value


def _micros(value: Any, field: str, text_allowed: bool = False) -> int:
    """A non-negative amount with at most 6 decimal places, in millionths, exactly."""
    kind = type(value)
    if kind is int and 0 <= value <= MAX_MICROS // 1_000_000:
        return value * 1_000_000
    if kind is float or (kind is str and text_allowed):
        text = repr(value) if kind is float else value
        if DECIMAL_TEXT.match(text):  # plain digits: exact integer arithmetic, no Decimal needed
            whole, _, fraction = text.partition(".")
            return int(whole) * 1_000_000 + int(fraction.ljust(6, "0") or 0)
    return _micros_of_anything(value, field, text_allowed)


def _micros_of_anything(value: Any, field: str, text_allowed: bool) -> int:
    """`_micros` for everything off its fast path: exponents, negatives, too many places, wrong types."""
    if isinstance(value, bool) or value is None:
        raise Invalid(f"{field}: expected a number, got {value!r}")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str) and text_allowed:
        if not DECIMAL_TEXT.match(value):
            raise Invalid(f"{field}: expected a non-negative decimal with up to 6 places, got {value!r}")
        amount = Decimal(value)
    else:
        kind = "a number or decimal string" if text_allowed else "a number"
        raise Invalid(f"{field}: expected {kind}, got {value!r}")
    try:
        if not amount.is_finite() or amount < 0:
            raise Invalid(f"{field}: must be a non-negative number, got {value!r}")
        micros = amount.scaleb(6)
        if micros != micros.to_integral_value():
            raise Invalid(f"{field}: more than 6 decimal places in {value!r}")
    except InvalidOperation:
        raise Invalid(f"{field}: not a usable number: {value!r}") from None
    if micros > MAX_MICROS:
        raise Invalid(f"{field}: {value!r} is too large")
    return int(micros)


def _start_time(value: Any) -> int:
    if value is None:
        raise Invalid("start_time: required")
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 253402300800000:
            raise Invalid(f"start_time: epoch milliseconds out of range: {value}")
        return value
    if not isinstance(value, str):
        raise Invalid(f"start_time: expected an RFC 3339 string or epoch milliseconds, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"start_time: not an RFC 3339 date-time: {value!r}") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise Invalid(f"start_time: needs a date, a time and an offset (e.g. 2026-11-02T10:00:00Z), got {value!r}")
    millis = (parsed - EPOCH) // MILLISECOND
    if millis < 0:
        raise Invalid(f"start_time: before 1970: {value!r}")
    return millis
