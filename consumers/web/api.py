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

import hmac

import orjson
from faust.web import Request, Response, View

from consumers.reports.request import FORMATS, KINDS, answer, parse_report
from consumers.schedules.timer import query_warehouse, schedules
from pipeline.app import app, settings, sink
from queries.breakout import ReportError


def authorized(request: Request) -> bool:
    """Whether the request carries the bearer token (compared in constant time), when one is set."""
    if not settings.api_token:
        return True
    given = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(given, f"Bearer {settings.api_token}".encode())


def json_body(request: Request) -> bool:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower() == "application/json"


class AuthorizedView(View):
    """401 without the bearer token (when one is set); 415 for a POST that is not JSON (a plain form
    posted from another site); a bad request's ReportError becomes a 400."""

    async def dispatch(self, request: Request) -> Response:
        if not authorized(request):
            return self.json({"error": "missing or wrong bearer token"}, status=401)
        if request.method == "POST" and not json_body(request):
            return self.json({"error": "a POST to the API takes Content-Type: application/json"}, status=415)
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
            body = await sink.run(lambda: answer(report, query_warehouse))
            return self.bytes(body, content_type=FORMATS[report.format])

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
    """POST /api/schedules/NAME/run[?period_start=...][&resend=1]"""

    async def post(self, request: Request, name: str) -> Response:
        unknown = sorted(set(request.query) - {"period_start", "resend"})
        if unknown:
            raise ReportError(f"unknown parameter {unknown[0]!r}")
        resend = request.query.get("resend", "0")
        if resend not in ("0", "1", "true", "false"):
            raise ReportError(f"resend: 1 or 0, not {resend!r}")
        answer = await schedules().run(name, request.query.get("period_start"), resend in ("1", "true"))
        return self.json(answer)


@app.page("/api/schedules/{name}/log")
class ScheduleLog(AuthorizedView):
    async def get(self, request: Request, name: str) -> Response:
        return self.json(await schedules().log(name))


@app.page("/api/schedule-runs")
class ScheduleRuns(AuthorizedView):
    async def get(self, request: Request) -> Response:
        return self.json(await schedules().log())
