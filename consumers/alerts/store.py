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
                "attempts", "at", "email", "webhook", "reason", "silenced")  # fmt: skip
SILENCE_FIELDS = ("id", "rule", "key", "starts", "ends", "reason")


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
    reason: str = ""  # "asr 12.5 < 30", "rule removed", "rule changed"
    silenced: bool = False  # inside a silence: stored, not notified

    def body(self) -> dict[str, object]:
        """The webhook's JSON object."""
        return {
            "alert_id": self.alert_id, "rule": self.rule, "key": self.key, "transition": self.transition,
            "reason": self.reason, "metric": self.metric, "value": self.value, "threshold": self.threshold,
            "reset": self.reset, "window": self.window, "attempts": self.attempts,
            "at": self.at.isoformat(timespec="milliseconds"),
        }  # fmt: skip

    def history_row(self) -> dict[str, object]:
        return {**self.body(), "silenced": self.silenced}

    @property
    def channels(self) -> list[str]:
        return [c for c, wanted in (("email", self.email), ("webhook", self.webhook)) if wanted]


@dataclass(frozen=True)
class Silence:
    """A maintenance window: the transitions of `rule`'s keys matching `key` between `starts` and
    `ends` (wall clock) are stored, not notified."""

    id: str
    rule: str
    key: dict[str, str]
    starts: datetime
    ends: datetime
    reason: str

    def covers(self, transition: Transition, now: datetime) -> bool:
        return (
            transition.rule == self.rule
            and self.starts <= now < self.ends
            and all(transition.key.get(d) == v for d, v in self.key.items())
        )

    def fields(self) -> dict[str, object]:
        return {
            "id": self.id, "rule": self.rule, "key": self.key, "reason": self.reason,
            "starts": self.starts.isoformat(timespec="seconds"), "ends": self.ends.isoformat(timespec="seconds"),
        }  # fmt: skip


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

    def firing(self, rule: str | None = None) -> list[Transition]:
        """The latest transition of every (rule, key) whose latest is 'fired': of the rules that exist,
        or of `rule`, removed or not."""
        of_rules = (
            "rule = {rule:String}" if rule is not None
            else "rule IN (SELECT name FROM alert_rules FINAL WHERE deleted = 0)"
        )  # fmt: skip
        result = self.connected().query(
            f"SELECT {', '.join(EVENT_FIELDS)} FROM alert_events FINAL WHERE transition = 'fired' AND {of_rules} "
            "AND (rule, key, at) IN (SELECT rule, key, max(at) FROM alert_events GROUP BY rule, key) "
            "ORDER BY at DESC, rule, key",
            parameters={"rule": rule or ""},
        )
        return [_transition(dict(zip(EVENT_FIELDS, row))) for row in result.result_rows]

    def silenced_firing(self) -> list[tuple[Transition, str, int]]:
        """(transition, channel, failed attempts so far) of the keys whose latest transition is a
        'fired' inside a silence, for every channel not yet sent or given up."""
        return self._pending([t for t in self.firing() if t.silenced])

    def unnotified(self, since: datetime) -> list[tuple[Transition, str, int]]:
        """(transition, channel, failed attempts so far) for every channel of a transition recorded at
        or after `since` that was neither sent nor given up."""
        result = self.connected().query(
            f"SELECT {', '.join(EVENT_FIELDS)} FROM alert_events FINAL WHERE recorded_at >= {{since:DateTime64(3, 'UTC')}} "
            "AND NOT silenced ORDER BY at",
            parameters={"since": since},
        )
        return self._pending([_transition(dict(zip(EVENT_FIELDS, row))) for row in result.result_rows])

    def _pending(self, events: list[Transition]) -> list[tuple[Transition, str, int]]:
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

    def save_silence(self, silence: Silence) -> None:
        row = {**silence.fields(), "key": orjson.dumps(silence.key).decode(), "starts": silence.starts,
               "ends": silence.ends}  # fmt: skip
        self.connected().insert("alert_silences", [[row[f] for f in SILENCE_FIELDS]], column_names=list(SILENCE_FIELDS))

    def silences(self, now: datetime) -> list[Silence]:
        """The silences not ended at `now` (under way or to come), soonest end first."""
        result = self.connected().query(
            f"SELECT {', '.join(SILENCE_FIELDS)} FROM alert_silences FINAL WHERE deleted = 0 "
            "AND ends > {now:DateTime64(3, 'UTC')} ORDER BY ends, id",
            parameters={"now": now},
        )
        return [
            Silence(**{**row, "key": orjson.loads(row["key"]), "starts": row["starts"].replace(tzinfo=timezone.utc),
                       "ends": row["ends"].replace(tzinfo=timezone.utc)})
            for row in (dict(zip(SILENCE_FIELDS, values)) for values in result.result_rows)
        ]  # fmt: skip

    def end_silence(self, silence_id: str, now: datetime) -> bool:
        """Whether a silence `silence_id` was under way or to come."""
        if not any(s.id == silence_id for s in self.silences(now)):
            return False
        self.connected().insert("alert_silences", [[silence_id, 1]], column_names=["id", "deleted"])
        return True
