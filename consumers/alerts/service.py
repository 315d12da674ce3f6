"""What `cdrflow alert` and /api/alert-rules, /api/alerts do, over a warehouse reached through `warehouse`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

from consumers.alerts.evaluate import changes_keys, cleared
from consumers.alerts.rule import AlertRule, alert_rule_from, rule_fields
from consumers.alerts.store import AlertStore, Silence, Transition
from consumers.alerts.webhook import WebhookPolicy, WebhookRefused
from consumers.store import Warehouse
from queries.errors import ReportError
from queries.times import parse_moment

HISTORY_PARAMETERS = {"rule", "from", "to"}
SILENCE_FIELDS = {"rule", "key", "for", "until", "reason"}
DURATION = re.compile(r"(\d+)([mhd])")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}
LONGEST_SILENCE = timedelta(days=90)


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def parse_duration(text: str) -> timedelta:
    """`30m`, `2h`, `1d`: the ReportError names `for`."""
    found = DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not found or not int(found[1]):
        raise ReportError(f"for: a duration such as 30m, 2h or 1d, not {text!r}")
    return timedelta(**{UNITS[found[2]]: int(found[1])})


class AlertService:
    """Rules, their transitions and silences. Removing a rule, or changing which keys it fires for,
    resolves its firing keys (`rule removed`, `rule changed`) at `clock()` (the live clock where it
    is kept); `cleared` takes those transitions where they are notified from."""

    def __init__(
        self, store: AlertStore, warehouse: Warehouse, rules_changed: Callable[[], None] = lambda: None,
        webhooks: WebhookPolicy = WebhookPolicy(), clock: Callable[[], datetime] = wall_clock,
        cleared: Callable[[list[Transition]], None] = lambda transitions: None,
    ) -> None:  # fmt: skip
        self.store = store
        self.warehouse = warehouse
        self.rules_changed = rules_changed
        self.webhooks = webhooks
        self.clock = clock
        self.cleared = cleared

    async def add(self, fields: Mapping[str, object]) -> dict:
        rule = alert_rule_from(fields)
        if rule.webhook:
            try:
                await self.webhooks.resolve(rule.webhook)
            except WebhookRefused as error:
                raise ReportError(f"webhook: {error}") from None
        before = await self.rule(rule.name)
        await self.warehouse.write(lambda: self.store.save_rule(rule))
        self.rules_changed()
        if before is not None and changes_keys(before, rule):
            await self.clear(rule.name, "rule changed")
        return rule_fields(rule)

    async def rule(self, name: str) -> AlertRule | None:
        return next((r for r in await self.warehouse.read(self.store.all_rules) if r.name == name), None)

    async def list(self) -> list[dict]:
        return [rule_fields(rule) for rule in await self.warehouse.read(self.store.all_rules)]

    async def remove(self, name: str) -> bool:
        removed = await self.warehouse.write(lambda: self.store.rules.remove(name))
        self.rules_changed()
        if removed:
            await self.clear(name, "rule removed")
        return removed

    async def clear(self, name: str, reason: str) -> None:
        firing = await self.warehouse.read(lambda: self.store.firing(name))
        if not firing:
            return
        transitions = cleared(firing, reason, self.clock())
        await self.warehouse.write(lambda: self.store.insert_transitions(transitions))
        self.cleared(transitions)

    async def firing(self) -> list[dict]:
        """The keys firing now, of the rules that exist: their latest transition."""
        return [t.history_row() for t in await self.warehouse.read(self.store.firing)]

    async def silence(self, fields: Mapping[str, object]) -> dict:
        """A new silence from `rule`, `key` ({dimension: value}, optional), `for` (30m, 2h, 1d) or
        `until` (RFC 3339), and `reason`; refused naming the field."""
        unknown = sorted(set(fields) - SILENCE_FIELDS)
        if unknown:
            raise ReportError(f"unknown field {unknown[0]!r}")
        name, key, reason = fields.get("rule"), fields.get("key") or {}, fields.get("reason")
        if not isinstance(name, str) or not name:
            raise ReportError("rule: required, the name of a rule")
        rule = await self.rule(name)
        if rule is None:
            raise ReportError(f"rule: no alert rule named {name!r}")
        if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
            raise ReportError("key: an object of dimension: value")
        outside = sorted(set(key) - set(rule.scope))
        if outside:
            raise ReportError(
                f"key: {outside[0]!r} is not in the scope of {name!r} ({', '.join(rule.scope) or 'none'})"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise ReportError("reason: required, a few words on why")
        if ("for" in fields) == ("until" in fields):
            raise ReportError("for: give either for (30m, 2h, 1d) or until (an RFC 3339 time)")
        starts = wall_clock()
        if "for" in fields:
            ends = starts + parse_duration(fields["for"])  # type: ignore[arg-type]
        else:
            until = fields["until"]
            ends = parse_moment("until", until if isinstance(until, str) else repr(until))
        if not starts < ends <= starts + LONGEST_SILENCE:
            raise ReportError(f"until: after now and within {LONGEST_SILENCE.days} days, not {ends.isoformat()}")
        silence = Silence(secrets.token_hex(4), name, dict(key), starts, ends.astimezone(timezone.utc), reason.strip())
        await self.warehouse.write(lambda: self.store.save_silence(silence))
        return silence.fields()

    async def silences(self) -> list[dict]:
        """The silences under way, soonest end first."""
        now = wall_clock()
        return [s.fields() for s in await self.warehouse.read(lambda: self.store.silences(now))]

    async def unsilence(self, silence_id: str) -> bool:
        now = wall_clock()
        return await self.warehouse.write(lambda: self.store.end_silence(silence_id, now))

    async def history(self, params: Mapping[str, Sequence[str]]) -> list[dict]:
        """Transitions, newest first: `rule`, and `from`/`to` (RFC 3339) of the live clock, each optional."""
        unknown = sorted(set(params) - HISTORY_PARAMETERS)
        if unknown:
            raise ReportError(f"unknown parameter {unknown[0]!r} for the alert history")
        one = {name: values[-1] for name, values in params.items() if values}
        start = parse_moment("from", one["from"]) if "from" in one else None
        end = parse_moment("to", one["to"]) if "to" in one else None
        found = await self.warehouse.read(lambda: self.store.history(one.get("rule"), start, end))
        if not found and "rule" in one and await self.rule(one["rule"]) is None:
            raise ReportError(f"rule: no alert rule named {one['rule']!r} (and no history of one)")
        return [t.history_row() for t in found]
