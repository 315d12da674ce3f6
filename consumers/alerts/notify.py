"""Notifying alert transitions: an e-mail and a signed webhook POST, each retried until delivered.

No storms: a minute step's transitions of one rule go out as one e-mail listing every key (over
one SMTP connection), and as a POST each up to CDRFLOW_WEBHOOK_MAX_PER_STEP, then one POST with
`"transition": "summary"` and the count of the rest (recorded as sent "in a summary").

Every transition is notified at least once per channel: a failed delivery is logged in
`alert_notifications` and tried again after 1 s, doubling up to 5 minutes, for about an hour
(ATTEMPTS); a restart resumes the deliveries not yet sent. A delivery is recorded as sent once
the receiver took it, so a transition sent and recorded is never sent again; one cut off between
the two is sent again, with the same `alert_id` and `transition`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import secrets
import socket
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

from consumers.alerts.rule import AlertRule
from consumers.alerts.store import AlertStore, Transition
from consumers.alerts.webhook import WebhookPolicy, post_webhook, redacted
from consumers.mail.smtp import report_message, send
from consumers.store import Warehouse
from pipeline.settings import Settings, SmtpUrl
from queries.errors import ReportError

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


def console_url(settings: Settings) -> str:
    """The console's Live tab, as alert mails link it."""
    host = socket.getfqdn() if settings.web_host in ("0.0.0.0", "::") else settings.web_host
    return f"http://{host}:{settings.web_port}/?tab=live"


def sample_transition(rule: AlertRule, now: datetime) -> Transition:
    """What `cdrflow alert test` sends: a transition "test" of the rule, each scope dimension "test"."""
    return Transition(
        f"test-{secrets.token_hex(6)}", rule.name, dict.fromkeys(rule.scope, "test"), "test", rule.metric,
        rule.threshold, rule.threshold, rule.resets_at, rule.window, rule.min_attempts, now, rule.email, rule.webhook,
        "a test of the rule's e-mail and webhook, sent on request",
    )  # fmt: skip


def alert_email(transition: Transition, sender: str, console_url: str):
    kind = {"fired": "FIRED", "resolved": "RESOLVED"}.get(transition.transition, transition.transition.upper())
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


@dataclass(frozen=True)
class Delivery:
    """What goes to one receiver at once: one transition, or on e-mail every transition of one rule
    at one minute step, or on a webhook the `summary` of those past CDRFLOW_WEBHOOK_MAX_PER_STEP."""

    channel: str  # "email" or "webhook"
    transitions: tuple[Transition, ...]
    summary: bool = False

    @property
    def receiver(self) -> str:
        first = self.transitions[0]
        return redacted(first.webhook) if self.channel == "webhook" else ",".join(first.email)

    def summary_body(self) -> bytes:
        first = self.transitions[0]
        return orjson.dumps({
            "alert_id": f"{first.alert_id}+{len(self.transitions) - 1}", "rule": first.rule, "transition": "summary",
            "count": len(self.transitions), "at": first.body()["at"],
            "reason": f"{len(self.transitions)} more transitions of this rule at this minute step, in the history",
        })  # fmt: skip


def step_deliveries(transitions: list[Transition], max_webhooks: int) -> list[Delivery]:
    """A minute step's deliveries: per rule one e-mail listing every key, and a POST per transition
    up to `max_webhooks`, then one summary POST of the rest."""
    by_rule: dict[str, list[Transition]] = {}
    for transition in transitions:
        by_rule.setdefault(transition.rule, []).append(transition)
    deliveries = []
    for rule_transitions in by_rule.values():
        mailed = tuple(t for t in rule_transitions if t.email)
        if mailed:
            deliveries.append(Delivery("email", mailed))
        posted = [t for t in rule_transitions if t.webhook]
        deliveries += [Delivery("webhook", (t,)) for t in posted[:max_webhooks]]
        if posted[max_webhooks:]:
            deliveries.append(Delivery("webhook", tuple(posted[max_webhooks:]), summary=True))
    return deliveries


def step_email(transitions: tuple[Transition, ...], sender: str, console_url: str):
    """One rule's transitions at one minute step in one e-mail (one transition: alert_email's)."""
    if len(transitions) == 1:
        return alert_email(transitions[0], sender, console_url)
    first = transitions[0]
    kinds = {t.transition for t in transitions}
    if kinds == {"fired"} or kinds == {"resolved"}:
        subject = f"[cdrflow] {'FIRED' if kinds == {'fired'} else 'RESOLVED'} {first.rule}: {len(transitions)} keys"
    else:
        fired = sum(t.transition == "fired" for t in transitions)
        subject = f"[cdrflow] {first.rule}: {fired} fired, {len(transitions) - fired} resolved"
    header = ("key", "transition", first.metric, "threshold", "reset", "attempts")
    rows = [(key_text(t), t.transition, f"{t.value:g}", f"{t.threshold:g}", f"{t.reset:g}", t.attempts)
            for t in transitions]  # fmt: skip
    at = f"at {first.at.isoformat(timespec='minutes')}, window {first.window} min"
    text = f"{subject}\n{at}\n\n" + "\n".join("  ".join(map(str, row)) for row in rows)
    text += f"\n\nLive statistics: {console_url}\n"
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    body = (
        f"<!doctype html><html><body><h1>{html.escape(subject)}</h1><p>{html.escape(at)}</p><table>"
        + "<tr>" + "".join(f"<th align='left'>{html.escape(h)}</th>" for h in header) + "</tr>"
        + f"{cells}</table><p><a href='{html.escape(console_url)}'>Live statistics</a></p></body></html>"
    )  # fmt: skip
    return report_message(sender, list(first.email), subject, text, body)


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
    max_webhooks_per_step: int = 100  # CDRFLOW_WEBHOOK_MAX_PER_STEP
    sending: set[tuple[str, str]] = field(default_factory=set)  # (alert_id, channel) under way
    in_flight: set[asyncio.Task] = field(default_factory=set)
    # Deliveries this process finished: a resumption that read the log before one finished skips it.
    finished: set[tuple[str, str]] = field(default_factory=set)

    async def send_sample(self, rule: AlertRule) -> dict[str, object]:
        """A sample transition ("test") to the rule's e-mail and webhook, now and once, never stored:
        what each receiver answered (the SMTP reply, the HTTP status), or why it could not."""
        if not rule.email and not rule.webhook:
            raise ReportError(f"rule {rule.name!r} has no email and no webhook to test")
        transition = sample_transition(rule, datetime.now(timezone.utc))
        answers: dict[str, object] = {"rule": rule.name, "alert_id": transition.alert_id}
        if rule.email:
            try:
                message = await asyncio.to_thread(alert_email, transition, self.sender, self.console_url)
                answers["email"] = {"to": list(rule.email), "answer": await asyncio.to_thread(send, self.smtp, message)}
            except Exception as error:  # said to whoever asked, not retried
                answers["email"] = {"to": list(rule.email), "error": str(error)}
        if rule.webhook:
            body = orjson.dumps(transition.body())
            try:
                status = await post_webhook(rule.webhook, body, self.webhooks, self.webhook_secret)
                answers["webhook"] = {"url": redacted(rule.webhook), "status": status}
            except Exception as error:
                answers["webhook"] = {"url": redacted(rule.webhook), "error": str(error)}
        return answers

    def notify_step(self, transitions: list[Transition]) -> None:
        """Deliver a minute step's new transitions in the background, without a storm."""
        for delivery in step_deliveries(transitions, self.max_webhooks_per_step):
            self.deliver(delivery)

    def notify(self, transition: Transition, channel: str, failures: int = 0) -> None:
        self.deliver(Delivery(channel, (transition,)), failures)

    def deliver(self, delivery: Delivery, failures: int = 0) -> None:
        """Deliver in the background the transitions of `delivery` not under way or done already on
        its channel."""
        channel = delivery.channel
        busy = self.sending, self.finished
        waiting = tuple(t for t in delivery.transitions if not any((t.alert_id, channel) in b for b in busy))
        if not waiting:
            return
        delivery = dataclasses.replace(delivery, transitions=waiting)
        taken = {(t.alert_id, channel) for t in waiting}
        self.sending |= taken
        task = asyncio.ensure_future(self._deliver(delivery, failures))
        self.in_flight.add(task)

        def done(_task: asyncio.Task) -> None:
            self.sending.difference_update(taken)
            self.in_flight.discard(task)

        task.add_done_callback(done)

    async def resume(self) -> None:
        """Deliver what was recorded but not sent (a restart, or the live partition handed over)."""
        since = datetime.now(timezone.utc) - RESUME_WITHIN
        self.deliver_pending(await self.warehouse.read(lambda: self.store.unnotified(since)))

    def deliver_pending(self, pending: list[tuple[Transition, str, int]]) -> None:
        """(transition, channel, failed attempts so far) delivered, the e-mails of one rule and
        minute step together again."""
        mails: dict[tuple, list[tuple[Transition, int]]] = {}
        for transition, channel, failures in pending:
            if channel == "email":
                mails.setdefault((transition.rule, transition.at), []).append((transition, failures))
            else:
                self.notify(transition, channel, failures)
        for waiting in mails.values():
            self.deliver(Delivery("email", tuple(t for t, _ in waiting)), min(f for _, f in waiting))

    async def _deliver(self, delivery: Delivery, failures: int) -> None:
        first = delivery.transitions[0]
        while True:
            try:
                await self._send(delivery)
            except Exception as error:
                failures += 1
                self.on_failure()
                gave_up = failures >= ATTEMPTS
                log.warning("alert %s%s: %s to %s failed (attempt %d%s): %s", first.alert_id,
                            f" and {len(delivery.transitions) - 1} more" if len(delivery.transitions) > 1 else "",
                            delivery.channel, delivery.receiver, failures, ", giving up" if gave_up else "",
                            error)  # fmt: skip
                await self._log_delivery(delivery, "given_up" if gave_up else "failed", failures, str(error))
                if gave_up:
                    self._finish(delivery)
                    return
                await asyncio.sleep(min(self.first_wait * 2 ** (failures - 1), MAX_WAIT))
                continue
            await self._log_delivery(delivery, "sent", failures + 1, "in a summary" if delivery.summary else "")
            self._finish(delivery)
            return

    def _finish(self, delivery: Delivery) -> None:
        if len(self.finished) > 100_000:  # the log has them by now
            self.finished.clear()
        self.finished.update((t.alert_id, delivery.channel) for t in delivery.transitions)

    async def _log_delivery(self, delivery: Delivery, status: str, attempt: int, error: str = "") -> None:
        rows = [(t.alert_id, delivery.channel, status, attempt, error) for t in delivery.transitions]
        while True:
            try:
                await self.warehouse.write(lambda: self.store.insert_notifications(rows))
                return
            except Exception as failure:  # the warehouse is down: keep the outcome until it is back
                log.warning("alert %s: could not record the %s outcome: %s", rows[0][0], delivery.channel, failure)
                await asyncio.sleep(5)

    async def _send(self, delivery: Delivery) -> None:
        if delivery.channel == "email":
            message = await asyncio.to_thread(step_email, delivery.transitions, self.sender, self.console_url)
            await asyncio.to_thread(send, self.smtp, message)
            return
        first = delivery.transitions[0]
        body = delivery.summary_body() if delivery.summary else orjson.dumps(first.body())
        await post_webhook(first.webhook, body, self.webhooks, self.webhook_secret)
