"""A scheduled report: what to send, to whom, how often, and which period a run covers.

Each run covers the period that just closed in the schedule's time zone: the previous hour,
day, ISO week or month, or for a cron expression the time between its two latest firings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError

from consumers.mail.smtp import BadRecipient, check_recipients
from consumers.reports.custom import NAME as CUSTOM_NAME
from consumers.reports.request import ReportRequest, parse_report
from queries.errors import ReportError

EVERY = ("hourly", "daily", "weekly", "monthly")
SCHEDULED_REPORTS = ("breakout", "dtmf")
CUSTOM = "custom:"  # `custom:NAME` schedules the custom report NAME
ATTACHMENTS = ("csv", "xlsx", "html")


@dataclass(frozen=True)
class Cadence:
    """How often a schedule runs, in which zone: the periods its runs cover."""

    every: str
    tz: str

    def __post_init__(self) -> None:
        if self.tz not in available_timezones() and self.tz != "UTC":
            raise ReportError(f"tz: unknown time zone {self.tz!r}")
        if self.every not in EVERY:
            try:
                CronSim(self.every, datetime(2026, 1, 1))
            except CronSimError:
                raise ReportError(
                    f"every: hourly, daily, weekly, monthly or a 5-field cron expression, not {self.every!r}"
                ) from None

    def period_before(self, now: datetime) -> tuple[datetime, datetime]:
        """The latest period that closed at or before `now`, as aware datetimes in the schedule's zone."""
        zone = ZoneInfo(self.tz)
        local = now.astimezone(zone)
        if self.every == "hourly":
            end = local.replace(minute=0, second=0, microsecond=0)
            return _shift_hours(end, -1), end
        if self.every in ("daily", "weekly"):
            end = local.replace(hour=0, minute=0, second=0, microsecond=0)
            if self.every == "weekly":
                end -= timedelta(days=end.weekday())
            start = (end - timedelta(days=7 if self.every == "weekly" else 1)).replace(tzinfo=None)
            return _at_midnight(start, zone), _at_midnight(end.replace(tzinfo=None), zone)
        if self.every == "monthly":
            end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            start = (end - timedelta(days=1)).replace(day=1)
            return _at_midnight(start.replace(tzinfo=None), zone), _at_midnight(end.replace(tzinfo=None), zone)
        firings = CronSim(self.every, local.replace(tzinfo=None) + timedelta(microseconds=1), reverse=True)
        end = next(firings)
        return next(firings).replace(tzinfo=zone), end.replace(tzinfo=zone)

    def period_starting(self, start: datetime) -> tuple[datetime, datetime]:
        """The period that begins at `start`; a ReportError when none of this schedule's periods does."""
        zone = ZoneInfo(self.tz)
        local = start.astimezone(zone)
        day = local.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
        if self.every == "hourly":
            end = _shift_hours(local, 1)
        elif self.every == "daily":
            end = _at_midnight(day + timedelta(days=1), zone)
        elif self.every == "weekly":
            end = _at_midnight(day + timedelta(days=7), zone)
        elif self.every == "monthly":
            end = _at_midnight((day.replace(day=28) + timedelta(days=4)).replace(day=1), zone)
        else:
            end = next(CronSim(self.every, local.replace(tzinfo=None) + timedelta(seconds=1))).replace(tzinfo=zone)
        period = self.period_before(end)
        if period[0] != start:
            raise ReportError(
                f"period_start: no {self.every} period in {self.tz} begins at {start.isoformat()} "
                f"(the one around it begins at {period[0].isoformat()})"
            )
        return period


@dataclass(frozen=True)
class Schedule:
    name: str
    email: tuple[str, ...]
    every: str = "daily"
    report: str = "breakout"
    tz: str = "UTC"
    groups: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    format: str = "csv"
    skip_empty: bool = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 100 or any(c in self.name for c in "\r\n"):
            raise ReportError("name: 1 to 100 characters on one line")
        try:
            check_recipients(list(self.email))
        except BadRecipient as error:
            raise ReportError(f"email: {error}") from None
        if self.format not in ATTACHMENTS:
            raise ReportError(f"format: one of {', '.join(ATTACHMENTS)}, not {self.format!r}")
        start, end = self.period_before(datetime(2026, 1, 15, tzinfo=timezone.utc))
        if self.custom_name is None:
            if self.report not in SCHEDULED_REPORTS:
                raise ReportError(f"report: one of {', '.join(SCHEDULED_REPORTS)} or {CUSTOM}NAME, not {self.report!r}")
            self.request(start, end)  # the groups, columns and filters make a valid report
        elif not CUSTOM_NAME.fullmatch(self.custom_name):
            raise ReportError(f"report: {CUSTOM}NAME names a custom report, not {self.report!r}")
        elif self.groups or self.columns:
            raise ReportError(f"{'group' if self.groups else 'columns'}: a custom report has its own rows and columns")

    @property
    def custom_name(self) -> str | None:
        """The custom report's name, for a schedule of one."""
        return self.report.removeprefix(CUSTOM) if self.report.startswith(CUSTOM) else None

    @cached_property
    def cadence(self) -> Cadence:
        return Cadence(self.every, self.tz)

    def period_before(self, now: datetime) -> tuple[datetime, datetime]:
        return self.cadence.period_before(now)

    def period_starting(self, start: datetime) -> tuple[datetime, datetime]:
        return self.cadence.period_starting(start)

    def request(self, start: datetime, end: datetime) -> ReportRequest:
        params = {"from": [start.isoformat()], "to": [end.isoformat()], "tz": [self.tz], "format": [self.format]}
        for name, values in (("group", self.groups), ("columns", self.columns)):
            if values:
                params[name] = [",".join(values)]
        params |= {"customer": list(self.customers), "provider": list(self.providers)}
        return parse_report(self.report, {k: v for k, v in params.items() if v})


def _at_midnight(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=zone)


def _shift_hours(moment: datetime, hours: int) -> datetime:
    """`moment` moved by whole hours of real time (right across daylight saving changes)."""
    return (moment.astimezone(timezone.utc) + timedelta(hours=hours)).astimezone(moment.tzinfo)
