"""Schedules and their run log in ClickHouse (deploy/clickhouse/003_schedules.sql)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

from consumers.schedules.schedule import Schedule
from consumers.store import SavedTable
from queries.errors import ReportError

FIELDS = (
    "name",
    "email",
    "report",
    "every",
    "tz",
    "groups",
    "customers",
    "providers",
    "columns",
    "format",
    "skip_empty",
)
RUN_FIELDS = (
    "schedule",
    "period_start",
    "period_end",
    "attempt",
    "status",
    "started",
    "finished",
    "rows",
    "error",
    "message_id",
    "claim",
    "complete_until",
)
DONE = ("sending", "sent", "skipped")
STATUS_RANK = "multiIf(schedule_runs.status = 'running', 1, schedule_runs.status = 'sending', 2, 3)"  # the order an attempt goes through


@dataclass(frozen=True)
class BrokenSchedule:
    name: str
    every: str
    tz: str
    error: str


class ScheduleStore:
    """Over the warehouse client `connected()` returns (the worker's own, connected on first use)."""

    def __init__(self, connected: Callable[[], Client]) -> None:
        self.connected = connected
        self.saved = SavedTable(connected, "schedules", FIELDS)

    @property
    def client(self) -> Client:
        return self.connected()

    def save(self, schedule: Schedule) -> None:
        self.saved.save({f: getattr(schedule, f) for f in FIELDS} | {"skip_empty": int(schedule.skip_empty)})

    def remove(self, name: str) -> bool:
        return self.saved.remove(name)

    def all(self) -> list[Schedule]:
        return self.read_all()[0]

    def read_all(self) -> tuple[list[Schedule], list[BrokenSchedule]]:
        """The stored schedules, and those that no longer make a valid report (stored by hand, or
        by a version that allowed what this one refuses)."""
        schedules, broken = [], []
        for row in self.saved.rows():
            try:
                schedules.append(_schedule(row))
            except ReportError as error:
                broken.append(BrokenSchedule(row["name"], row["every"], row["tz"], str(error)))
        return schedules, broken

    def get(self, name: str) -> Schedule | None:
        return next((s for s in self.all() if s.name == name), None)

    def first_saved(self) -> dict[str, datetime]:
        """When each schedule name was first saved (aware, UTC)."""
        result = self.client.query("SELECT name, min(updated_at) FROM schedules GROUP BY name")
        return {name: at.replace(tzinfo=timezone.utc) for name, at in result.result_rows}

    def attempts_since(self, name: str, period_start: datetime) -> dict[datetime, list[dict]]:
        """Every row logged for the periods beginning at or after `period_start`, by period (UTC)."""
        fields = [*RUN_FIELDS, "claimed_at"]
        result = self.client.query(
            f"SELECT {', '.join(fields)} FROM schedule_runs WHERE schedule = {{n:String}} "
            "AND period_start >= {p:DateTime64(3, 'UTC')} ORDER BY claimed_at, attempt",
            parameters={"n": name, "p": period_start.astimezone(timezone.utc)},
        )
        found: dict[datetime, list[dict]] = {}
        for row in result.result_rows:
            attempt = dict(zip(fields, row))
            found.setdefault(attempt["period_start"].replace(tzinfo=timezone.utc), []).append(attempt)
        return found

    def attempts(self, name: str, period_start: datetime) -> list[dict]:
        """Every row logged for the period, with `claimed_at`: when the warehouse stored it."""
        fields = [*RUN_FIELDS, "claimed_at"]
        result = self.client.query(
            f"SELECT {', '.join(fields)} FROM schedule_runs WHERE schedule = {{n:String}} "
            "AND period_start = {p:DateTime64(3, 'UTC')} ORDER BY claimed_at, attempt",
            parameters={"n": name, "p": period_start.astimezone(timezone.utc)},
        )
        return [dict(zip(fields, row)) for row in result.result_rows]

    def log(self, name: str | None = None, limit: int = 100) -> list[dict]:
        """One row per attempt, newest first, with the attempt's latest status."""
        where = "WHERE schedule = {n:String} " if name else ""
        latest = ", ".join(
            f"argMax({f}, {STATUS_RANK}) AS {f}"
            for f in ("status", "finished", "rows", "error", "message_id", "complete_until")
        )
        result = self.client.query(
            f"SELECT schedule, period_start, period_end, attempt, min(started) AS started, {latest} FROM schedule_runs "
            f"{where}GROUP BY schedule, period_start, period_end, attempt, claim ORDER BY started DESC, attempt DESC "
            "LIMIT {limit:UInt32}",
            parameters={"n": name or "", "limit": limit},
        )
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def insert_run(self, run: dict) -> None:
        values = {**run, "period_start": run["period_start"].astimezone(timezone.utc),
                  "period_end": run["period_end"].astimezone(timezone.utc)}  # fmt: skip
        if values.get("complete_until") is not None:
            values["complete_until"] = values["complete_until"].astimezone(timezone.utc)
        self.client.insert("schedule_runs", [[values.get(f) for f in RUN_FIELDS]], column_names=list(RUN_FIELDS))


def _schedule(row: dict) -> Schedule:
    return Schedule(
        name=row["name"], email=tuple(row["email"]), report=row["report"], every=row["every"], tz=row["tz"],
        groups=tuple(row["groups"]), customers=tuple(row["customers"]), providers=tuple(row["providers"]),
        columns=tuple(row["columns"]), format=row["format"], skip_empty=bool(row["skip_empty"]),
    )  # fmt: skip
