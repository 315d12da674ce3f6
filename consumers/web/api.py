"""The reports API on the worker's web server (found by the Faust app's autodiscovery).

    GET /api/reports/breakout?from=...&to=...&group=customer,provider&customer=acme&format=json
    GET /api/reports/dtmf?...
    GET /api/reports/per-number?number=...&number=...&from=...&to=...[&by=cli][&calls=true]
    GET /api/schedules                 POST /api/schedules (JSON fields of a schedule)
    DELETE /api/schedules/{name}       POST /api/schedules/{name}/run       GET /api/schedules/{name}/log
    GET /api/schedule-runs             (the run log of every schedule)

Parameters as `cdrflow report` takes them; a bad request answers 400 with {"error": "..."};
with CDRFLOW_API_TOKEN set, a request without `Authorization: Bearer <token>` answers 401.
Queries run on the warehouse thread, so with chDB the worker's own engine answers.
"""

from __future__ import annotations

from faust.web import Request, Response, View

import orjson

from consumers.reports.request import FORMATS, KINDS, parse_report, render, report_rows
from consumers.schedules.timer import query_warehouse, schedules
from pipeline.app import app, settings, sink
from queries.breakout import ReportError


def authorized(request: Request) -> bool:
    return not settings.api_token or request.headers.get("Authorization") == f"Bearer {settings.api_token}"


class AuthorizedView(View):
    """401 without the bearer token (when one is set); a bad request's ReportError becomes a 400."""

    async def dispatch(self, request: Request) -> Response:
        if not authorized(request):
            return self.json({"error": "missing or wrong bearer token"}, status=401)
        try:
            return await super().dispatch(request)
        except ReportError as error:
            return self.json({"error": str(error)}, status=400)


def report_view(kind: str) -> type[View]:
    class ReportView(AuthorizedView):
        async def get(self, request: Request) -> Response:
            params: dict[str, list[str]] = {}
            for name, value in request.query.items():
                params.setdefault(name, []).append(value)
            report = parse_report(kind, params)
            rows = await sink.run(lambda: report_rows(report, query_warehouse))
            return self.bytes(render(report, rows), content_type=FORMATS[report.format])

    ReportView.__name__ = ReportView.__qualname__ = f"{kind.title().replace('-', '')}Report"
    return ReportView


for report_kind in KINDS:
    app.page(f"/api/reports/{report_kind}")(report_view(report_kind))


@app.page("/api/schedules")
class Schedules(AuthorizedView):
    async def get(self, request: Request) -> Response:
        return self.json(await schedules().list())

    async def post(self, request: Request) -> Response:
        try:
            fields = orjson.loads(await self.read_request_content(request))
        except orjson.JSONDecodeError:
            raise ReportError("the body is not JSON") from None
        if not isinstance(fields, dict):
            raise ReportError("the body must be a JSON object of schedule fields")
        return self.json(await schedules().add(fields), status=201)


@app.page("/api/schedules/{name}")
class OneSchedule(AuthorizedView):
    async def delete(self, request: Request, name: str) -> Response:
        if not await schedules().remove(name):
            return self.json({"error": f"no schedule named {name!r}"}, status=404)
        return self.json({"removed": name})


@app.page("/api/schedules/{name}/run")
class RunSchedule(AuthorizedView):
    async def post(self, request: Request, name: str) -> Response:
        return self.json(await schedules().run(name))


@app.page("/api/schedules/{name}/log")
class ScheduleLog(AuthorizedView):
    async def get(self, request: Request, name: str) -> Response:
        return self.json(await schedules().log(name))


@app.page("/api/schedule-runs")
class ScheduleRuns(AuthorizedView):
    async def get(self, request: Request) -> Response:
        return self.json(await schedules().log())
