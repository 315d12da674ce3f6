"""Customer and provider names in a report's filters that the warehouse has no traffic of.

A filter on a name no CDR carries answers an all-zero report; a misspelt customer must not read
as a customer without traffic. `NameCheck` asks which of the names were ever seen, and for each
name never seen, the known names closest to it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

FILTERS = {"customer": "customers", "provider": "providers"}  # the column and the filter that names it
CLOSEST = 3
WARNING_HEADER = "X-Cdrflow-Warning"  # where the API gives a report's warnings, "; " between them
RunQuery = Callable[[str, dict], tuple[list[str], list[tuple]]]


@dataclass(frozen=True)
class NameCheck:
    column: str  # "customer" or "provider": whitelisted, part of the SQL text
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.column not in FILTERS:
            raise ValueError(f"not a name column: {self.column!r}")

    def seen_sql(self) -> tuple[str, dict]:
        column = self.column
        return (
            f"SELECT DISTINCT {column} FROM agg_breakout WHERE {column} IN {{names:Array(String)}}",
            {"names": list(self.names)},
        )

    def known_sql(self) -> tuple[str, dict]:
        return f"SELECT DISTINCT {self.column} FROM agg_breakout", {}

    def unseen(self, run_query: RunQuery) -> list[str]:
        """The names of the filter no CDR in the warehouse carries, in the order given."""
        if not self.names:
            return []
        seen = {row[0] for row in run_query(*self.seen_sql())[1]}
        return [name for name in dict.fromkeys(self.names) if name not in seen]

    def warnings(self, run_query: RunQuery) -> list[str]:
        """One line per name never seen: `customer: no traffic of 'acme' in the warehouse; closest: 'Acme'`."""
        unseen = self.unseen(run_query)
        if not unseen:
            return []
        known = [row[0] for row in run_query(*self.known_sql())[1] if row[0]]
        return [f"{self.column}: no traffic of {name!r} in the warehouse{closest_text(name, known)}" for name in unseen]


def closest_text(name: str, known: list[str]) -> str:
    by_case = {k.casefold(): k for k in known}
    found = difflib.get_close_matches(name.casefold(), list(by_case), n=CLOSEST, cutoff=0.6)
    if not found:
        return ""
    return "; closest: " + ", ".join(repr(by_case[k]) for k in found)


def filter_warnings(customers: tuple[str, ...], providers: tuple[str, ...], run_query: RunQuery) -> list[str]:
    """The warnings of a report's customer and provider filters."""
    return [
        *NameCheck("customer", customers).warnings(run_query),
        *NameCheck("provider", providers).warnings(run_query),
    ]
