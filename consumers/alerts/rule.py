"""An alert rule: one live metric over a window, watched for every key of its scope (live-and-alerts.md).

A key fires when `metric op threshold` and resolves only once the metric is back past `reset`;
both need at least `min_attempts` attempts in the window.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal

from consumers.mail.smtp import BadRecipient, check_recipients
from pipeline.live.windows import NUMBER
from queries.errors import ReportError
from queries.live import LIVE_COLUMNS, check_group, check_window

OPS = ("<", ">")
PERCENT_METRICS = frozenset(("asr", "ner", "short_calls_percent"))
LIST_FIELDS = ("scope", "customers", "providers", "email")
FIELDS = ("name", "scope", "customers", "providers", "metric", "op", "threshold", "reset", "window",
          "min_attempts", "email", "webhook")  # fmt: skip


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportError(f"{name}: a number, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: str
    op: str
    threshold: float
    window: int
    scope: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    reset: float | None = None  # None: the threshold
    min_attempts: int = 1
    email: tuple[str, ...] = ()
    webhook: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.name) <= 64 or any(c in self.name for c in "/\r\n\t") or self.name != self.name.strip():
            raise ReportError("name: 1 to 64 characters, no slash or line break")
        check_group(self.scope, "scope")
        if list(self.scope) == [NUMBER] and (self.customers or self.providers):
            raise ReportError(f"{'customers' if self.customers else 'providers'}: a {NUMBER} rule watches every "
                              "customer's and provider's traffic to the number")  # fmt: skip
        if self.metric not in LIVE_COLUMNS:
            raise ReportError(f"metric: one of {', '.join(LIVE_COLUMNS)}, not {self.metric!r}")
        if self.op not in OPS:
            raise ReportError(f"op: < or >, not {self.op!r}")
        _number("threshold", self.threshold)
        if self.reset is not None:
            _number("reset", self.reset)
        for name, value in (("threshold", self.threshold), ("reset", self.reset)):
            if self.metric in PERCENT_METRICS and value is not None and not 0 <= value <= 100:
                raise ReportError(f"{name}: {self.metric} is a percent, 0 to 100, not {value:g}")
        if self.reset is not None:
            if (self.op == "<" and self.reset < self.threshold) or (self.op == ">" and self.reset > self.threshold):
                side = "at or above" if self.op == "<" else "at or below"
                raise ReportError(f"reset: {side} the threshold {self.threshold:g} for a rule that fires "
                                  f"when {self.metric} {self.op} {self.threshold:g}, not {self.reset:g}")  # fmt: skip
        check_window(self.window)
        if isinstance(self.min_attempts, bool) or not isinstance(self.min_attempts, int) or self.min_attempts < 0:
            raise ReportError(f"min_attempts: a whole number, 0 or more, not {self.min_attempts!r}")
        try:
            if self.email:
                check_recipients(list(self.email))
        except BadRecipient as error:
            raise ReportError(f"email: {error}") from None
        if self.webhook:
            url = urllib.parse.urlsplit(self.webhook)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ReportError(f"webhook: an http:// or https:// URL, not {self.webhook!r}")

    @property
    def resets_at(self) -> float:
        return self.threshold if self.reset is None else self.reset

    def fires(self, value: Decimal | int) -> bool:
        return value < self.threshold if self.op == "<" else value > self.threshold

    def resolves(self, value: Decimal | int) -> bool:
        """Back past the reset threshold (asr < 30 with reset 45 resolves at asr >= 45)."""
        return value >= self.resets_at if self.op == "<" else value <= self.resets_at

    def describe_key(self, key: tuple) -> str:
        return ", ".join(f"{d}={v}" for d, v in zip(self.scope, key)) if self.scope else "all traffic"


def alert_rule_from(fields: Mapping[str, object]) -> AlertRule:
    """A rule from JSON-like fields named as in the contract; lists for scope, filters and email."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ReportError(f"unknown field {unknown[0]!r}")
    missing = [f for f in ("name", "metric", "op", "threshold", "window") if f not in fields]
    if missing:
        raise ReportError(f"{missing[0]}: required")
    values = dict(fields)
    for name in LIST_FIELDS:
        value = values.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ReportError(f"{name}: a list of strings")
        values[name] = tuple(value)
    for name in ("name", "metric", "op", "webhook"):
        if name in values and not isinstance(values[name], str):
            raise ReportError(f"{name}: a string")
    if values.get("webhook") is None:
        values["webhook"] = ""
    return AlertRule(**values)  # type: ignore[arg-type]


def rule_fields(rule: AlertRule) -> dict[str, object]:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(rule).items()}
