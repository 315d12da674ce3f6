"""What `cdrflow alert` and /api/alert-rules, /api/alerts do, over a warehouse reached through `warehouse`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from consumers.alerts.rule import alert_rule_from, rule_fields
from consumers.alerts.store import AlertStore
from consumers.alerts.webhook import WebhookPolicy, WebhookRefused
from consumers.store import Warehouse
from queries.errors import ReportError
from queries.times import parse_moment

HISTORY_PARAMETERS = {"rule", "from", "to"}


class AlertService:
    def __init__(
        self, store: AlertStore, warehouse: Warehouse, rules_changed: Callable[[], None] = lambda: None,
        webhooks: WebhookPolicy = WebhookPolicy(),
    ) -> None:  # fmt: skip
        self.store = store
        self.warehouse = warehouse
        self.rules_changed = rules_changed
        self.webhooks = webhooks

    async def add(self, fields: Mapping[str, object]) -> dict:
        rule = alert_rule_from(fields)
        if rule.webhook:
            try:
                await self.webhooks.resolve(rule.webhook)
            except WebhookRefused as error:
                raise ReportError(f"webhook: {error}") from None
        await self.warehouse.write(lambda: self.store.save_rule(rule))
        self.rules_changed()
        return rule_fields(rule)

    async def list(self) -> list[dict]:
        return [rule_fields(rule) for rule in await self.warehouse.read(self.store.all_rules)]

    async def remove(self, name: str) -> bool:
        removed = await self.warehouse.write(lambda: self.store.rules.remove(name))
        self.rules_changed()
        return removed

    async def firing(self) -> list[dict]:
        """The keys firing now: their latest transition."""
        return [t.body() for t in await self.warehouse.read(self.store.firing)]

    async def history(self, params: Mapping[str, Sequence[str]]) -> list[dict]:
        """Transitions, newest first: `rule`, and `from`/`to` (RFC 3339) of the live clock, each optional."""
        unknown = sorted(set(params) - HISTORY_PARAMETERS)
        if unknown:
            raise ReportError(f"unknown parameter {unknown[0]!r} for the alert history")
        one = {name: values[-1] for name, values in params.items() if values}
        start = parse_moment("from", one["from"]) if "from" in one else None
        end = parse_moment("to", one["to"]) if "to" in one else None
        found = await self.warehouse.read(lambda: self.store.history(one.get("rule"), start, end))
        return [t.body() for t in found]
