"""Alert rules evaluated on the live windows at each minute step of the live clock.

A rule's keys are those with traffic in the slices kept (so a key whose traffic stopped is still
watched) and those firing. Only transitions come out: `ok -> firing` when the metric crosses the
threshold, `firing -> ok` when it is back past the reset threshold; a window with fewer than
`min_attempts` attempts, or a metric without a value (asr of no attempts), changes nothing. A
transition's id is made of what it is (rule, key, kind, minute), so one evaluated again after a
restart is the same transition and is not recorded or notified twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import orjson

from consumers.alerts.notify import Notifier
from consumers.alerts.rule import AlertRule
from consumers.alerts.store import AlertStore, Silence, Transition
from consumers.store import Warehouse
from pipeline.live.windows import LIVE_SUMS, MINUTE_MS, NUMBER, LiveWindows
from queries.live import COUNTS, live_metric

log = logging.getLogger(__name__)
NO_TRAFFIC = [0] * len(LIVE_SUMS)
KEY_FIELDS = ("scope", "customers", "providers", "metric", "op", "threshold", "window")


def alert_id(rule: str, key: dict[str, str], transition: str, minute: int, reason: str = "") -> str:
    text = orjson.dumps([rule, key, transition, minute, *([reason] if reason else [])])
    return hashlib.sha256(text).hexdigest()[:24]


def cleared(firing: list[Transition], reason: str, at: datetime) -> list[Transition]:
    """`resolved` transitions, at `at` (or just after the key fired, if later), of the keys whose
    latest transitions are `firing`, because their rule was removed or changed (`reason`)."""
    found = []
    for fired in firing:
        when = max(at, fired.at + timedelta(milliseconds=1))
        moment = int(when.timestamp() * 1000)
        found.append(dataclasses.replace(
            fired, alert_id=alert_id(fired.rule, fired.key, "resolved", moment, reason), transition="resolved",
            reason=reason, at=when, silenced=False,
        ))  # fmt: skip
    return found


def changes_keys(old: AlertRule, new: AlertRule) -> bool:
    """Whether replacing `old` by `new` changes which keys fire and why (not only who is told)."""
    return any(getattr(old, f) != getattr(new, f) for f in KEY_FIELDS)


def transitions_at(rule: AlertRule, windows: LiveWindows, minute: int, firing: set[tuple]) -> list[Transition]:
    """The rule's transitions at the minute step `minute`, given its keys `firing` before it."""
    if list(rule.scope) == [NUMBER]:  # only the numbers that can change state become rows
        column = COUNTS.get(rule.metric)
        sums_by_key = windows.number_window(rule.window, minute).candidates(
            rule.min_attempts, firing, column, rule.op == ">", float(rule.threshold)
        )
    else:
        sums_by_key = windows.window_sums(rule.scope, rule.window, minute, rule.customers, rule.providers)
    keys = set(sums_by_key) | firing
    if rule.min_attempts == 0:  # keys without traffic in the window can fire ("traffic stopped")
        keys |= windows.keys(rule.scope, minute, rule.customers, rule.providers)
    found = []
    for key in keys:
        sums = sums_by_key.get(key, NO_TRAFFIC)
        if sums[0] < rule.min_attempts:
            continue
        value = live_metric(sums, rule.metric)
        if value is None:
            continue
        if key in firing:
            if not rule.resolves(value):
                continue
            kind, reason = (
                "resolved",
                f"{rule.metric} {float(value):g} {'>=' if rule.op == '<' else '<='} {rule.resets_at:g}",
            )
        elif rule.fires(value):
            kind, reason = "fired", f"{rule.metric} {float(value):g} {rule.op} {rule.threshold:g}"
        else:
            continue
        named = dict(zip(rule.scope, key))
        found.append(
            Transition(
                alert_id(rule.name, named, kind, minute),
                rule.name,
                named,
                kind,
                rule.metric,
                float(value),
                float(rule.threshold),
                float(rule.resets_at),
                rule.window,
                sums[0],
                datetime.fromtimestamp(minute * MINUTE_MS / 1000, timezone.utc),
                rule.email,
                rule.webhook,
                reason,
            )  # fmt: skip
        )
    return found


class Alerting:
    """The rules' keys' states, and what happens at a minute step: the transitions are recorded in
    `alert_events` (retried until stored: the live clock waits), then notified in the background,
    but for those inside a silence."""

    RULES_FRESH_FOR = 2.0  # seconds; a rule saved on another worker is seen within this

    def __init__(
        self, store: AlertStore, warehouse: Warehouse, notifier: Notifier, count: Callable[[int], None]
    ) -> None:
        self.store = store
        self.warehouse = warehouse
        self.notifier = notifier
        self.count = count
        self.firing: dict[str, set[tuple]] | None = None  # per rule, its firing keys (from alert_events at first)
        self._rules: list[AlertRule] | None = None
        self._rules_read_at = 0.0
        self._windows: LiveWindows | None = None  # the windows `firing` belongs to

    def rules_changed(self) -> None:
        self._rules = None

    async def rules(self) -> list[AlertRule]:
        if self._rules is None or time.monotonic() - self._rules_read_at > self.RULES_FRESH_FOR:
            rules = await self.warehouse.read(self.store.all_rules)
            before = {r.name: r for r in self._rules or []}
            if any(r.name not in before or changes_keys(before[r.name], r) for r in rules) or len(rules) < len(before):
                # a rule removed or changed (here or on another worker) had its firing keys resolved
                # in alert_events: the firing keys are read again from there
                self.firing = None
            self._rules, self._rules_read_at = rules, time.monotonic()
        return self._rules

    async def at_minute_step(self, windows: LiveWindows, minute: int) -> None:
        rules = await self.rules()
        if self.firing is None or windows is not self._windows:  # first, or the live partition came back
            self._windows = windows
            firing: dict[str, set[tuple]] = {}
            for transition in await self.warehouse.read(self.store.firing):
                firing.setdefault(transition.rule, set()).add(tuple(transition.key.values()))
            self.firing = firing
        found = []
        for rule in rules:
            found += transitions_at(rule, windows, minute, self.firing.setdefault(rule.name, set()))
        if not found:
            return
        now = datetime.now(timezone.utc)
        silences = await self.warehouse.read(lambda: self.store.silences(now))
        found = [dataclasses.replace(t, silenced=True) if silenced(t, silences, now) else t for t in found]
        new = await self.store_and_notify(found)
        for transition in found:
            keys = self.firing[transition.rule]
            key = tuple(transition.key.values())
            if transition.transition == "fired":
                keys.add(key)
            else:
                keys.discard(key)
        self.notifier.notify_step([t for t in new if not t.silenced])
        self.count(len(new))

    def cleared(self, transitions: list[Transition]) -> None:
        """Transitions recorded by a rule's removal or change on this worker: no longer firing here,
        and notified now."""
        for transition in transitions:
            if self.firing is not None:
                self.firing.get(transition.rule, set()).discard(tuple(transition.key.values()))
        self.rules_changed()
        self.notifier.notify_step(transitions)

    async def notify_ended_silences(self) -> None:
        """Notify, once, the keys still firing whose `fired` came inside a silence that has ended."""
        pending = await self.warehouse.read(self.store.silenced_firing)
        if not pending:
            return
        now = datetime.now(timezone.utc)
        silences = await self.warehouse.read(lambda: self.store.silences(now))
        due = {t.alert_id: t for t, _channel, _failures in pending if not silenced(t, silences, now)}
        self.notifier.notify_step(list(due.values()))

    async def store_and_notify(self, transitions: list[Transition]) -> list[Transition]:
        """Store the transitions not stored yet (all of them but after a restart); those it stored."""
        delay = 0.5
        while True:
            try:
                known = await self.warehouse.read(lambda: self.store.known([t.alert_id for t in transitions]))
                new = [t for t in transitions if t.alert_id not in known]
                if new:
                    await self.warehouse.write(lambda: self.store.insert_transitions(new))
                return new
            except Exception as error:  # the warehouse is down: the live clock waits for it
                log.warning("alert transitions not recorded, retrying in %.1f s: %s", delay, error)
                await asyncio.sleep(delay)
                delay = min(2 * delay, 10.0)


def silenced(transition: Transition, silences: list[Silence], now: datetime) -> bool:
    return any(silence.covers(transition, now) for silence in silences)
