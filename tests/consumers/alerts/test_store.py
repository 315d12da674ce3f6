"""Transitions are stored in alert_events as they were found, and read back whole: history, the
keys firing, those recorded already, and those whose channels are still to be notified."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from consumers.alerts.rule import alert_rule_from
from consumers.alerts.store import AlertStore, Transition
from pipeline.warehouse.client import connect
from pipeline.warehouse.migrations import migrate
from tests.warehouse_data import fresh_url

AT = datetime(2026, 11, 27, 14, 5, 7, 250000, tzinfo=timezone.utc)
ROUTE_ASR = {"name": "route-asr", "scope": ["provider", "provider_destination"], "metric": "asr", "op": "<",
             "threshold": 20, "reset": 30, "window": 15, "email": ["noc@example.com"]}  # fmt: skip


def transition(alert_id: str, key: dict[str, str], kind: str, at: datetime, **channels) -> Transition:
    return Transition(alert_id, "route-asr", key, kind, "asr", 4.35, 20.0, 30.0, 15, 1234, at, **channels)


def test_recorded_transitions_read_back_as_they_were(clickhouse):
    client = connect(fresh_url(clickhouse, "alerts"))
    migrate(client)
    store = AlertStore(lambda: client)
    store.save_rule(alert_rule_from(ROUTE_ASR))
    hostile = {"provider": 'carrier "b"\\\n', "provider_destination": "Côte d'Ivoire 📞"}
    plain = {"provider": "carrier-a", "provider_destination": "UK Mobile"}
    fired = transition("a1", hostile, "fired", AT, email=("noc@example.com",), webhook="http://127.0.0.1:9/hook")
    resolved = transition("a2", plain, "resolved", AT + timedelta(minutes=3))
    plain_fired = transition("a0", plain, "fired", AT - timedelta(minutes=10))
    store.insert_transitions([plain_fired])
    store.insert_transitions([fired, resolved])
    assert store.history(None, None, None) == [resolved, fired, plain_fired]
    assert store.firing() == [fired]
    assert store.known(["a0", "a2", "nope"]) == {"a0", "a2"}
    assert store.unnotified(AT - timedelta(days=1)) == [(fired, "email", 0), (fired, "webhook", 0)]
    store.insert_notification("a1", "webhook", "failed", 1, "connection refused: 'x' \"y\"")
    store.insert_notification("a1", "email", "sent", 1)
    assert store.unnotified(AT - timedelta(days=1)) == [(fired, "webhook", 1)]
