"""Dates as people type them on the command line, turned into the RFC 3339 range reports take.

`--from` and `--to` (and the API's `from` and `to`) take an RFC 3339 time, a local date
(`2026-11-25`) or a word: `today`, `yesterday`, `this-week`, `last-week` (ISO weeks, from Monday),
`this-month`, `last-month`. A date or word stands for a whole local period in the report's time
zone, as the console's date pickers do: `--from` takes its first moment, `--to` its end (so
`--to 2026-11-25` includes the 25th), and a missing `--to` ends the `--from` period.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from queries.errors import ReportError
from queries.times import STORED_DAYS

WORDS = ("today", "yesterday", "this-week", "last-week", "this-month", "last-month")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of `day` in `zone` (midnight, or the end of a daylight-saving gap)."""
    naive = datetime(day.year, day.month, day.day)
    moment = naive.replace(tzinfo=zone)
    if moment.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != naive:  # midnight skipped
        moment = moment.astimezone(timezone.utc).astimezone(zone)
    return moment


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def local_period(name: str, text: str, zone: ZoneInfo, now: datetime) -> tuple[date, date] | None:
    """The local days [first, end) a date or word given as `name` stands for; None for anything else."""
    today = now.astimezone(zone).date()
    if text == "today":
        return today, today + timedelta(days=1)
    if text == "yesterday":
        return today - timedelta(days=1), today
    if text in ("this-week", "last-week"):
        monday = today - timedelta(days=today.weekday() + (7 if text == "last-week" else 0))
        return monday, monday + timedelta(days=7)
    if text == "this-month":
        return today.replace(day=1), _next_month(today.replace(day=1))
    if text == "last-month":
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        return first, today.replace(day=1)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    if len(text) != 10:
        return None
    if not STORED_DAYS[0] <= day < STORED_DAYS[1]:
        raise ReportError(
            f"{name}: outside the days the warehouse stores ({STORED_DAYS[0]} .. {STORED_DAYS[1]}): {text!r}"
        )
    return day, day + timedelta(days=1)


def time_zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"tz: unknown time zone {tz!r}") from None


def resolve_range(start: str, end: str | None, tz: str, now: datetime | None = None) -> tuple[str, str]:
    """(from, to) as RFC 3339 for `--from start --to end`, dates and words read in `tz`."""
    zone = time_zone(tz)
    now = now or datetime.now(timezone.utc)
    first = local_period("from", start, zone, now)
    if end is None:
        if first is None:
            _check_time("from", start)
            raise ReportError("to: required when from is a time (or give a date or word as from)")
        return _midnight(first[0], zone).isoformat(), _midnight(first[1], zone).isoformat()
    last = local_period("to", end, zone, now)
    if first is None:
        _check_time("from", start)
    if last is None:
        _check_time("to", end)
    begins = _midnight(first[0], zone).isoformat() if first else start
    ends = _midnight(last[1], zone).isoformat() if last else end
    return begins, ends


def _check_time(name: str, text: str) -> None:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(
            f"{name}: not an RFC 3339 time, a date (2026-11-25) or one of {', '.join(WORDS)}: {text!r}"
        ) from None


def resolve_moment(name: str, text: str, tz: str, now: datetime | None = None) -> str:
    """An RFC 3339 time as given, or the first moment of a date or word in `tz`."""
    zone = time_zone(tz)
    period = local_period(name, text, zone, now or datetime.now(timezone.utc))
    return text if period is None else _midnight(period[0], zone).isoformat()
