"""The report scheduler: on the leader worker only, every SCHEDULE_CHECK_SECONDS, mails each
schedule's period that just closed (at most once, see consumers.schedule_runner)."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache

from consumers.schedule_runner import ScheduleRunner
from consumers.schedule_service import ScheduleService
from consumers.schedule_store import ScheduleStore
from pipeline.app import app, settings, sink

SCHEDULE_CHECK_SECONDS = 30.0


def query_warehouse(sql: str, parameters: dict) -> tuple[list[str], list[tuple]]:
    result = sink.client.query(sql, parameters=parameters)
    return list(result.column_names), result.result_rows


@cache
def schedules() -> ScheduleService:
    return ScheduleService(
        ScheduleRunner(ScheduleStore(lambda: sink.client), sink.run, query_warehouse, settings.smtp, settings.mail_from)
    )


@app.timer(interval=SCHEDULE_CHECK_SECONDS, on_leader=True)
async def run_due_schedules() -> None:
    await schedules().runner.tick(datetime.now(timezone.utc))
