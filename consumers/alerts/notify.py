"""Notifying alert transitions: an e-mail and a signed webhook POST, each retried until delivered.

Every transition is notified at least once per channel: a failed delivery is logged in
`alert_notifications` and tried again after 1 s, doubling up to 5 minutes, for about an hour
(ATTEMPTS); a restart resumes the deliveries not yet sent. A delivery is recorded as sent once
the receiver took it, so a transition sent and recorded is never sent again; one cut off between
the two is sent again, with the same `alert_id` and `transition`.
"""

from __future__ import annotations

import asyncio
import html
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

from consumers.alerts.store import AlertStore, Transition
from consumers.alerts.webhook import WebhookPolicy, post_webhook, redacted
from consumers.mail.smtp import report_message, send
from consumers.store import Warehouse
from pipeline.settings import SmtpUrl

log = logging.getLogger(__name__)
ATTEMPTS = 20  # 1 s doubling to 5 min between them: about an hour
MAX_WAIT = 300.0
RESUME_WITHIN = timedelta(days=2)  # transitions older than this are not resumed
BREAKING = {"Cc", "Zl", "Zp"}  # control characters, line and paragraph separators


def one_line(text: str) -> str:
    """`text` with its control characters and line separators written as escapes, as in a Python
    string: a key's values come from CDRs as the switch sent them, and a mail's subject is one line
    (the e-mail package refuses a header with a line break)."""
    return "".join(c.encode("unicode_escape").decode() if unicodedata.category(c) in BREAKING else c for c in text)


def key_text(transition: Transition) -> str:
    return ", ".join(f"{d}={one_line(v)}" for d, v in transition.key.items()) or "all traffic"


def alert_email(transition: Transition, sender: str, console_url: str):
    kind = "FIRED" if transition.transition == "fired" else "RESOLVED"
    subject = f"[cdrflow] {kind} {transition.rule}: {key_text(transition)} {transition.metric} {transition.value:g}"
    figures = [
        ("rule", transition.rule), ("key", key_text(transition)), ("transition", transition.transition),
        ("metric", transition.metric), ("value", f"{transition.value:g}"), ("threshold", f"{transition.threshold:g}"),
        ("reset", f"{transition.reset:g}"), ("window", f"{transition.window} min"), ("attempts", transition.attempts),
        ("at", transition.at.isoformat(timespec="minutes")), ("alert id", transition.alert_id),
    ]  # fmt: skip
    text = "\n".join(f"{name}: {value}" for name, value in figures) + f"\n\nLive statistics: {console_url}\n"
    rows = "".join(f"<tr><th align='left'>{html.escape(n)}</th><td>{html.escape(str(v))}</td></tr>" for n, v in figures)
    body = (
        f"<!doctype html><html><body><h1>{html.escape(subject)}</h1><table>{rows}</table>"
        f"<p><a href='{html.escape(console_url)}'>Live statistics</a></p></body></html>"
    )
    return report_message(sender, list(transition.email), subject, text, body)


@dataclass
class Notifier:
    store: AlertStore
    warehouse: Warehouse
    smtp: SmtpUrl
    sender: str
    console_url: str
    webhook_secret: str | None
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)
    first_wait: float = 1.0
    on_failure: Callable[[], None] = lambda: None
    in_flight: dict[tuple[str, str], asyncio.Task] = field(default_factory=dict)
    # Deliveries this process finished: a resumption that read the log before one finished skips it.
    finished: set[tuple[str, str]] = field(default_factory=set)

    def notify(self, transition: Transition, channel: str, failures: int = 0) -> None:
        """Deliver in the background, unless this delivery is under way or done already."""
        key = (transition.alert_id, channel)
        if key not in self.in_flight and key not in self.finished:
            self.in_flight[key] = asyncio.ensure_future(self._deliver(transition, channel, failures))
            self.in_flight[key].add_done_callback(lambda _task: self.in_flight.pop(key, None))

    async def resume(self) -> None:
        """Deliver what was recorded but not sent (a restart, or the live partition handed over)."""
        since = datetime.now(timezone.utc) - RESUME_WITHIN
        for transition, channel, failures in await self.warehouse.read(lambda: self.store.unnotified(since)):
            self.notify(transition, channel, failures)

    async def _deliver(self, transition: Transition, channel: str, failures: int) -> None:
        while True:
            try:
                await (self._email(transition) if channel == "email" else self._post(transition))
            except Exception as error:
                failures += 1
                self.on_failure()
                gave_up = failures >= ATTEMPTS
                receiver = redacted(transition.webhook) if channel == "webhook" else ",".join(transition.email)
                log.warning("alert %s: %s to %s failed (attempt %d%s): %s", transition.alert_id, channel, receiver,
                            failures, ", giving up" if gave_up else "", error)  # fmt: skip
                await self._log_delivery(transition, channel, "given_up" if gave_up else "failed", failures, str(error))
                if gave_up:
                    self._finish(transition, channel)
                    return
                await asyncio.sleep(min(self.first_wait * 2 ** (failures - 1), MAX_WAIT))
                continue
            await self._log_delivery(transition, channel, "sent", failures + 1)
            self._finish(transition, channel)
            return

    def _finish(self, transition: Transition, channel: str) -> None:
        if len(self.finished) > 100_000:  # the log has them by now
            self.finished.clear()
        self.finished.add((transition.alert_id, channel))

    async def _log_delivery(
        self, transition: Transition, channel: str, status: str, attempt: int, error: str = ""
    ) -> None:
        while True:
            try:
                await self.warehouse.write(
                    lambda: self.store.insert_notification(transition.alert_id, channel, status, attempt, error)
                )
                return
            except Exception as failure:  # the warehouse is down: keep the outcome until it is back
                log.warning("alert %s: could not record the %s outcome: %s", transition.alert_id, channel, failure)
                await asyncio.sleep(5)

    async def _email(self, transition: Transition) -> None:
        message = await asyncio.to_thread(alert_email, transition, self.sender, self.console_url)
        await asyncio.to_thread(send, self.smtp, message)

    async def _post(self, transition: Transition) -> None:
        await post_webhook(transition.webhook, orjson.dumps(transition.body()), self.webhooks, self.webhook_secret)
