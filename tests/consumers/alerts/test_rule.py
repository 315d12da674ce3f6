"""Alert rules: the contract's fields, and bad rules refused with a message naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from consumers.alerts.rule import alert_rule_from, rule_fields
from queries.errors import ReportError

GOOD = {"name": "route-asr", "scope": ["provider", "provider_destination"], "metric": "asr", "op": "<",
        "threshold": 30, "reset": 45, "window": 15, "min_attempts": 20, "email": ["noc@example.com"],
        "webhook": "https://hooks.example.com/cdrflow"}  # fmt: skip


def test_a_rule_reads_back_with_the_contracts_fields():
    fields = rule_fields(alert_rule_from(GOOD))
    assert fields == {**GOOD, "customers": [], "providers": []}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"metric": "revenue"}, "metric: one of attempts, connected, asr"),
        ({"scope": ["planet"]}, "scope: unknown dimension 'planet'"),
        ({"scope": ["provider", "provider"]}, "scope: a dimension is named twice"),
        ({"scope": ["dest_number", "provider"]}, "scope: unknown dimension 'dest_number'"),
        ({"window": 0}, "window: a whole number of minutes from 1 to 60, not 0"),
        ({"window": 61}, "window: a whole number of minutes from 1 to 60, not 61"),
        ({"reset": 20}, "reset: at or above the threshold 30"),
        ({"metric": "attempts", "op": ">", "threshold": 100, "reset": 120}, "reset: at or below the threshold 100"),
        ({"op": "="}, "op: < or >"),
        ({"webhook": "ftp://example.com/x"}, "webhook: an http:// or https:// URL"),
        ({"webhook": "javascript:alert(1)"}, "webhook: an http:// or https:// URL"),
        ({"email": ["not-an-address"]}, "email: not an email address"),
        ({"threshold": "30"}, "threshold: a number"),
        ({"min_attempts": -1}, "min_attempts: a whole number, 0 or more"),
        ({"name": ""}, "name: 1 to 64 characters"),
        ({"name": "a/b"}, "name: 1 to 64 characters, no slash"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"scope": ["dest_number"], "customers": ["acme"]}, "customers: a dest_number rule watches every"),
        ({"threshold": 140}, "threshold: asr is a percent, 0 to 100, not 140"),
        ({"metric": "ner", "threshold": -1, "reset": 5}, "threshold: ner is a percent, 0 to 100, not -1"),
        ({"reset": 101}, "reset: asr is a percent, 0 to 100, not 101"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(change, message):
    with pytest.raises(ReportError, match=message):
        alert_rule_from({**GOOD, **change})


def test_a_rule_fires_past_the_threshold_and_resolves_only_back_past_the_reset():
    rule = alert_rule_from(GOOD)
    assert rule.fires(Decimal("29.99")) and not rule.fires(Decimal("30"))
    assert not rule.resolves(Decimal("44.99")) and rule.resolves(Decimal("45"))
    plain = alert_rule_from({**GOOD, "reset": None})
    assert plain.resolves(Decimal("30")) and not plain.resolves(Decimal("29.99"))
