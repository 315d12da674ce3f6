"""Alert rules, their transitions and notifications in ClickHouse (deploy/clickhouse/007_alerts.sql)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
from clickhouse_connect.driver.client import Client

from consumers.alerts.rule import FIELDS, AlertRule
from consumers.store import SavedTable

EVENT_FIELDS = ("alert_id", "rule", "key", "transition", "metric", "value", "threshold", "reset", "window",
                "attempts", "at", "email", "webhook")  # fmt: skip


@dataclass(frozen=True)
class Transition:
    """A key of a rule going `ok -> firing` ("fired") or back ("resolved") at a minute step."""

    alert_id: str
    rule: str
    key: dict[str, str]
    transition: str
    metric: str
    value: float
    threshold: float
    reset: float
    window: int
    attempts: int
    at: datetime
    email: tuple[str, ...] = ()
    webhook: str = ""

    def body(self) -> dict[str, object]:
        """The webhook's JSON object."""
        return {
            "alert_id": self.alert_id, "rule": self.rule, "key": self.key, "transition": self.transition,
            "metric": self.metric, "value": self.value, "threshold": self.threshold, "reset": self.reset,
            "window": self.window, "attempts": self.attempts, "at": self.at.isoformat(timespec="milliseconds"),
        }  # fmt: skip

    @property
    def channels(self) -> list[str]:
        return [c for c, wanted in (("email", self.email), ("webhook", self.webhook)) if wanted]


def _transition(row: dict) -> Transition:
    at = row["at"].replace(tzinfo=timezone.utc)
    return Transition(**{**row, "key": orjson.loads(row["key"]), "at": at, "email": tuple(row["email"])})


class AlertStore:
    """Over the warehouse client `connected()` returns (the worker's own, connected on first use)."""

    def __init__(self, connected: Callable[[], Client]) -> None:
        self.connected = connected
        self.rules = SavedTable(connected, "alert_rules", FIELDS)

    def save_rule(self, rule: AlertRule) -> None:
        self.rules.save({f: getattr(rule, f) for f in FIELDS})

    def all_rules(self) -> list[AlertRule]:
        return [
            AlertRule(**{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()})
            for row in self.rules.rows()
        ]

    def known(self, alert_ids: list[str]) -> set[str]:
        """Which of these transitions are stored already."""
        result = self.connected().query(
            "SELECT alert_id FROM alert_events WHERE alert_id IN {ids:Array(String)}", parameters={"ids": alert_ids}
        )
        return {row[0] for row in result.result_rows}

    def insert_transitions(self, transitions: list[Transition]) -> None:
        # JSON rows (here and for notifications): the client's typed insert imports pandas the first
        # time it runs, which held the warehouse thread for half a second at a worker's first transition
        rows = b"\n".join(
            orjson.dumps({
                **{f: getattr(t, f) for f in EVENT_FIELDS}, "key": orjson.dumps(t.key).decode(),
                "at": t.at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "email": list(t.email),
            })
            for t in transitions
        )  # fmt: skip
        self.connected().raw_insert("alert_events", list(EVENT_FIELDS), insert_block=rows, fmt="JSONEachRow")

    def history(
        self, rule: str | None, start: datetime | None, end: datetime | None, limit: int = 1000
    ) -> list[Transition]:
        """Transitions, newest first."""
        result = self.connected().query(
            f"SELECT {', '.join(EVENT_FIELDS)} FROM alert_events FINAL WHERE ({{rule:String}} = '' OR rule = {{rule:String}}) "
            "AND at >= {start:DateTime64(3, 'UTC')} AND at < {end:DateTime64(3, 'UTC')} ORDER BY at DESC, rule, key "
            "LIMIT {limit:UInt32}",
            parameters={
                "rule": rule or "",
                "start": start or datetime(1970, 1, 1, tzinfo=timezone.utc),
                "end": end or datetime(2200, 1, 1, tzinfo=timezone.utc),
                "limit": limit,
            },  # fmt: skip
        )
        return [_transition(dict(zip(EVENT_FIELDS, row))) for row in result.result_rows]

    def firing(self) -> list[Transition]:
        """The latest transition of every (rule, key) whose latest is 'fired'."""
        result = self.connected().query(
            f"SELECT {', '.join(EVENT_FIELDS)} FROM alert_events FINAL WHERE transition = 'fired' "
            "AND (rule, key, at) IN (SELECT rule, key, max(at) FROM alert_events GROUP BY rule, key) "
            "ORDER BY at DESC, rule, key"
        )
        return [_transition(dict(zip(EVENT_FIELDS, row))) for row in result.result_rows]

    def unnotified(self, since: datetime) -> list[tuple[Transition, str, int]]:
        """(transition, channel, failed attempts so far) for every channel of a transition recorded at
        or after `since` that was neither sent nor given up."""
        result = self.connected().query(
            f"SELECT {', '.join(EVENT_FIELDS)} FROM alert_events FINAL WHERE recorded_at >= {{since:DateTime64(3, 'UTC')}} "
            "ORDER BY at",
            parameters={"since": since},
        )
        events = [_transition(dict(zip(EVENT_FIELDS, row))) for row in result.result_rows]
        if not events:
            return []
        result = self.connected().query(
            "SELECT alert_id, toString(channel), groupArray(toString(status)) FROM alert_notifications "
            "WHERE alert_id IN {ids:Array(String)} GROUP BY alert_id, channel",
            parameters={"ids": [e.alert_id for e in events]},
        )
        statuses = {(alert_id, channel): set_of for alert_id, channel, set_of in result.result_rows}
        pending = []
        for event in events:
            for channel in event.channels:
                done = statuses.get((event.alert_id, channel), [])
                if "sent" not in done and "given_up" not in done:
                    pending.append((event, channel, done.count("failed")))
        return pending

    def insert_notification(self, alert_id: str, channel: str, status: str, attempt: int, error: str = "") -> None:
        self.insert_notifications([(alert_id, channel, status, attempt, error)])

    def insert_notifications(self, outcomes: list[tuple[str, str, str, int, str]]) -> None:
        """(alert_id, channel, status, attempt, error) of deliveries, in one insert."""
        names = ("alert_id", "channel", "status", "attempt", "error")
        block = b"\n".join(orjson.dumps(dict(zip(names, (*row[:4], row[4][:2000])))) for row in outcomes)
        self.connected().raw_insert("alert_notifications", list(names), insert_block=block, fmt="JSONEachRow")
