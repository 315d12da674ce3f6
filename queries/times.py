"""Times as requests give them: RFC 3339 text with an offset, read once for every kind of request."""

from __future__ import annotations

from datetime import datetime

from queries.errors import ReportError


def parse_moment(name: str, text: str) -> datetime:
    """An aware datetime from RFC 3339 text; the ReportError names the parameter."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{name}: not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ReportError(f"{name}: needs a UTC offset (e.g. Z or +05:30): {text!r}")
    return moment
