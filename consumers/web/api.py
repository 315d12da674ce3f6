"""The reports API on the worker's web server (found by the Faust app's autodiscovery).

    GET /api/reports/breakout?from=...&to=...&group=customer,provider&customer=acme&format=json
    GET /api/reports/dtmf?...
    POST /api/reports/breakout?...     (JSON: {"keep": [values of the first group]}) only those rows, and their total
    GET /api/reports/per-number?number=...&number=...&from=...&to=...[&by=cli][&calls=true[&limit=N][&after=...]]
                                       a page of calls; X-Cdrflow-Next: the `after` of the next page
    GET /api/schedules                 POST /api/schedules (JSON fields of a schedule)
    DELETE /api/schedules/{name}       POST /api/schedules/{name}/run       GET /api/schedules/{name}/log
    GET /api/schedule-runs             (the run log of every schedule)
    GET /api/custom-reports            POST /api/custom-reports (JSON: name, title, description, sql)
    GET /api/custom-reports/{name}     DELETE /api/custom-reports/{name}
    GET /api/reports/custom/{name}?from=...&to=...[&tz=...][&customer=...][&provider=...][&format=...]
    POST /api/reports/custom?from=...  (JSON: sql) runs unsaved SQL as a custom report would run
    GET /api/schema                    the tables a custom report or ad-hoc query may read, and their columns

Parameters as `cdrflow report` takes them; a bad request answers 400 with {"error": "..."}, an
unknown name 404; a customer or provider filter naming one without traffic answers the report
with X-Cdrflow-Warning (the names closest to it);
with CDRFLOW_API_TOKEN set, a request without `Authorization: Bearer <token>` answers 401.
Reports are read (and rendered) on the worker's report pool, held to CDRFLOW_REPORT_MAX_SECONDS:
one past it answers 400 with the reason; when every report thread is taken and enough wait, 503.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict

import orjson
from faust.web import Request, Response, View

from consumers.on_worker import warehouse
from consumers.reports.custom import CustomReport, readable_tables
from consumers.reports.on_worker import custom_reports, query_warehouse
from consumers.reports.request import FORMATS, KINDS, answer, answer_page, keeping, parse_report, report_warnings
from consumers.schedules.timer import schedules
from consumers.store import UnknownName
from pipeline.app import app, settings
from pipeline.warehouse.client import current_client
from pipeline.warehouse.reads import ReadRefused, ReadsBusy
from queries.errors import ReportError
from queries.names import WARNING_HEADER, filter_warnings

NEXT_PAGE_HEADER = "X-Cdrflow-Next"


def warning_headers(warnings: list[str]) -> dict[str, str]:
    """X-Cdrflow-Warning with the warnings on one line (names are quoted, line breaks escaped;
    what is not ASCII as backslash escapes, as HTTP headers carry it)."""
    if not warnings:
        return {}
    return {WARNING_HEADER: "; ".join(warnings).encode("ascii", "backslashreplace").decode()}


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
        except UnknownName as error:
            return self.json({"error": str(error)}, status=404)
        except ReportError as error:
            return self.json({"error": str(error)}, status=400)
        except ReadRefused as error:
            return self.json({"error": f"report refused: it {error}"}, status=400)
        except ReadsBusy as error:
            return self.json({"error": f"the worker is busy: {error}"}, status=503, headers={"Retry-After": "5"})


def query_lists(request: Request) -> dict[str, list[str]]:
    """The query string as name -> values (a name repeated for many values)."""
    params: dict[str, list[str]] = {}
    for name, value in request.query.items():
        params.setdefault(name, []).append(value)
    return params


async def json_fields(view: View, request: Request) -> dict:
    try:
        fields = orjson.loads(await view.read_request_content(request))
    except orjson.JSONDecodeError:
        raise ReportError("the body is not JSON") from None
    if not isinstance(fields, dict):
        raise ReportError("the body must be a JSON object of fields")
    return fields


def report_view(kind: str) -> type[View]:
    class ReportView(AuthorizedView):
        async def get(self, request: Request) -> Response:
            report = parse_report(kind, query_lists(request))

            def answered() -> tuple[bytes, str | None, list[str]]:
                return (*answer_page(report, query_warehouse, settings.currency),
                        report_warnings(report, query_warehouse))  # fmt: skip

            body, following, warnings = await warehouse.report(answered)
            headers = warning_headers(warnings) | ({NEXT_PAGE_HEADER: following} if following else {})
            return self.bytes(body, content_type=FORMATS[report.format], headers=headers)

        async def post(self, request: Request) -> Response:
            """The report of the query string, narrowed to the rows whose first group is in the
            body's `keep` (the rows a filter left in the console), with their Total row."""
            report = keeping(parse_report(kind, query_lists(request)), await json_fields(self, request))
            body = await warehouse.report(lambda: answer(report, query_warehouse, settings.currency))
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
        return self.json(await schedules().add(await json_fields(self, request)), status=201)


@app.page("/api/schedules/{name}")
class OneSchedule(AuthorizedView):
    async def delete(self, request: Request, name: str) -> Response:
        if not await schedules().remove(name):
            raise UnknownName(f"no schedule named {name!r}")
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


@app.page("/api/custom-reports")
class CustomReports(AuthorizedView):
    async def get(self, request: Request) -> Response:
        return self.json(await custom_reports().list())

    async def post(self, request: Request) -> Response:
        return self.json(await custom_reports().add(await json_fields(self, request)), status=201)


@app.page("/api/custom-reports/{name}")
class OneCustomReport(AuthorizedView):
    async def get(self, request: Request, name: str) -> Response:
        return self.json(asdict(await custom_reports().get(name)))

    async def delete(self, request: Request, name: str) -> Response:
        if not await custom_reports().remove(name):
            raise UnknownName(f"no custom report named {name!r}")
        return self.json({"removed": name})


@app.page("/api/reports/custom/{name}")
class CustomReportRun(AuthorizedView):
    async def get(self, request: Request, name: str) -> Response:
        reports = custom_reports()
        params = query_lists(request)
        body = await reports.answer(await reports.get(name), params)
        customers, providers = tuple(params.get("customer", ())), tuple(params.get("provider", ()))
        warnings = await warehouse.report(lambda: filter_warnings(customers, providers, query_warehouse))
        return self.bytes(body, content_type=FORMATS[request.query.get("format", "json")],
                          headers=warning_headers(warnings))  # fmt: skip


@app.page("/api/reports/custom")
class UnsavedReportRun(AuthorizedView):
    """The console's Run: the SQL in the body, checked and run as a saved report would be."""

    async def post(self, request: Request) -> Response:
        fields = await json_fields(self, request)
        sql = fields.get("sql")
        if set(fields) != {"sql"} or not isinstance(sql, str):
            raise ReportError('the body is {"sql": "SELECT ..."}')
        body = await custom_reports().answer(CustomReport("unsaved", sql), query_lists(request))
        return self.bytes(body, content_type=FORMATS[request.query.get("format", "json")])


@app.page("/api/schema")
class Schema(AuthorizedView):
    async def get(self, request: Request) -> Response:
        return self.json(await warehouse.read(lambda: readable_tables(current_client())))
