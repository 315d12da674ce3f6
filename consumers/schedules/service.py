"""What `cdrflow schedule` and /api/schedules do, over a warehouse reached through `warehouse`.

The worker runs these on its warehouse thread (chDB is its own); the command line runs them on
the warehouse directly when no worker answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from consumers.reports.dates import resolve_moment
from consumers.schedules.runner import ScheduleRunner, period_text
from consumers.schedules.schedule import Schedule
from consumers.schedules.store import ScheduleStore
from consumers.store import UnknownName
from queries.errors import ReportError
from queries.names import filter_warnings
from queries.times import parse_moment

LIST_FIELDS = {"email", "group", "customers", "providers", "columns"}
# What a customer should not read about its carrier: costs and margins.
PROVIDER_SIDE = (
    "provider_duration", "provider_charge", "profit", "profit_percent", "provider_cost_per_digit",
    "dtmf_provider_charge", "dtmf_provider_cost_per_digit",
)  # fmt: skip
TEXT_FIELDS = {"name", "every", "report", "tz", "format"}


def schedule_from(fields: Mapping[str, object]) -> Schedule:
    """A schedule from JSON-like fields named as in the reports contract: lists for the many-valued
    ones (`group` lists the row groups in order), `skip_empty` a boolean."""
    unknown = sorted(set(fields) - LIST_FIELDS - TEXT_FIELDS - {"skip_empty"})
    if unknown:
        raise ReportError(f"unknown field {unknown[0]!r}")
    values: dict[str, object] = {}
    for name, value in fields.items():
        if name in LIST_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ReportError(f"{name}: a list of strings")
            values["groups" if name == "group" else name] = tuple(value)
        elif name in TEXT_FIELDS:
            if not isinstance(value, str):
                raise ReportError(f"{name}: a string")
            values[name] = value
        elif not isinstance(value, bool):
            raise ReportError("skip_empty: true or false")
        else:
            values[name] = value
    if "name" not in values or "email" not in values:
        raise ReportError("name and email are required")
    return Schedule(**values)  # type: ignore[arg-type]


def schedule_fields(schedule: Schedule) -> dict[str, object]:
    return {
        "name": schedule.name, "email": list(schedule.email), "report": schedule.report, "every": schedule.every,
        "tz": schedule.tz, "group": list(schedule.groups), "customers": list(schedule.customers),
        "providers": list(schedule.providers), "columns": list(schedule.columns), "format": schedule.format,
        "skip_empty": schedule.skip_empty,
    }  # fmt: skip


def run_fields(run: dict, tz: str = "UTC") -> dict[str, object]:
    """A run as the API shows it: the period in the schedule's zone, the times of the attempt in UTC."""
    zone = ZoneInfo(tz)
    fields: dict[str, object] = {}
    for name, value in run.items():
        if isinstance(value, datetime):
            value = value.replace(tzinfo=timezone.utc)
            value = (value.astimezone(zone) if name in ("period_start", "period_end") else value).isoformat()
        fields[name] = value
    return fields


class ScheduleService:
    def __init__(self, runner: ScheduleRunner) -> None:
        self.runner = runner
        self.store: ScheduleStore = runner.store

    async def add(self, fields: Mapping[str, object]) -> dict:
        schedule = schedule_from(fields)
        if schedule.custom_name is not None:
            try:
                await self.runner.custom.get(schedule.custom_name)
            except UnknownName:
                raise ReportError(f"report: no custom report named {schedule.custom_name!r}") from None
        await self.runner.warehouse.write(lambda: self.store.save(schedule))
        warnings = await self.warnings(schedule)
        return schedule_fields(schedule) | self.first_mail(schedule) | ({"warnings": warnings} if warnings else {})

    def first_mail(self, schedule: Schedule) -> dict[str, str]:
        """Which period goes out first, and when: the latest closed one, as soon as the pipeline has
        caught up past its end plus the grace (within a minute when it has already)."""
        now = datetime.now(timezone.utc)
        start, end = schedule.period_before(now)
        due = end + self.runner.grace
        when = (
            "within a minute"
            if due <= now
            else f"from {due.astimezone(ZoneInfo(schedule.tz)):%Y-%m-%d %H:%M} ({schedule.tz})"
        )
        return {
            "first_period": period_text(schedule, start, end),
            "first_mail": f"{when}, once the pipeline has caught up past the period's end plus "
            f"{self.runner.grace.total_seconds() / 60:g} min",
        }

    async def warnings(self, schedule: Schedule) -> list[str]:
        """What is saved but probably not meant: names without traffic, a customer's report with costs."""
        found = await self.runner.warehouse.read(
            lambda: filter_warnings(schedule.customers, schedule.providers, self.runner.run_query)
        )
        if schedule.custom_name is None and schedule.customers:
            request = schedule.request(*schedule.period_before(datetime.now(timezone.utc)))
            shown = [column for column in request.columns if column in PROVIDER_SIDE]
            if shown:
                found.append(f"columns: a report for customers that shows {', '.join(shown)}; for a customer's "
                             "mailbox choose columns without them")  # fmt: skip
        return found

    async def list(self) -> list[dict]:
        """Every schedule, with `next_run`: the earliest its next period goes out (its end plus the
        grace; later if the pipeline has not caught up by then)."""
        now = datetime.now(timezone.utc)
        listed = []
        for schedule in await self.runner.warehouse.read(self.store.all):
            _start, closed_at = schedule.period_before(now)
            _start, next_end = schedule.period_starting(closed_at)
            listed.append(schedule_fields(schedule) | {"next_run": (next_end + self.runner.grace).isoformat()})
        return listed

    async def remove(self, name: str) -> bool:
        return await self.runner.warehouse.write(lambda: self.store.remove(name))

    async def run(self, name: str, period_start: str | None = None, resend: bool = False) -> dict:
        """Mail a period of `name` now: the latest closed one, or the one beginning at `period_start`
        (RFC 3339, or a date or word in the schedule's zone); a period mailed already only with `resend`."""
        schedule = await self.runner.warehouse.read(lambda: self.store.get(name))
        if schedule is None:
            raise ReportError(f"no schedule named {name!r}")
        if period_start is None:
            start, end = schedule.period_before(datetime.now(timezone.utc))
        else:
            start, end = schedule.period_starting(
                parse_moment("period_start", resolve_moment("period_start", period_start, schedule.tz))
            )
        outcome = await self.runner.run(schedule, start, end, resend)
        return {"schedule": name, "period_start": start.isoformat(), "period_end": end.isoformat(), "outcome": outcome}

    async def log(self, name: str | None = None) -> list[dict]:
        """The run log, newest first; each period in its schedule's zone, `period_end` exclusive, and
        `period` as its mail's subject says it (the last day included)."""
        schedules, broken = await self.runner.warehouse.read(self.store.read_all)
        zones = {s.name: s.tz for s in [*schedules, *broken]}
        saved = {s.name: s for s in schedules}
        runs = await self.runner.warehouse.read(lambda: self.store.log(name))
        logged = []
        for run in runs:
            fields = run_fields(run, zones.get(run["schedule"], "UTC"))
            schedule = saved.get(run["schedule"])
            if schedule is not None:
                start, end = (run[f"period_{edge}"].replace(tzinfo=timezone.utc) for edge in ("start", "end"))
                fields = {"schedule": fields["schedule"], "period": period_text(schedule, start, end), **fields}
            logged.append(fields)
        return logged
