"""Rules that clean up and silences, as live-and-alerts.md gives them: removing a rule, or changing
which keys it fires for, resolves its firing keys; a transition inside a silence is stored, marked
silenced, not notified, and a key still firing when its silence ends is notified then, once."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import datetime, timedelta

import pytest

from consumers.alerts.evaluate import Alerting
from consumers.alerts.notify import Notifier
from consumers.alerts.service import AlertService
from consumers.alerts.store import AlertStore
from consumers.mail.catcher import MailCatcher
from consumers.store import HERE
from pipeline.settings import SmtpUrl
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from queries.errors import ReportError
from tests.consumers.alerts.test_evaluate import ASR_RULE, windows_with
from tests.consumers.alerts.test_store import AT, ROUTE_ASR, transition
from tests.warehouse_data import fresh_url

BAD = {"provider": "carrier-b", "provider_destination": "UK Mobile"}
GOOD = {"provider": "carrier-a", "provider_destination": "UK Mobile"}
LIVE_CLOCK = AT + timedelta(minutes=30)


@pytest.fixture
def store(clickhouse) -> AlertStore:
    client = connect(fresh_url(clickhouse, "alert_service"))
    migrate(client)
    return AlertStore(lambda: client)


def service_with_a_firing_key(store: AlertStore, cleared: list) -> AlertService:
    service = AlertService(store, HERE, clock=lambda: LIVE_CLOCK, cleared=cleared.extend)
    asyncio.run(service.add(ROUTE_ASR))
    store.insert_transitions([
        transition("f1", BAD, "fired", AT, email=("noc@example.com",)),
        transition("f2", GOOD, "fired", AT - timedelta(minutes=20)),
        transition("r2", GOOD, "resolved", AT - timedelta(minutes=10)),
    ])  # fmt: skip
    return service


def test_removing_a_rule_resolves_its_firing_keys_and_lists_them_no_more(store):
    cleared: list = []
    service = service_with_a_firing_key(store, cleared)
    assert [a["key"] for a in asyncio.run(service.firing())] == [BAD]
    assert asyncio.run(service.remove("route-asr"))
    assert asyncio.run(service.firing()) == []
    [resolved] = cleared
    assert (resolved.key, resolved.transition, resolved.reason, resolved.at) == (BAD, "resolved", "rule removed",
                                                                                 LIVE_CLOCK)  # fmt: skip
    assert resolved.email == ("noc@example.com",), "notified where the firing key was"
    history = asyncio.run(service.history({"rule": ["route-asr"]}))
    assert [(h["transition"], h["reason"], h["silenced"]) for h in history[:2]] == [
        ("resolved", "rule removed", False), ("fired", "", False)]  # fmt: skip
    pending = [t for t, _, _ in store.unnotified(AT - timedelta(days=1))]
    assert resolved in pending, "delivered by whoever resumes, if not here"
    with pytest.raises(ReportError, match="rule: no alert rule named 'nope'"):
        asyncio.run(service.history({"rule": ["nope"]}))


@pytest.mark.parametrize(
    "change, reason",
    [({"threshold": 25}, "rule changed"), ({"scope": ["provider"]}, "rule changed"),
     ({"customers": ["acme"]}, "rule changed"), ({"window": 5}, "rule changed"),
     ({"email": ["other@example.com"]}, None), ({"reset": 40, "min_attempts": 5}, None)],
)  # fmt: skip
def test_changing_what_a_rule_fires_for_resolves_its_keys_and_changing_who_is_told_does_not(store, change, reason):
    cleared: list = []
    service = service_with_a_firing_key(store, cleared)
    asyncio.run(service.add({**ROUTE_ASR, **change}))
    assert [t.reason for t in cleared] == ([reason] if reason else [])
    assert [a["key"] for a in asyncio.run(service.firing())] == ([] if reason else [BAD])


def test_a_resolution_by_a_removal_comes_after_the_key_fired_even_when_the_clock_is_behind(store):
    cleared: list = []
    service = service_with_a_firing_key(store, cleared)
    service.clock = lambda: AT - timedelta(hours=1)  # a replay of older CDRs runs on its own time
    asyncio.run(service.remove("route-asr"))
    assert cleared[0].at == AT + timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "fields, refused",
    [({"rule": "nope", "for": "2h", "reason": "x"}, "rule: no alert rule named 'nope'"),
     ({"rule": "route-asr", "key": {"customer": "acme"}, "for": "2h", "reason": "x"}, "key: 'customer' is not in"),
     ({"rule": "route-asr", "for": "2h"}, "reason: required"),
     ({"rule": "route-asr", "for": "2h", "until": "2099-01-01T00:00:00Z", "reason": "x"}, "for: give either"),
     ({"rule": "route-asr", "for": "2 hours", "reason": "x"}, "for: a duration such as 30m"),
     ({"rule": "route-asr", "for": "0h", "reason": "x"}, "for: a duration"),
     ({"rule": "route-asr", "until": "2020-01-01T00:00:00Z", "reason": "x"}, "until: after now"),
     ({"rule": "route-asr", "for": "200d", "reason": "x"}, "until: after now and within 90 days"),
     ({"rule": "route-asr", "for": "2h", "reason": "x", "who": "me"}, "unknown field 'who'")],
)  # fmt: skip
def test_a_bad_silence_is_refused_naming_the_field(store, fields, refused):
    service = AlertService(store, HERE)
    asyncio.run(service.add(ROUTE_ASR))
    with pytest.raises(ReportError, match=refused.replace("(", r"\(")):
        asyncio.run(service.silence(fields))


def test_silences_are_listed_while_under_way_and_end_when_asked(store):
    service = AlertService(store, HERE)
    asyncio.run(service.add(ROUTE_ASR))
    made = asyncio.run(service.silence({"rule": "route-asr", "key": {"provider": "carrier-b"}, "for": "2h",
                                        "reason": "carrier maintenance"}))  # fmt: skip
    assert asyncio.run(service.silences()) == [made]
    ends = datetime.fromisoformat(made["ends"]) - datetime.fromisoformat(made["starts"])
    assert ends == timedelta(hours=2)
    assert asyncio.run(service.unsilence(made["id"]))
    assert not asyncio.run(service.unsilence(made["id"])), "ended already"
    assert asyncio.run(service.silences()) == []


def mailing_alerting(store: AlertStore, catcher: MailCatcher) -> tuple[Notifier, Alerting]:
    smtp = SmtpUrl("127.0.0.1", catcher.port, ssl=False, starttls=False)
    notifier = Notifier(store, HERE, smtp, "cdrflow@example.com", "http://127.0.0.1:6066/", None)
    return notifier, Alerting(store, HERE, notifier, lambda n: None)


def test_a_key_firing_inside_a_silence_is_notified_once_when_the_silence_ends(store, tmp_path):
    rule = {**ASR_RULE, "email": ["noc@example.com"]}
    service = AlertService(store, HERE)
    asyncio.run(service.add(rule))
    made = asyncio.run(service.silence({"rule": "asr", "key": {"provider": "bad"}, "for": "1h", "reason": "works"}))
    windows = windows_with({m: {"bad": (10, 1), "worse": (10, 0)} for m in range(10)})
    with MailCatcher(tmp_path / "outbox") as catcher:
        notifier, alerting = mailing_alerting(store, catcher)

        async def steps() -> None:
            await alerting.at_minute_step(windows, 5)
            await asyncio.gather(*notifier.in_flight)
            assert len(catcher.handler.saved) == 1, "the key outside the silence is notified"
            await alerting.notify_ended_silences()
            assert not notifier.in_flight, "the silence is under way"
            await service.unsilence(made["id"])
            for _ in range(3):  # the silence ended: notified at the first pass, and then no more
                await alerting.notify_ended_silences()
                await asyncio.gather(*notifier.in_flight)
            await alerting.at_minute_step(windows, 6)
            await notifier.resume()  # a restart: nothing is left to send
            await asyncio.gather(*notifier.in_flight)

        asyncio.run(steps())
        subjects = [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"]
            for path in catcher.handler.saved
        ]
    assert subjects == ["[cdrflow] FIRED asr: provider=worse asr 0", "[cdrflow] FIRED asr: provider=bad asr 10"]
    history = asyncio.run(service.history({}))
    assert {h["key"]["provider"]: h["silenced"] for h in history} == {"bad": True, "worse": False}
    assert {h["key"]["provider"]: h["reason"] for h in history} == {"bad": "asr 10 < 30", "worse": "asr 0 < 30"}


def test_a_key_that_fires_and_resolves_inside_a_silence_is_in_the_history_and_never_sent(store, tmp_path):
    service = AlertService(store, HERE)
    asyncio.run(service.add({**ASR_RULE, "email": ["noc@example.com"]}))
    made = asyncio.run(service.silence({"rule": "asr", "for": "30m", "reason": "planned works"}))
    windows = windows_with({m: {"flaky": (10, 1 if m < 6 else 8)} for m in range(20)})
    with MailCatcher(tmp_path / "outbox") as catcher:
        notifier, alerting = mailing_alerting(store, catcher)

        async def steps() -> None:
            await alerting.at_minute_step(windows, 5)
            await alerting.at_minute_step(windows, 15)
            await service.unsilence(made["id"])
            await alerting.notify_ended_silences()
            await notifier.resume()
            await asyncio.gather(*notifier.in_flight)

        asyncio.run(steps())
        assert catcher.handler.saved == []
    history = asyncio.run(service.history({}))
    assert [(h["transition"], h["silenced"]) for h in history] == [("resolved", True), ("fired", True)]
