"""The reports API on the worker's web server (found by the Faust app's autodiscovery).

    GET /api/reports/breakout?from=...&to=...&group=customer,provider&customer=acme&format=json
    GET /api/reports/dtmf?...
    GET /api/reports/per-number?number=...&number=...&from=...&to=...[&by=cli][&calls=true]

Parameters as `cdrflow report` takes them; a bad request answers 400 with {"error": "..."};
with CDRFLOW_API_TOKEN set, a request without `Authorization: Bearer <token>` answers 401.
Queries run on the warehouse thread, so with chDB the worker's own engine answers.
"""

from __future__ import annotations

from faust.web import Request, Response, View

from consumers.report_request import FORMATS, KINDS, parse_report, render, report_rows
from pipeline.app import app, settings, sink
from queries.breakout import ReportError


def query_warehouse(sql: str, parameters: dict) -> tuple[list[str], list[tuple]]:
    result = sink.client.query(sql, parameters=parameters)
    return list(result.column_names), result.result_rows


def authorized(request: Request) -> bool:
    return not settings.api_token or request.headers.get("Authorization") == f"Bearer {settings.api_token}"


def report_view(kind: str) -> type[View]:
    class ReportView(View):
        async def get(self, request: Request) -> Response:
            if not authorized(request):
                return self.json({"error": "missing or wrong bearer token"}, status=401)
            params: dict[str, list[str]] = {}
            for name, value in request.query.items():
                params.setdefault(name, []).append(value)
            try:
                report = parse_report(kind, params)
            except ReportError as error:
                return self.json({"error": str(error)}, status=400)
            rows = await sink.run(lambda: report_rows(report, query_warehouse))
            return self.bytes(render(report, rows), content_type=FORMATS[report.format])

    ReportView.__name__ = ReportView.__qualname__ = f"{kind.title().replace('-', '')}Report"
    return ReportView


for report_kind in KINDS:
    app.page(f"/api/reports/{report_kind}")(report_view(report_kind))
