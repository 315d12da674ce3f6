"""The reports API on the worker's web server (found by the Faust app's autodiscovery).

    GET /api/reports/breakout?from=...&to=...&group=customer,provider&customer=acme&format=json

Parameters as `cdrflow report breakout` takes them; a bad request answers 400 with
{"error": "..."}; with CDRFLOW_API_TOKEN set, a request without `Authorization: Bearer <token>`
answers 401. Queries run on the warehouse thread, so with chDB the worker's own engine answers.
"""

from __future__ import annotations

from faust.web import Request, Response, View

from consumers.report_request import FORMATS, breakout_rows, parse_breakout, render
from pipeline.app import app, settings, sink
from queries.breakout import ReportError


def query_warehouse(sql: str, parameters: dict) -> tuple[list[str], list[tuple]]:
    result = sink.client.query(sql, parameters=parameters)
    return list(result.column_names), result.result_rows


@app.page("/api/reports/breakout")
class BreakoutReport(View):
    async def get(self, request: Request) -> Response:
        if settings.api_token and request.headers.get("Authorization") != f"Bearer {settings.api_token}":
            return self.json({"error": "missing or wrong bearer token"}, status=401)
        params: dict[str, list[str]] = {}
        for name, value in request.query.items():
            params.setdefault(name, []).append(value)
        try:
            report = parse_breakout(params)
        except ReportError as error:
            return self.json({"error": str(error)}, status=400)
        rows = await sink.run(lambda: breakout_rows(report, query_warehouse))
        return self.bytes(render(report, rows), content_type=FORMATS[report.format].split(";")[0])
