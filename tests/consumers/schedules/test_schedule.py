from datetime import datetime, timezone

import pytest

from consumers.schedules.runner import period_text
from consumers.schedules.schedule import Schedule
from queries.errors import ReportError


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
        ({"report": "custom:Bad Name"}, "report: custom:NAME names a custom report"),
        ({"report": "custom:"}, "report: custom:NAME names a custom report"),
        ({"report": "custom:ok", "groups": ("customer",)}, "group: a custom report has its own rows and columns"),
        ({"report": "custom:ok", "columns": ("attempts",)}, "columns: a custom report has its own rows and columns"),
        ({"report": "custom:ok", "tz": "Mars/Olympus"}, "tz"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ReportError, match=message):
        Schedule(**{"name": "daily", "email": ("billing@example.com",), **kwargs})


@pytest.mark.parametrize(
    "every,tz,start,expected_end",
    [
        ("daily", "Asia/Kolkata", "2026-11-25T00:00:00+05:30", "2026-11-26T00:00:00+05:30"),
        ("daily", "Europe/London", "2026-10-25T00:00:00+01:00", "2026-10-26T00:00:00+00:00"),  # 25 hours
        ("hourly", "UTC", "2026-11-25T13:00:00+00:00", "2026-11-25T14:00:00+00:00"),
        ("weekly", "America/New_York", "2026-10-26T00:00:00-04:00", "2026-11-02T00:00:00-05:00"),
        ("monthly", "UTC", "2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"),
        ("30 6 * * 1-5", "UTC", "2026-11-20T06:30:00+00:00", "2026-11-23T06:30:00+00:00"),  # Friday to Monday
    ],
)
def test_a_past_period_is_found_by_its_start(every, tz, start, expected_end):
    schedule = Schedule("s", ("noc@example.com",), every=every, tz=tz)
    begins, ends = schedule.period_starting(datetime.fromisoformat(start))
    assert (begins, ends) == (datetime.fromisoformat(start), datetime.fromisoformat(expected_end))


@pytest.mark.parametrize(
    "every,tz,start",
    [
        ("daily", "Asia/Kolkata", "2026-11-25T00:00:00+00:00"),  # UTC midnight is 05:30 in Kolkata
        ("weekly", "UTC", "2026-11-25T00:00:00+00:00"),  # a Wednesday
        ("monthly", "UTC", "2026-11-02T00:00:00+00:00"),
        ("hourly", "UTC", "2026-11-25T13:30:00+00:00"),
    ],
)
def test_a_start_where_no_period_begins_is_refused(every, tz, start):
    schedule = Schedule("s", ("noc@example.com",), every=every, tz=tz)
    with pytest.raises(ReportError, match=f"period_start: no {every} period in {tz} begins at"):
        schedule.period_starting(datetime.fromisoformat(start))


def test_a_schedule_may_mail_a_custom_report_by_name():
    schedule = Schedule("weekly-routes", ("noc@example.com",), report="custom:routes-by-profit", every="weekly")
    assert schedule.custom_name == "routes-by-profit"
    assert Schedule("daily", ("noc@example.com",)).custom_name is None


@pytest.mark.parametrize(
    "every, tz, now, text",
    [
        ("daily", "Asia/Kolkata", at(2026, 11, 26, 3, 0), "2026-11-25 (Asia/Kolkata)"),
        ("weekly", "UTC", at(2026, 11, 25, 3, 0), "2026-11-16 to 2026-11-22 (UTC)"),
        ("monthly", "UTC", at(2026, 11, 25, 3, 0), "2026-10-01 to 2026-10-31 (UTC)"),
        ("hourly", "UTC", at(2026, 11, 25, 3, 10), "2026-11-25 02:00 to 2026-11-25 03:00 (UTC)"),
    ],
)
def test_a_period_reads_with_its_last_day_included(every, tz, now, text):
    schedule = Schedule("s", ("noc@example.com",), every=every, tz=tz)
    assert period_text(schedule, *schedule.period_before(now)) == text
