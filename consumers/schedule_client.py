"""`cdrflow schedule` for the command line: through the running worker's API, or on the warehouse.

chDB allows one process per data folder, so while a worker runs the command line asks the
worker's API; when none answers, it works on the warehouse itself.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import orjson

from consumers.schedule_runner import ScheduleRunner
from consumers.schedule_service import ScheduleService
from consumers.schedule_store import ScheduleStore
from pipeline.settings import Settings
from pipeline.warehouse import connect
from queries.breakout import ReportError

NO_WORKER = object()


def _api(settings: Settings, method: str, path: str, body: object = None) -> object:
    url = f"http://127.0.0.1:{settings.web_port}{path}"
    headers = {"Content-Type": "application/json"}
    if settings.api_token:
        headers["Authorization"] = f"Bearer {settings.api_token}"
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code in (400, 404):
            raise ReportError(orjson.loads(error.read())["error"]) from None
        raise
    except urllib.error.URLError:
        return NO_WORKER


def _direct(settings: Settings) -> ScheduleService:
    client = connect(settings.clickhouse)

    async def warehouse(work):
        return work()

    def run_query(sql: str, parameters: dict) -> tuple[list[str], list[tuple]]:
        result = client.query(sql, parameters=parameters)
        return list(result.column_names), result.result_rows

    return ScheduleService(
        ScheduleRunner(ScheduleStore(lambda: client), warehouse, run_query, settings.smtp, settings.mail_from)
    )


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
    answer = _api(settings, method, path, body)
    if answer is not NO_WORKER:
        return answer
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
