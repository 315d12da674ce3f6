"""Times as requests give them: RFC 3339 text with an offset, read once for every kind of request."""

from __future__ import annotations

from datetime import date, datetime, timezone

from queries.errors import ReportError

# The days a DateTime64 column holds: [first, end).
STORED_DAYS = (date(1900, 1, 1), date(2300, 1, 1))


def parse_moment(name: str, text: str) -> datetime:
    """An aware datetime from RFC 3339 text; the ReportError names the parameter."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{name}: not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ReportError(f"{name}: needs a UTC offset (e.g. Z or +05:30): {text!r}")
    first, end = (datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in STORED_DAYS)
    if not first <= moment <= end:
        raise ReportError(
            f"{name}: outside the times the warehouse stores ({STORED_DAYS[0]} .. {STORED_DAYS[1]}): {text!r}"
        )
    return moment
