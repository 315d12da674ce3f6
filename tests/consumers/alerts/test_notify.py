"""An alert's e-mail reads as the contract gives it, and reaches its recipients whatever the key's
values hold: they come from CDRs as the switches sent them."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import timedelta
from ipaddress import ip_network

from consumers.alerts.notify import Notifier, alert_email
from consumers.alerts.receiver import WebhookReceiver
from consumers.alerts.rule import alert_rule_from
from consumers.alerts.store import AlertStore
from consumers.alerts.webhook import WebhookPolicy, signature
from consumers.mail.catcher import MailCatcher
from consumers.store import HERE
from consumers.worker import free_port
from pipeline.settings import SmtpUrl
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from tests.consumers.alerts.test_store import AT, transition
from tests.warehouse_data import fresh_url

ROUTE = {"provider": "carrier-a", "provider_destination": "UK Mobile"}


def test_the_subject_names_the_transition_rule_key_metric_and_value():
    fired = alert_email(transition("a1", ROUTE, "fired", AT, email=("noc@example.com",)), "cdrflow@example.com", "")
    resolved = alert_email(
        transition("a2", ROUTE, "resolved", AT, email=("noc@example.com",)), "cdrflow@example.com", ""
    )
    assert fired["Subject"] == "[cdrflow] FIRED route-asr: provider=carrier-a, provider_destination=UK Mobile asr 4.35"
    assert resolved["Subject"].startswith("[cdrflow] RESOLVED route-asr: provider=carrier-a")


def test_a_key_with_a_line_break_is_mailed_with_the_break_written_as_an_escape(clickhouse, tmp_path):
    """A customer named with a line break would otherwise make every mail of its alerts fail (the
    e-mail package refuses the subject) until the deliveries are given up an hour later."""
    client = connect(fresh_url(clickhouse, "notify"))
    migrate(client)
    store = AlertStore(lambda: client)
    key = {"customer": "acme\r\nBcc: thief@example.com", "provider": "Côte d'Ivoire 📞\t"}
    hostile = transition("h1", key, "fired", AT, email=("noc@example.com",))
    store.insert_transitions([hostile])
    with MailCatcher(tmp_path / "outbox") as catcher:
        smtp = SmtpUrl("127.0.0.1", catcher.port, ssl=False, starttls=False)
        notifier = Notifier(store, HERE, smtp, "cdrflow@example.com", "http://127.0.0.1:6066/", None, first_wait=0.01)

        async def deliver() -> None:
            notifier.notify(hostile, "email")
            await asyncio.wait_for(asyncio.gather(*notifier.in_flight), timeout=20)

        asyncio.run(deliver())
    [saved] = catcher.handler.saved
    message = email.message_from_bytes(saved.read_bytes(), policy=email.policy.default)
    subject = " ".join(message["Subject"].split())  # as read, after the header's folding
    assert (
        subject
        == r"[cdrflow] FIRED route-asr: customer=acme\r\nBcc: thief@example.com, provider=Côte d'Ivoire 📞\t asr 4.35"
    )
    assert message["Bcc"] is None and message["To"] == "noc@example.com"
    assert store.unnotified(AT - timedelta(days=1)) == [], "the delivery is recorded as sent"


def test_2000_keys_firing_at_one_step_make_one_mail_100_posts_and_one_summary(clickhouse, tmp_path):
    client = connect(fresh_url(clickhouse, "storm"))
    migrate(client)
    store = AlertStore(lambda: client)
    receiver = WebhookReceiver(free_port()).start()
    storm = [
        transition(f"s{n}", {"provider": f"carrier-{n}", "provider_destination": "UK Mobile"}, "fired", AT,
                   email=("noc@example.com",), webhook=receiver.url)
        for n in range(2000)
    ]  # fmt: skip
    store.insert_transitions(storm)
    try:
        with MailCatcher(tmp_path / "outbox") as catcher:
            smtp = SmtpUrl("127.0.0.1", catcher.port, ssl=False, starttls=False)
            notifier = Notifier(store, HERE, smtp, "cdrflow@example.com", "http://127.0.0.1:6066/", None,
                                WebhookPolicy((ip_network("127.0.0.0/8"),)), first_wait=0.01)  # fmt: skip

            async def deliver() -> None:
                notifier.notify_step(storm)
                await asyncio.wait_for(asyncio.gather(*notifier.in_flight), timeout=120)
                await notifier.resume()  # a restart now: nothing is left to send
                assert not notifier.in_flight

            asyncio.run(deliver())
        [saved] = catcher.handler.saved
    finally:
        receiver.stop()
    message = email.message_from_bytes(saved.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "[cdrflow] FIRED route-asr: 2000 keys"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert all(f"provider=carrier-{n}, provider_destination=UK Mobile  fired" in text for n in range(2000))
    bodies = [body for body, _, _ in receiver.posts]
    singles = [b for b in bodies if b["transition"] == "fired"]
    [summary] = [b for b in bodies if b["transition"] == "summary"]
    assert len(bodies) == 101 and len(singles) == 100 and summary["count"] == 1900
    assert summary["rule"] == "route-asr" and summary["at"] == singles[0]["at"]
    assert store.unnotified(AT - timedelta(days=1)) == [], "every key's mail and POST recorded as sent"


def test_a_sample_transition_reaches_the_rules_mail_and_webhook_signed_and_is_never_stored(clickhouse, tmp_path):
    client = connect(fresh_url(clickhouse, "sample"))
    migrate(client)
    store = AlertStore(lambda: client)
    receiver = WebhookReceiver(free_port()).start()
    rule = alert_rule_from({"name": "route-asr", "scope": ["provider"], "metric": "asr", "op": "<", "threshold": 30,
                            "window": 15, "email": ["noc@example.com"], "webhook": receiver.url})  # fmt: skip
    allowed = WebhookPolicy((ip_network("127.0.0.0/8"),))
    try:
        with MailCatcher(tmp_path / "outbox") as catcher:
            smtp = SmtpUrl("127.0.0.1", catcher.port, ssl=False, starttls=False)
            notifier = Notifier(store, HERE, smtp, "cdrflow@example.com", "http://127.0.0.1:6066/", "s3cret", allowed)
            answer = asyncio.run(notifier.send_sample(rule))
            [saved] = catcher.handler.saved
        nowhere = Notifier(store, HERE, SmtpUrl("127.0.0.1", free_port(), False, False), "cdrflow@example.com", "",
                           None, WebhookPolicy())  # fmt: skip
        failed = asyncio.run(nowhere.send_sample(rule))
    finally:
        receiver.stop()
    assert answer["email"] == {"to": ["noc@example.com"], "answer": "250 Message accepted for delivery"}
    assert answer["webhook"] == {"url": "http://127.0.0.1/…", "status": 204}
    message = email.message_from_bytes(saved.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "[cdrflow] TEST route-asr: provider=test asr 30"
    [(body, headers, raw)] = receiver.posts
    assert (
        body["transition"] == "test" and body["alert_id"] == answer["alert_id"] and body["key"] == {"provider": "test"}
    )
    timestamp = headers["X-Cdrflow-Timestamp"]
    assert headers["X-Cdrflow-Signature"] == signature("s3cret", timestamp, raw)
    assert client.query("SELECT count() FROM alert_events").result_rows == [(0,)]
    assert failed["email"]["error"].endswith("(CDRFLOW_SMTP) refused the connection")
    assert "an address inside the house" in failed["webhook"]["error"]  # not let in: refused, as when notifying
