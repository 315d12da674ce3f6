"""Evaluation at a minute step: transitions only, the reset threshold, min_attempts, traffic stopped."""

from __future__ import annotations

from consumers.alerts.evaluate import transitions_at
from consumers.alerts.rule import alert_rule_from
from pipeline.live.windows import LIVE_SUMS, LiveWindows

ASR_RULE = {"name": "asr", "scope": ["provider"], "metric": "asr", "op": "<", "threshold": 30, "reset": 45,
            "window": 5, "min_attempts": 10}  # fmt: skip


def windows_with(traffic: dict[int, dict[str, tuple[int, int]]]) -> LiveWindows:
    """minute -> provider -> (attempts, connected)."""
    windows = LiveWindows(0)
    for minute, providers in sorted(traffic.items()):
        rows = []
        for provider, (attempts, connected) in providers.items():
            sums = [0] * len(LIVE_SUMS)
            sums[0], sums[1] = attempts, connected
            rows.append(["acme", provider, "UK", "UK", "sw1", *sums])
        windows.apply_minute(minute, minute * 60_000 + 59_999, rows, [])
    return windows


def kinds(rule, windows, minute, firing) -> list[tuple]:
    return [(t.key["provider"], t.transition, t.value) for t in transitions_at(rule, windows, minute, firing)]


def test_a_key_fires_once_and_resolves_only_past_the_reset():
    rule = alert_rule_from(ASR_RULE)
    windows = windows_with({m: {"bad": (10, 2 if m < 10 else 4 if m < 15 else 5), "good": (10, 6)} for m in range(20)})
    assert kinds(rule, windows, 5, set()) == [("bad", "fired", 20.0)]
    assert kinds(rule, windows, 6, {("bad",)}) == []  # still bad: nothing new
    assert kinds(rule, windows, 15, {("bad",)}) == []  # asr 40: better, not past the reset 45
    assert kinds(rule, windows, 20, {("bad",)}) == [("bad", "resolved", 50.0)]


def test_a_window_under_min_attempts_neither_fires_nor_resolves():
    rule = alert_rule_from(ASR_RULE)
    windows = windows_with({m: {"tiny": (1, 0)} for m in range(10)})
    assert kinds(rule, windows, 5, set()) == []  # 5 attempts < 10
    assert kinds(rule, windows, 5, {("tiny",)}) == []


def test_traffic_that_stopped_fires_an_attempts_below_one_rule():
    rule = alert_rule_from({**ASR_RULE, "metric": "attempts", "threshold": 1, "reset": None, "min_attempts": 0})
    windows = windows_with({m: {"quiet": (3, 1)} for m in range(10)})
    assert kinds(rule, windows, 10, set()) == []
    assert kinds(rule, windows, 16, set()) == [("quiet", "fired", 0.0)]  # nothing in minutes 11-15
    assert kinds(rule, windows, 0, set()) == []  # a key whose traffic has not begun is not watched yet


def test_an_alert_id_names_the_transition_so_an_evaluation_again_gives_the_same():
    rule = alert_rule_from(ASR_RULE)
    windows = windows_with({m: {"bad": (10, 0)} for m in range(6)})
    first, again = transitions_at(rule, windows, 5, set()), transitions_at(rule, windows, 5, set())
    assert [t.alert_id for t in first] == [t.alert_id for t in again] and len(first) == 1
    assert transitions_at(rule, windows, 6, set())[0].alert_id != first[0].alert_id
