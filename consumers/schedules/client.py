"""`cdrflow schedule` for the command line: through the running worker's API, or on the warehouse.

chDB allows one process per data folder, so while a worker runs the command line asks the
worker's API; when none answers, it works on the warehouse itself.
"""

from __future__ import annotations

import inspect
import urllib.parse
from datetime import timedelta

from clickhouse_connect.driver.client import Client

from consumers.reports.client import direct_custom_reports
from consumers.reports.request import query_runner
from consumers.schedules.runner import ScheduleRunner
from consumers.schedules.service import ScheduleService
from consumers.schedules.store import ScheduleStore
from consumers.store import HERE
from consumers.worker import ask_worker_else_folder
from pipeline.settings import Settings
from queries.errors import ReportError


def _direct(settings: Settings, client: Client) -> ScheduleService:
    runner = ScheduleRunner(
        ScheduleStore(lambda: client), HERE, query_runner(lambda: client), settings.smtp, settings.mail_from,
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

    async def act(service: ScheduleService) -> object:
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

    # On the folder the answer is the coroutine of `act`, run here in the command's own loop.
    answer = ask_worker_else_folder(settings, method, path, body, lambda client: act(_direct(settings, client)))
    return await answer if inspect.isawaitable(answer) else answer
