"""Alert rules on the worker (found by the Faust app's autodiscovery): evaluated at each minute step
of the live clock on the worker keeping the live windows, notified from there."""

from __future__ import annotations

import socket
from functools import cache

from consumers.alerts.evaluate import Alerting
from consumers.alerts.notify import Notifier
from consumers.alerts.service import AlertService
from consumers.alerts.store import AlertStore
from consumers.alerts.webhook import WebhookPolicy
from consumers.on_worker import warehouse
from pipeline.app import guarded_timer, holds_live, live, metrics, settings
from pipeline.warehouse.client import current_client

RESUME_EVERY_SECONDS = 30.0


def console_url() -> str:
    host = socket.getfqdn() if settings.web_host in ("0.0.0.0", "::") else settings.web_host
    return f"http://{host}:{settings.web_port}/?tab=live"


store = AlertStore(current_client)
notifier = Notifier(
    store, warehouse, settings.smtp, settings.mail_from, console_url(), settings.webhook_secret,
    WebhookPolicy(settings.webhook_allow_nets),
    on_failure=lambda: metrics.inc("cdrflow_alert_notifications_failed_total"),
    max_webhooks_per_step=settings.webhook_max_per_step,
)  # fmt: skip
alerting = Alerting(store, warehouse, notifier, lambda n: metrics.inc("cdrflow_alert_transitions_total", n))
live.minute_steps.append(alerting.at_minute_step)


@cache
def alerts() -> AlertService:
    return AlertService(store, warehouse, alerting.rules_changed, WebhookPolicy(settings.webhook_allow_nets))


@guarded_timer(RESUME_EVERY_SECONDS)
async def resume_notifications() -> None:
    """On the worker keeping the live windows: deliver transitions recorded but not notified yet
    (after a restart, or when the live partition came here)."""
    if settings.live and holds_live():
        await notifier.resume()
