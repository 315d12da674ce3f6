"""What people save (schedules, custom reports, alert rules) in ClickHouse: a table each, a row per change.

The newest row of a name wins (ReplacingMergeTree on `updated_at`) and a row with `deleted = 1`
removes the name, so a save or a removal is one insert and reads use FINAL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from queries.errors import ReportError

Door = Callable[[Callable[[], Any]], Awaitable[Any]]  # runs blocking warehouse work somewhere, awaitably


async def at_once(work: Callable[[], Any]) -> Any:
    """The door of the command line on the warehouse itself: the work, here and now."""
    return work()


@dataclass(frozen=True)
class Warehouse:
    """How the consumers reach the warehouse. On the worker (pipeline.warehouse): `read` on the
    bookkeeping read thread (lists, alert and schedule state), `report` on the report pool held to
    CDRFLOW_REPORT_MAX_SECONDS, `write` on the sink's write thread; the work reaches the warehouse
    through `current_client()`. The command line, on the folder itself, does all three at once."""

    read: Door
    write: Door
    report: Door

    @classmethod
    def through(cls, door: Door) -> Warehouse:
        """Every kind of work through the one `door`."""
        return cls(door, door, door)


HERE = Warehouse.through(at_once)


class UnknownName(ReportError):
    """No saved thing of that name (the API answers 404)."""


class SavedTable:
    """The table `table` (a name of ours, never a user's) with the columns `fields`, `name` first,
    over the warehouse client `connected()` returns."""

    def __init__(self, connected: Callable[[], Client], table: str, fields: tuple[str, ...]) -> None:
        self.connected = connected
        self.table = table
        self.fields = fields

    def save(self, values: dict) -> None:
        row = [list(v) if isinstance(v, tuple) else v for v in (values[f] for f in self.fields)]
        self.connected().insert(self.table, [row], column_names=list(self.fields))

    def remove(self, name: str) -> bool:
        """Whether there was a `name` to remove."""
        found = self.connected().query(
            f"SELECT count() FROM {self.table} FINAL WHERE name = {{n:String}} AND deleted = 0",
            parameters={"n": name},
        )
        if not found.result_rows[0][0]:
            return False
        self.connected().insert(self.table, [[name, 1]], column_names=["name", "deleted"])
        return True

    def rows(self) -> list[dict]:
        """Every saved row, by name."""
        result = self.connected().query(
            f"SELECT {', '.join(self.fields)} FROM {self.table} FINAL WHERE deleted = 0 ORDER BY name"
        )
        return [dict(zip(self.fields, values)) for values in result.result_rows]
