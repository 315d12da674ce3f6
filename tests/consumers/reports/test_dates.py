"""Dates as people type them: local days and words in the report's zone, `to` included."""

from datetime import datetime, timezone

import pytest

from consumers.reports.dates import resolve_moment, resolve_range
from queries.errors import ReportError

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=timezone.utc)  # still the 26th in New York


@pytest.mark.parametrize(
    ("start", "end", "tz", "expected"),
    [
        ("2026-11-25", None, "UTC", ("2026-11-25T00:00:00+00:00", "2026-11-26T00:00:00+00:00")),
        ("2026-11-25", "2026-11-26", "Asia/Kolkata", ("2026-11-25T00:00:00+05:30", "2026-11-27T00:00:00+05:30")),
        ("today", None, "UTC", ("2026-11-27T00:00:00+00:00", "2026-11-28T00:00:00+00:00")),
        ("today", None, "America/New_York", ("2026-11-26T00:00:00-05:00", "2026-11-27T00:00:00-05:00")),
        ("yesterday", None, "UTC", ("2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00")),
        # 2026-11-27 is a Friday: its ISO week began on Monday the 23rd
        ("this-week", None, "UTC", ("2026-11-23T00:00:00+00:00", "2026-11-30T00:00:00+00:00")),
        ("last-week", None, "UTC", ("2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00")),
        ("last-week", "this-week", "UTC", ("2026-11-16T00:00:00+00:00", "2026-11-30T00:00:00+00:00")),
        ("this-month", None, "UTC", ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")),
        ("last-month", None, "UTC", ("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00")),
        # the week of a daylight-saving change: the zone's offset at each local midnight
        ("2026-10-24", "2026-10-30", "Europe/London", ("2026-10-24T00:00:00+01:00", "2026-10-31T00:00:00+00:00")),
        ("2026-11-01T00:00:00Z", "today", "UTC", ("2026-11-01T00:00:00Z", "2026-11-28T00:00:00+00:00")),
        ("2026-11-01T00:00:00Z", "2026-11-02T06:00:00Z", "UTC", ("2026-11-01T00:00:00Z", "2026-11-02T06:00:00Z")),
    ],
)
def test_dates_and_words_are_whole_local_periods(start, end, tz, expected):
    assert resolve_range(start, end, tz, NOW) == expected


def test_a_midnight_skipped_by_daylight_saving_begins_the_day_after_the_gap():
    # Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06
    assert resolve_moment("from", "2026-09-06", "America/Santiago", NOW) == "2026-09-06T01:00:00-03:00"


@pytest.mark.parametrize(
    ("start", "end", "tz", "message"),
    [
        ("2026-11-3x", None, "UTC", "from: not an RFC 3339 time, a date (2026-11-25) or one of today"),
        ("2026-11-01T00:00:00Z", None, "UTC", "to: required when from is a time"),
        ("today", None, "Mars/Olympus", "tz: unknown time zone 'Mars/Olympus'"),
        ("today", "9999-12-31", "UTC", "to: outside the days the warehouse stores (1900-01-01 .. 2300-01-01)"),
        ("1066-10-14", None, "UTC", "from: outside the days the warehouse stores"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_parameter(start, end, tz, message):
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_range(start, end, tz, NOW)


def test_on_a_monday_this_week_begins_today_in_the_chosen_zone():
    monday_in_tokyo = datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc)  # Monday 01:00 in Tokyo, Sunday in UTC
    assert resolve_range("this-week", None, "Asia/Tokyo", monday_in_tokyo)[0] == "2026-11-30T00:00:00+09:00"
    assert resolve_range("this-week", None, "UTC", monday_in_tokyo)[0] == "2026-11-23T00:00:00+00:00"
