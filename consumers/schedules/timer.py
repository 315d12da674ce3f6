"""The report scheduler: on the leader worker only, every SCHEDULE_CHECK_SECONDS, mails each
schedule's latest period that is complete (at most once, see consumers.schedules.runner)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache

from consumers.on_worker import warehouse
from consumers.reports.on_worker import custom_reports, query_warehouse
from consumers.schedules.runner import ScheduleRunner
from consumers.schedules.service import ScheduleService
from consumers.schedules.store import ScheduleStore
from pipeline.app import guarded_timer, settings
from pipeline.warehouse.client import current_client

SCHEDULE_CHECK_SECONDS = 30.0


@cache
def schedules() -> ScheduleService:
    return ScheduleService(
        ScheduleRunner(
            ScheduleStore(current_client),
            warehouse,
            query_warehouse,
            settings.smtp,
            settings.mail_from,
            custom_reports(),
            grace=timedelta(minutes=settings.schedule_grace_minutes),
            currency=settings.currency,
        )  # fmt: skip
    )


@guarded_timer(SCHEDULE_CHECK_SECONDS, on_leader=True)
async def run_due_schedules() -> None:
    await schedules().runner.tick(datetime.now(timezone.utc))
