"""A feed of CDRs for the live tests, its batches and deltas as the worker makes them, and the
sums they must add up to, computed independently."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import orjson
from clickhouse_connect.driver.client import Client

from pipeline.events import Cdr, parse_message
from pipeline.live.delta import live_delta
from pipeline.live.windows import LIVE_SUMS, MINUTE_MS
from pipeline.state.cdr_state import BatchChanges, CdrState
from pipeline.state.store import MemoryStates
from pipeline.warehouse.sink import CHANGE_COLUMNS, change_columns
from tests.warehouse_data import NOW_MS, NoChangelog

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
GRACE_MS = 60_000


def feed(n: int, seed: int) -> list[dict]:
    """n CDRs ending within 40 minutes of T0, with rerates (some moved by minutes) and resends."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        connected = rng.random() < 0.5
        event = {
            "id": f"l{seed}-{i}", "start_time": T0 + rng.randrange(0, 30 * MINUTE_MS), "customer": rng.choice("ab"),
            "provider": rng.choice(["p1", "p2", ""]), "customer_destination": "UK", "dest_number": f"4420{rng.randrange(30)}",
            "sip_code": 200 if connected else rng.choice([486, 503, 603]),
            "duration": round(rng.uniform(1, 600), 3) if connected else 0,
            "customer_charge": f"{rng.randrange(0, 900_000) / 1_000_000:.6f}" if connected else 0,
            "provider_charge": rng.randrange(0, 500_000) / 1_000_000 if connected else 0,
            "dtmf": rng.choice([0, 2]) if connected else 0, "pdd_in_ms": rng.randrange(100, 3000),
        }  # fmt: skip
        events.append(event)
        if rng.random() < 0.2:
            events.append(dict(event, rev=1, start_time=event["start_time"] + rng.randrange(-5, 5) * MINUTE_MS))
        if rng.random() < 0.1:
            events.append(event)  # the switch sent it again
    return events


def deltas(warehouse: Client, events: list[dict], per_batch: int = 97) -> list[bytes]:
    """Each batch's live delta, as the pipeline applies the events in batches."""
    return [delta for _changes, delta in batches(warehouse, events, per_batch)]


def batches(warehouse: Client, events: list[dict], per_batch: int = 97) -> list[tuple[BatchChanges, bytes]]:
    """What each batch changed, and its live delta."""
    state = CdrState(MemoryStates({}, lambda cdr_id: 0), NoChangelog())
    out = []

    async def apply() -> None:
        for offset, start in enumerate(range(0, len(events), per_batch)):
            rows = [
                list(c) for e in events[start : start + per_batch] for c in parse_message(orjson.dumps(e), NOW_MS)[0]
            ]
            changes = state.plan(0, offset, rows, day=20_700)
            if changes is not None and changes.newest:
                out.append((changes, live_delta(warehouse, CHANGE_COLUMNS, change_columns(changes), changes)))
            await state.mark_applied(changes)

    asyncio.run(apply())
    return out


def truth(events: list[dict], group: str, first_minute: int, last_minute: int) -> dict[tuple, dict]:
    newest: dict[str, dict] = {}
    for event in events:
        if event["id"] not in newest or event.get("rev", 0) > newest[event["id"]].get("rev", 0):
            newest[event["id"]] = event
    sums: dict = defaultdict(lambda: defaultdict(int))
    for event in newest.values():
        duration_us = round(event["duration"] * 1_000_000)
        minute = (event["start_time"] + duration_us // 1000) // MINUTE_MS
        if not first_minute <= minute < last_minute:
            continue
        row = sums[(event.get(group, ""),)]
        connected = event["sip_code"] == 200
        row["attempts"] += 1
        row["connected"] += connected
        row["reached"] += connected or event["sip_code"] in (486, 603)
        row["duration_us"] += duration_us
        row["customer_charge_micros"] += round(float(event["customer_charge"]) * 1_000_000)
        row["dtmf"] += event["dtmf"]
        row["short_calls"] += connected and duration_us < 6_000_000
    return {key: dict(v) for key, v in sums.items()}


def picked(sums: dict[tuple, list[int]]) -> dict[tuple, dict]:
    names = ("attempts", "connected", "reached", "duration_us", "customer_charge_micros", "dtmf", "short_calls")
    return {key: {n: v[LIVE_SUMS.index(n)] for n in names if v[LIVE_SUMS.index(n)]} for key, v in sums.items()}


HOSTILE = ['a"b', "back\\slash", "line\nbreak", "tab\there", "it's", "$$", "\u2028", "call 📞", "", "{}[],"]


def summed_one_by_one(changes: BatchChanges) -> dict[int, tuple]:
    """A batch's delta from its rows one by one: per minute of end time, the newest end of its new
    revisions, the sums per dimension key and per dest_number (the replaced revisions taken back)."""
    minutes: dict[int, tuple] = {}
    for sign, rows in ((1, changes.newest), (-1, changes.replaced)):
        for row in rows:
            cdr = Cdr(*row)
            end_ms = cdr.start_ms + cdr.duration_us // 1000
            newest_end, by_key, by_number = minutes.setdefault(end_ms // MINUTE_MS, (None, {}, {}))
            if sign == 1 and (newest_end is None or end_ms > newest_end):
                newest_end = end_ms
            minutes[end_ms // MINUTE_MS] = (newest_end, by_key, by_number)
            connected = 200 <= cdr.sip_code <= 299
            values = {
                "attempts": 1, "connected": connected, "reached": connected or cdr.sip_code in (480, 486, 487, 603),
                "duration_us": cdr.duration_us if connected else 0, "customer_charge_micros": cdr.customer_charge_micros,
                "provider_charge_micros": cdr.provider_charge_micros, "dtmf": cdr.dtmf,
                "dtmf_calls": connected and cdr.dtmf > 0, "pdd_in_sum": cdr.pdd_in_ms or 0,
                "pdd_in_count": cdr.pdd_in_ms is not None, "pdd_out_sum": cdr.pdd_out_ms or 0,
                "pdd_out_count": cdr.pdd_out_ms is not None, "short_calls": connected and cdr.duration_us < 6_000_000,
            }  # fmt: skip
            sums = [sign * int(values[name]) for name in LIVE_SUMS]
            key = (cdr.customer, cdr.provider, cdr.customer_destination, cdr.provider_destination, cdr.switch)
            for table, at in ((by_key, key), (by_number, cdr.dest_number)):
                table[at] = [a + b for a, b in zip(table.get(at, [0] * len(sums)), sums)]
    return minutes
