"""Answering a report for the command line: through the running worker, or from the warehouse.

chDB allows one process per data folder, so while a worker runs the command line asks the
worker's API; when none answers, it opens the warehouse itself.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence

import orjson

from consumers.report_request import parse_report, render, report_rows
from pipeline.settings import Settings
from pipeline.warehouse import connect
from queries.breakout import ReportError


def answer_report(settings: Settings, kind: str, params: Mapping[str, Sequence[str]]) -> bytes:
    request = parse_report(kind, params)  # refuse a bad request before reaching anything
    url = f"http://127.0.0.1:{settings.web_port}/api/reports/{kind}?" + urllib.parse.urlencode(params, doseq=True)
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=300) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code == 400:
            raise ReportError(orjson.loads(error.read())["error"]) from None
        raise
    except urllib.error.URLError:
        pass  # no worker: answer from the warehouse directly
    client = connect(settings.clickhouse)

    def run_query(sql: str, parameters: dict) -> tuple[list[str], list[tuple]]:
        result = client.query(sql, parameters=parameters)
        return list(result.column_names), result.result_rows

    return render(request, report_rows(request, run_query))
