"""Answering a report for the command line: through the running worker, or from the warehouse.

chDB allows one process per data folder, so while a worker runs the command line asks the
worker's API; when none answers, it opens the warehouse itself.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence

from consumers.reports.request import answer, parse_report, query_runner
from consumers.worker import ask_worker, open_warehouse
from pipeline.settings import Settings


def answer_report(settings: Settings, kind: str, params: Mapping[str, Sequence[str]]) -> bytes:
    request = parse_report(kind, params)  # refuse a bad request before reaching anything
    from_worker = ask_worker(settings, "GET", f"/api/reports/{kind}?" + urllib.parse.urlencode(params, doseq=True))
    if from_worker is not None:
        return from_worker
    client = open_warehouse(settings)
    return answer(request, query_runner(lambda: client))
