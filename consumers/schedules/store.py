"""Schedules and their run log in ClickHouse (deploy/clickhouse/003_schedules.sql)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

from consumers.schedules.schedule import Schedule

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
)
DONE = ("sending", "sent", "skipped")
STATUS_RANK = "multiIf(schedule_runs.status = 'running', 1, schedule_runs.status = 'sending', 2, 3)"  # the order an attempt goes through


class ScheduleStore:
    """Over the warehouse client `connected()` returns (the worker's own, connected on first use)."""

    def __init__(self, connected: Callable[[], Client]) -> None:
        self.connected = connected

    @property
    def client(self) -> Client:
        return self.connected()

    def save(self, schedule: Schedule) -> None:
        row = [getattr(schedule, f) for f in FIELDS]
        row = [list(v) if isinstance(v, tuple) else v for v in row]
        row[FIELDS.index("skip_empty")] = int(schedule.skip_empty)
        self.client.insert("schedules", [row], column_names=list(FIELDS))

    def remove(self, name: str) -> bool:
        schedule = self.get(name)
        if schedule is None:
            return False
        self.client.insert("schedules", [[name, 1]], column_names=["name", "deleted"])
        return True

    def all(self) -> list[Schedule]:
        result = self.client.query(f"SELECT {', '.join(FIELDS)} FROM schedules FINAL WHERE deleted = 0 ORDER BY name")
        return [_schedule(dict(zip(FIELDS, row))) for row in result.result_rows]

    def get(self, name: str) -> Schedule | None:
        return next((s for s in self.all() if s.name == name), None)

    def attempts(self, name: str, period_start: datetime) -> list[dict]:
        result = self.client.query(
            f"SELECT {', '.join(RUN_FIELDS)} FROM schedule_runs WHERE schedule = {{n:String}} "
            "AND period_start = {p:DateTime64(3, 'UTC')} ORDER BY started, attempt",
            parameters={"n": name, "p": period_start.astimezone(timezone.utc)},
        )
        return [dict(zip(RUN_FIELDS, row)) for row in result.result_rows]

    def log(self, name: str | None = None, limit: int = 100) -> list[dict]:
        """One row per attempt, newest first, with the attempt's latest status."""
        where = "WHERE schedule = {n:String} " if name else ""
        latest = ", ".join(
            f"argMax({f}, {STATUS_RANK}) AS {f}" for f in ("status", "finished", "rows", "error", "message_id")
        )
        result = self.client.query(
            f"SELECT schedule, period_start, period_end, attempt, min(started) AS started, {latest} FROM schedule_runs "
            f"{where}GROUP BY schedule, period_start, period_end, attempt ORDER BY started DESC, attempt DESC "
            "LIMIT {limit:UInt32}",
            parameters={"n": name or "", "limit": limit},
        )
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def record(self, run: dict) -> None:
        values = {**run, "period_start": run["period_start"].astimezone(timezone.utc),
                  "period_end": run["period_end"].astimezone(timezone.utc)}  # fmt: skip
        self.client.insert("schedule_runs", [[values.get(f) for f in RUN_FIELDS]], column_names=list(RUN_FIELDS))


def _schedule(row: dict) -> Schedule:
    return Schedule(
        name=row["name"], email=tuple(row["email"]), report=row["report"], every=row["every"], tz=row["tz"],
        groups=tuple(row["groups"]), customers=tuple(row["customers"]), providers=tuple(row["providers"]),
        columns=tuple(row["columns"]), format=row["format"], skip_empty=bool(row["skip_empty"]),
    )  # fmt: skip
