"""The report scheduler: on the leader worker only, every SCHEDULE_CHECK_SECONDS, mails each
schedule's latest period that is complete (at most once, see consumers.schedules.runner)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from functools import cache

from consumers.on_worker import warehouse
from consumers.reports.on_worker import custom_reports, query_warehouse
from consumers.schedules.runner import ScheduleRunner
from consumers.schedules.service import ScheduleService
from consumers.schedules.store import ScheduleStore
from pipeline.app import app, settings
from pipeline.warehouse.client import current_client

log = logging.getLogger(__name__)
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


@app.timer(interval=SCHEDULE_CHECK_SECONDS, on_leader=True)
async def run_due_schedules() -> None:
    try:
        await schedules().runner.tick(datetime.now(timezone.utc))
    except Exception:  # the warehouse could not be read: an exception here would stop the worker
        log.exception("scheduled reports not checked; trying again in %.0f s", SCHEDULE_CHECK_SECONDS)
