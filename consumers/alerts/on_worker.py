"""Alert rules on the worker (found by the Faust app's autodiscovery): evaluated at each minute step
of the live clock on the worker keeping the live windows, notified from there."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache

from consumers.alerts.evaluate import Alerting
from consumers.alerts.notify import Notifier, console_url
from consumers.alerts.service import AlertService, wall_clock
from consumers.alerts.store import AlertStore, Transition
from consumers.alerts.webhook import WebhookPolicy
from consumers.on_worker import warehouse
from pipeline.app import guarded_timer, holds_live, live, metrics, settings
from pipeline.warehouse.client import current_client

RESUME_EVERY_SECONDS = 30.0
SILENCES_EVERY_SECONDS = 5.0


store = AlertStore(current_client)
notifier = Notifier(
    store, warehouse, settings.smtp, settings.mail_from, console_url(settings), settings.webhook_secret,
    WebhookPolicy(settings.webhook_allow_nets),
    on_failure=lambda: metrics.inc("cdrflow_alert_notifications_failed_total"),
    max_webhooks_per_step=settings.webhook_max_per_step,
)  # fmt: skip
alerting = Alerting(store, warehouse, notifier, lambda n: metrics.inc("cdrflow_alert_transitions_total", n))
live.minute_steps.append(alerting.at_minute_step)


def live_clock() -> datetime:
    """The live clock where this worker keeps the windows, else the wall clock."""
    clock_ms = live.windows.clock_ms if settings.live and holds_live() and live.windows is not None else None
    return wall_clock() if clock_ms is None else datetime.fromtimestamp(clock_ms / 1000, timezone.utc)


def cleared(transitions: list[Transition]) -> None:
    """A rule's keys resolved by its removal or change: notified from here when the windows are
    kept here, else by the worker that keeps them (it resumes what was recorded, not notified)."""
    if settings.live and holds_live():
        alerting.cleared(transitions)


@cache
def alerts() -> AlertService:
    return AlertService(
        store, warehouse, alerting.rules_changed, WebhookPolicy(settings.webhook_allow_nets), live_clock, cleared
    )


@guarded_timer(RESUME_EVERY_SECONDS)
async def resume_notifications() -> None:
    """On the worker keeping the live windows: deliver transitions recorded but not notified yet
    (after a restart, or when the live partition came here)."""
    if settings.live and holds_live():
        await notifier.resume()


@guarded_timer(SILENCES_EVERY_SECONDS)
async def notify_when_silences_end() -> None:
    """On the worker keeping the live windows: a key that fired inside a silence and still fires
    when the silence ends is notified then, once."""
    if settings.live and holds_live():
        await alerting.notify_ended_silences()
