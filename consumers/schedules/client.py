"""`cdrflow schedule` for the command line: through the running worker's API, or on the warehouse.

chDB allows one process per data folder, so while a worker runs the command line asks the
worker's API; when none answers, it works on the warehouse itself.
"""

from __future__ import annotations

import urllib.parse

import orjson

from consumers.reports.request import query_runner
from consumers.schedules.runner import ScheduleRunner
from consumers.schedules.service import ScheduleService
from consumers.schedules.store import ScheduleStore
from consumers.worker import ask_worker, open_warehouse
from pipeline.settings import Settings
from queries.breakout import ReportError


def _direct(settings: Settings) -> ScheduleService:
    client = open_warehouse(settings)

    async def warehouse(work):
        return work()

    runner = ScheduleRunner(
        ScheduleStore(lambda: client), warehouse, query_runner(lambda: client), settings.smtp, settings.mail_from
    )
    return ScheduleService(runner)


async def schedule_command(
    settings: Settings, action: str, name: str | None = None, fields: dict | None = None
) -> object:
    """add (fields), list, remove (name), run (name), log (name or every schedule)."""
    one = "/api/schedules/" + urllib.parse.quote(name or "", safe="")
    method, path, body = {
        "add": ("POST", "/api/schedules", fields),
        "list": ("GET", "/api/schedules", None),
        "remove": ("DELETE", one, None),
        "run": ("POST", one + "/run", None),
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
        return await service.run(name or "")
    return await service.log(name)
