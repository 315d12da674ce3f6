"""Live statistics as the API and `cdrflow live` ask for them: a grouping, a window, filters.

The sums come from the live windows (pipeline.live.windows); every column derives from them as in the
reports (queries.metrics), plus `ner` and `short_calls_percent`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.live.windows import DIMENSIONS, LIVE_SUMS, LONGEST_WINDOW, NUMBER
from queries.errors import ReportError
from queries.metrics import derive, metric

LIVE_COLUMNS = (
    "attempts", "connected", "asr", "acd", "ner", "pdd_in_avg", "pdd_out_avg", "short_calls", "short_calls_percent",
    "customer_charge", "provider_charge", "profit", "dtmf",
)  # fmt: skip
LIVE_PARAMETERS = {"group", "window", "customer", "provider", "top"}


def check_group(group: Sequence[str], name: str = "group") -> None:
    if list(group) == [NUMBER]:
        return
    unknown = [g for g in group if g not in DIMENSIONS]
    if unknown:
        raise ReportError(f"{name}: unknown dimension {unknown[0]!r}; dimensions are {', '.join(DIMENSIONS)}, "
                          f"or {NUMBER} alone")  # fmt: skip
    if len(set(group)) != len(group):
        raise ReportError(f"{name}: a dimension is named twice")


def check_window(window: object, name: str = "window") -> int:
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= LONGEST_WINDOW:
        raise ReportError(f"{name}: a whole number of minutes from 1 to {LONGEST_WINDOW}, not {window!r}")
    return window


@dataclass(frozen=True)
class LiveQuery:
    group: tuple[str, ...] = ("provider",)
    window: int = 15
    customers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    top: int | None = None

    def __post_init__(self) -> None:
        check_group(self.group)
        check_window(self.window)
        if self.top is not None and not 1 <= self.top <= 10_000:
            raise ReportError(f"top: 1 to 10000, not {self.top}")


def _whole(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ReportError(f"{name}: a whole number, not {text!r}") from None


def parse_live(params: Mapping[str, Sequence[str]]) -> LiveQuery:
    unknown = sorted(set(params) - LIVE_PARAMETERS)
    if unknown:
        raise ReportError(f"unknown parameter {unknown[0]!r} for live statistics")
    for name in ("group", "window", "top"):
        if len(params.get(name, ())) > 1:
            raise ReportError(f"{name}: given more than once")
    group = tuple(g.strip() for g in (params.get("group") or ["provider"])[0].split(",") if g.strip())
    top = params.get("top")
    return LiveQuery(
        group, _whole("window", (params.get("window") or ["15"])[0]), tuple(params.get("customer", ())),
        tuple(params.get("provider", ())), None if not top else _whole("top", top[0]),
    )  # fmt: skip


def live_values(sums: Sequence[int]) -> dict[str, object]:
    """Every live column from one key's window sums (in LIVE_SUMS order)."""
    derived = derive(dict(zip(LIVE_SUMS, sums)))
    return {column: derived[column] for column in LIVE_COLUMNS}


COUNTS = {name: LIVE_SUMS.index(name) for name in ("attempts", "connected", "dtmf", "short_calls")}


def live_metric(sums: Sequence[int], name: str) -> object:
    """One live column from a key's window sums (a count is its sum as it is)."""
    if name in COUNTS:
        return sums[COUNTS[name]]
    return metric(dict(zip(LIVE_SUMS, sums)), name)


def live_rows(query: LiveQuery, sums_by_key: Mapping[tuple, Sequence[int]]) -> list[dict]:
    """One row per key, most attempts first (ties by key), at most `top`."""
    ordered = sorted(sums_by_key.items(), key=lambda item: (-item[1][0], item[0]))
    if query.top is not None:
        ordered = ordered[: query.top]
    return [{**dict(zip(query.group, key)), **live_values(sums)} for key, sums in ordered]
