"""CDRs for tests, with an independent ground truth of what the reports must say."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import orjson

from consumers.feed.producer import send_messages
from pipeline.settings import Settings
from pipeline.topics import ensure_topics

CUSTOMERS = ["acme", "globex", "initech", "umbrella", "o'neil & sons", "ÅSA-tel"]
PROVIDERS = ["tata", "bics", "idt", ""]
BASE_MS = 1_788_220_800_000  # 2026-09-01T00:00:00Z, all events well in the past


def make_cdrs(n: int, seed: int = 7, rerate_share: float = 0.1) -> list[dict]:
    """n distinct CDR ids, some with later revisions; list in arrival order (unshuffled)."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        connected = rng.random() < 0.5
        duration = round(rng.uniform(1, 600), 3) if connected else 0
        event = {
            "id": f"c{seed}-{i}",
            "start_time": BASE_MS + rng.randrange(0, 40 * 86400_000),
            "customer": rng.choice(CUSTOMERS),
            "provider": rng.choice(PROVIDERS),
            "customer_destination": rng.choice(["UK - Mobile", "UK - Fixed", "India"]),
            "dest_number": f"44770090{rng.randrange(10000):04d}",
            "cli": f"1555{rng.randrange(1000):04d}",
            "sip_code": 200 if connected else rng.choice([486, 487, 503, 404]),
            "duration": duration,
            "customer_charge": f"{Decimal(rng.randrange(0, 2_000_000)) / 1_000_000:.6f}" if connected else 0,
            "provider_charge": rng.randrange(0, 1_000_000) / 1_000_000 if connected else 0,
            "dtmf": rng.choice([0, 0, 0, 3]) if connected else 0,
            "pdd_in_ms": rng.randrange(100, 3000),
        }
        events.append(event)
        if rng.random() < rerate_share:
            rerated = dict(event, rev=1, customer_charge=f"{Decimal(rng.randrange(0, 3_000_000)) / 1_000_000:.6f}")
            if connected and rng.random() < 0.3:
                rerated["start_time"] = event["start_time"] - 35 * 86400_000  # moved to an earlier month
            events.append(rerated)
    return events


def newest_revisions(events: list[dict]) -> dict[str, dict]:
    newest: dict[str, dict] = {}
    for event in events:
        current = newest.get(event["id"])
        if current is None or event.get("rev", 0) > current.get("rev", 0):
            newest[event["id"]] = event
    return newest


def truth_by_customer(events: list[dict]) -> dict[str, tuple[int, int, Decimal, Decimal]]:
    """customer -> (attempts, connected, customer_charge, provider_charge), from the newest revisions."""
    totals: dict[str, list] = defaultdict(lambda: [0, 0, Decimal(0), Decimal(0)])
    for event in newest_revisions(events).values():
        row = totals[event["customer"]]
        row[0] += 1
        row[1] += 200 <= event["sip_code"] <= 299
        row[2] += Decimal(str(event.get("customer_charge", 0)))
        row[3] += Decimal(str(event.get("provider_charge", 0)))
    return {k: tuple(v) for k, v in totals.items()}


def live_truth_by_customer(events: list[dict], clock_minute: int, window: int = 60) -> dict[str, list]:
    """customer -> [attempts, customer_charge] of the newest revisions ending in the `window` whole
    minutes before the live clock's minute step (as `GET /api/live?group=customer` gives them)."""
    expected: dict[str, list] = {}
    for event in newest_revisions(events).values():
        minute = (event["start_time"] + round(event["duration"] * 1000)) // 60_000
        if clock_minute - window <= minute < clock_minute:
            row = expected.setdefault(event["customer"], [0, Decimal(0)])
            row[0] += 1
            row[1] += Decimal(str(event.get("customer_charge", 0)))
    return expected


def live_by_customer(answer: dict) -> tuple[int, dict[str, list]]:
    """The live clock's minute step and customer -> [attempts, customer_charge] of a
    `GET /api/live?group=customer` answer, as live_truth_by_customer gives them."""
    clock_minute = int(datetime.fromisoformat(answer["clock"]).timestamp()) // 60
    return clock_minute, {r["customer"]: [r["attempts"], Decimal(r["customer_charge"])] for r in answer["rows"]}


def publish(settings: Settings, events: list[dict]) -> None:
    """Create the pipeline's topics if missing and send every event to the input topic, one message each."""
    asyncio.run(ensure_topics(settings))
    asyncio.run(send_messages(settings, [orjson.dumps(e) for e in events]))
