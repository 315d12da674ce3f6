"""`cdrflow schedule` for the command line: through the running worker's API, or on the warehouse.

chDB allows one process per data folder, so while a worker runs the command line asks the
worker's API; when none answers, it works on the warehouse itself.
"""

from __future__ import annotations

import urllib.parse
from datetime import timedelta

import orjson

from consumers.reports.client import direct_custom_reports
from consumers.reports.request import query_runner
from consumers.store import at_once
from consumers.schedules.runner import ScheduleRunner
from consumers.schedules.service import ScheduleService
from consumers.schedules.store import ScheduleStore
from consumers.worker import ask_worker, open_warehouse
from pipeline.settings import Settings
from queries.errors import ReportError


def _direct(settings: Settings) -> ScheduleService:
    client = open_warehouse(settings)

    runner = ScheduleRunner(
        ScheduleStore(lambda: client), at_once, query_runner(lambda: client), settings.smtp, settings.mail_from,
        direct_custom_reports(settings, client), grace=timedelta(minutes=settings.schedule_grace_minutes),
        currency=settings.currency,
    )  # fmt: skip
    return ScheduleService(runner)


async def schedule_command(
    settings: Settings, action: str, name: str | None = None, fields: dict | None = None,
    period_start: str | None = None, resend: bool = False,
) -> object:  # fmt: skip
    """add (fields), list, remove (name), run (name, period_start, resend), log (name or every schedule)."""
    one = "/api/schedules/" + urllib.parse.quote(name or "", safe="")
    query = urllib.parse.urlencode({k: v for k, v in (("period_start", period_start), ("resend", resend and "1")) if v})
    run_path = f"{one}/run" + (f"?{query}" if query else "")
    method, path, body = {
        "add": ("POST", "/api/schedules", fields),
        "list": ("GET", "/api/schedules", None),
        "remove": ("DELETE", one, None),
        "run": ("POST", run_path, None),
        "log": ("GET", one + "/log" if name else "/api/schedule-runs", None),
    }[action]
    answer = ask_worker(settings, method, path, body)
    if answer is not None:
        return orjson.loads(answer)
    service = _direct(settings)
    if action == "add":
        return await service.add(fields or {})
    if action == "list":
        return await service.list()
    if action == "remove":
        if not await service.remove(name or ""):
            raise ReportError(f"no schedule named {name!r}")
        return {"removed": name}
    if action == "run":
        return await service.run(name or "", period_start, resend)
    return await service.log(name)
