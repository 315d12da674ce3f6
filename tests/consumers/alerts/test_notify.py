"""An alert's e-mail reads as the contract gives it, and reaches its recipients whatever the key's
values hold: they come from CDRs as the switches sent them."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import timedelta

from consumers.alerts.notify import Notifier, alert_email
from consumers.alerts.store import AlertStore
from consumers.mail.catcher import MailCatcher
from consumers.store import HERE
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
            await asyncio.wait_for(asyncio.gather(*notifier.in_flight.values()), timeout=20)

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
