"""Live statistics and alerts on the worker's web server (found by the Faust app's autodiscovery).

    GET /api/live?group=provider,provider_destination&window=15[&customer=..][&provider=..][&top=..]
        {"clock": "<ISO UTC>", "behind_seconds": 3.2, "grace_seconds": 60, "window": 15, "rows": [...]}, rows as the
        reports' (sums as strings with 6 places), most attempts first; `behind_seconds`: how far the
        clock trails the wall clock less the grace (negative: it leads)

    GET /api/alerts                    the keys firing now (their latest transition)
    GET /api/alerts/history?rule=..&from=..&to=..   transitions, newest first
    GET /api/alert-rules               POST /api/alert-rules (JSON fields of a rule)
    DELETE /api/alert-rules/{name}     its firing keys resolve ("rule removed")
    POST /api/alert-rules/{name}/test  a sample transition to its e-mail and webhook: what each answered
    GET /api/silences                  POST /api/silences {"rule", "key", "for"|"until", "reason"}
    DELETE /api/silences/{id}

Only the worker holding the live partition keeps the windows and records the transitions; another
worker passes these requests on to it, at its CDRFLOW_ADVERTISED_URL.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import orjson
from faust.web import Request, Response

from consumers.alerts.on_worker import alerts, notifier
from consumers.reports.table import to_json
from consumers.store import UnknownName
from consumers.web.api import AuthorizedView, json_fields, query_lists
from consumers.web.health import live_clock
from pipeline.app import app, live, live_table, settings
from pipeline.live.windows import NUMBER
from queries.errors import ReportError
from queries.live import LIVE_COLUMNS, live_rows, parse_live


def clock_text(clock_ms: int | None) -> str | None:
    if clock_ms is None:
        return None
    return datetime.fromtimestamp(clock_ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


@app.page("/api/live")
class Live(AuthorizedView):
    @app.table_route(table=live_table, exact_key="live")
    async def get(self, request: Request) -> Response:
        if not settings.live:
            raise ReportError("live statistics are off on this worker (CDRFLOW_LIVE=off)")
        query = parse_live(query_lists(request))
        windows = live.built()
        if list(query.group) == [NUMBER]:
            sums = windows.top_numbers(query.window, query.top)
        else:
            sums = windows.window_sums(query.group, query.window, customers=query.customers, providers=query.providers)
        rows = live_rows(query, sums)
        body = orjson.dumps(
            {
                "clock": clock_text(windows.clock_ms),
                "behind_seconds": live_clock(time.time())["behind_seconds"],
                "grace_seconds": settings.live_grace_seconds,
                "window": query.window,
                "rows": orjson.Fragment(to_json([*query.group, *LIVE_COLUMNS], rows)),
            }
        )
        return self.bytes(body, content_type="application/json")


@app.page("/api/alerts")
class FiringAlerts(AuthorizedView):
    @app.table_route(table=live_table, exact_key="live")
    async def get(self, request: Request) -> Response:
        return self.json(await alerts().firing())


@app.page("/api/alerts/history")
class AlertHistory(AuthorizedView):
    @app.table_route(table=live_table, exact_key="live")
    async def get(self, request: Request) -> Response:
        return self.json(await alerts().history(query_lists(request)))


@app.page("/api/alert-rules")
class AlertRules(AuthorizedView):
    async def get(self, request: Request) -> Response:
        return self.json(await alerts().list())

    async def post(self, request: Request) -> Response:
        return self.json(await alerts().add(await json_fields(self, request)), status=201)


@app.page("/api/alert-rules/{name}")
class OneAlertRule(AuthorizedView):
    async def delete(self, request: Request, name: str) -> Response:
        if not await alerts().remove(name):
            raise UnknownName(f"no alert rule named {name!r}")
        return self.json({"removed": name})


@app.page("/api/alert-rules/{name}/test")
class AlertRuleTest(AuthorizedView):
    async def post(self, request: Request, name: str) -> Response:
        rule = await alerts().rule(name)
        if rule is None:
            raise UnknownName(f"no alert rule named {name!r}")
        return self.json(await notifier.send_sample(rule))


@app.page("/api/silences")
class Silences(AuthorizedView):
    async def get(self, request: Request) -> Response:
        return self.json(await alerts().silences())

    async def post(self, request: Request) -> Response:
        return self.json(await alerts().silence(await json_fields(self, request)), status=201)


@app.page("/api/silences/{silence_id}")
class OneSilence(AuthorizedView):
    async def delete(self, request: Request, silence_id: str) -> Response:
        if not await alerts().unsilence(silence_id):
            raise UnknownName(f"no silence {silence_id!r} under way")
        return self.json({"ended": silence_id})
