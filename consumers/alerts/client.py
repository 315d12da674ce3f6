"""`cdrflow alert` and `cdrflow live` for the command line: through the running worker's API, or
(rules and history only) on the warehouse itself when no worker answers."""

from __future__ import annotations

import asyncio
import urllib.parse

import orjson
from clickhouse_connect.driver.client import Client

from consumers.alerts.notify import Notifier, console_url
from consumers.alerts.service import AlertService
from consumers.alerts.store import AlertStore
from consumers.alerts.webhook import WebhookPolicy
from consumers.store import HERE
from consumers.worker import ask_worker, ask_worker_else_folder
from pipeline.settings import Settings
from queries.errors import ReportError


class NoLiveWorker(RuntimeError):
    """Live statistics are kept by a running worker, and none answers."""


def live_statistics(settings: Settings, params: dict[str, list[str]]) -> dict:
    answer = ask_worker(settings, "GET", "/api/live?" + urllib.parse.urlencode(params, doseq=True))
    if answer is None:
        raise NoLiveWorker(
            f"no worker answers on CDRFLOW_WEB_PORT {settings.web_port}: live statistics are kept by a running worker"
        )
    return orjson.loads(answer)


def alert_command(
    settings: Settings, action: str, name: str | None = None, fields: dict | None = None,
    history: dict[str, list[str]] | None = None,
) -> object:  # fmt: skip
    """add (fields), list, remove (name), test (name), history (rule, from, to), firing, silence
    (fields), silences, unsilence (name: the silence's id)."""
    query = urllib.parse.urlencode(history or {}, doseq=True)
    quoted = urllib.parse.quote(name or "", safe="")
    method, path, body = {
        "add": ("POST", "/api/alert-rules", fields),
        "list": ("GET", "/api/alert-rules", None),
        "remove": ("DELETE", "/api/alert-rules/" + quoted, None),
        "test": ("POST", f"/api/alert-rules/{quoted}/test", {}),
        "history": ("GET", "/api/alerts/history" + (f"?{query}" if query else ""), None),
        "firing": ("GET", "/api/alerts", None),
        "silence": ("POST", "/api/silences", fields),
        "silences": ("GET", "/api/silences", None),
        "unsilence": ("DELETE", "/api/silences/" + quoted, None),
    }[action]

    async def run(service: AlertService, notifier: Notifier) -> object:
        if action == "add":
            return await service.add(fields or {})
        if action == "list":
            return await service.list()
        if action == "remove":
            if not await service.remove(name or ""):
                raise ReportError(f"no alert rule named {name!r}")
            return {"removed": name}
        if action == "test":
            rule = await service.rule(name or "")
            if rule is None:
                raise ReportError(f"no alert rule named {name!r}")
            return await notifier.send_sample(rule)
        if action == "history":
            return await service.history(history or {})
        if action == "silence":
            return await service.silence(fields or {})
        if action == "silences":
            return await service.silences()
        if action == "unsilence":
            if not await service.unsilence(name or ""):
                raise ReportError(f"no silence {name!r} under way")
            return {"ended": name}
        return await service.firing()

    def on_folder(client: Client) -> object:
        webhooks = WebhookPolicy(settings.webhook_allow_nets)
        store = AlertStore(lambda: client)
        notifier = Notifier(store, HERE, settings.smtp, settings.mail_from, console_url(settings),
                            settings.webhook_secret, webhooks)  # fmt: skip
        return asyncio.run(run(AlertService(store, HERE, webhooks=webhooks), notifier))

    return ask_worker_else_folder(settings, method, path, body, on_folder)
