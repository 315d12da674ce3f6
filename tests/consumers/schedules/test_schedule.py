from datetime import datetime, timezone

import pytest

from consumers.schedules.schedule import Schedule
from queries.breakout import ReportError


def at(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def period(every: str, tz: str, now: datetime) -> tuple[str, str]:
    start, end = Schedule("s", ("noc@example.com",), every=every, tz=tz).period_before(now)
    return start.isoformat(), end.isoformat()


@pytest.mark.parametrize(
    "every,tz,now,expected",
    [
        ("daily", "Asia/Kolkata", at(2026, 11, 26, 3, 0), ("2026-11-25T00:00:00+05:30", "2026-11-26T00:00:00+05:30")),
        (
            "daily",
            "America/St_Johns",
            at(2026, 11, 26, 3, 0),
            ("2026-11-24T00:00:00-03:30", "2026-11-25T00:00:00-03:30"),
        ),
        (
            "hourly",
            "Asia/Kathmandu",
            at(2026, 11, 26, 3, 20),
            ("2026-11-26T08:00:00+05:45", "2026-11-26T09:00:00+05:45"),
        ),
        ("weekly", "UTC", at(2026, 11, 26, 3, 0), ("2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00")),
        (
            "monthly",
            "Europe/London",
            at(2026, 3, 31, 23, 30),
            ("2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+01:00"),
        ),
        ("daily", "Europe/London", at(2026, 3, 30, 12, 0), ("2026-03-29T00:00:00+00:00", "2026-03-30T00:00:00+01:00")),
        (
            "0 */6 * * *",
            "Asia/Kolkata",
            at(2026, 11, 26, 0, 30),
            ("2026-11-26T00:00:00+05:30", "2026-11-26T06:00:00+05:30"),
        ),
    ],
)
def test_a_run_covers_the_period_that_just_closed_in_the_schedules_zone(every, tz, now, expected):
    assert period(every, tz, now) == expected


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"email": ("not-an-address",)}, "email: not an email address"),
        ({"email": ("a@b.com\r\nBcc: x@y.com",)}, "email"),
        ({"name": "daily\r\nBcc: x@y.com"}, "name"),
        ({"every": "every other day"}, "every: hourly, daily"),
        ({"format": "pdf"}, "format"),
        ({"report": "per-number"}, "report"),
        ({"groups": ("planet",)}, "unknown group 'planet'"),
        ({"columns": ("attempts", "1; DROP TABLE cdr")}, "unknown column"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ReportError, match=message):
        Schedule(**{"name": "daily", "email": ("billing@example.com",), **kwargs})
