"""Two workers share the partitions, then one leaves: no batch is lost or applied twice.

Each worker sinks into a chDB folder of its own (chDB: one process per folder), so the aggregates
of both warehouses together must equal the ground truth: a batch applied by both workers would
count twice, a batch applied by neither not at all. Rerates cross the handovers, so the worker
taking a partition must know the revisions the other one applied.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from decimal import Decimal

import orjson
import pytest

from consumers.feed.producer import send_messages
from consumers.worker import WorkerProcess
from tests.cdr_factory import live_by_customer, live_truth_by_customer, make_cdrs, publish, truth_by_customer
from tests.chdb_query import query_chdb
from tests.services import DOCKER

pytestmark = pytest.mark.skipif(DOCKER, reason="each worker runs on an embedded chDB folder of its own")
PARTITIONS = 4


def feed_slowly(settings, events: list[dict], seconds: float) -> threading.Thread:
    """Sends `events` in 20 slices over `seconds` from a thread, so batches are in flight while
    partitions move."""

    async def feed() -> None:
        step = -(-len(events) // 20)
        for start in range(0, len(events), step):
            await send_messages(settings, [orjson.dumps(e) for e in events[start : start + step]])
            await asyncio.sleep(seconds / 20)

    thread = threading.Thread(target=lambda: asyncio.run(feed()))
    thread.start()
    return thread


def rerated(events: list[dict], every: int, charge: str) -> list[dict]:
    return [dict(e, rev=e.get("rev", 0) + 5, customer_charge=charge) for e in events[::every]]


def caught_up_together(workers: list[WorkerProcess], messages: int, timeout: float = 300) -> None:
    """Until the workers split every partition between them, each owning some, have read
    `messages` input messages between them and have nothing left to apply."""
    deadline = time.monotonic() + timeout
    settled = 0
    while time.monotonic() < deadline:
        try:
            seen = [w.metrics() for w in workers]
        except OSError:
            time.sleep(0.5)
            continue
        shared = all(m["cdrflow_batch_partitions"] > 0 for m in seen)
        split = sum(m["cdrflow_input_partitions"] for m in seen) == sum(
            m["cdrflow_batch_partitions"] for m in seen
        ) == PARTITIONS  # fmt: skip
        read = sum(m["cdrflow_messages_total"] for m in seen) >= messages
        if shared and split and read and all(m["cdrflow_lag"] == 0 for m in seen):
            settled += 1
            if settled >= 3:
                return
        else:
            settled = 0
        time.sleep(0.5)
    raise TimeoutError(f"workers did not catch up together: {seen}\n" + "\n".join(w.tail() for w in workers))


def customer_totals(workers: list[WorkerProcess]) -> dict:
    totals: dict[str, list] = {}
    for worker in workers:
        rows = query_chdb(
            worker.cwd / "clickhouse",
            "SELECT customer, sum(attempts), sum(connected), sum(customer_charge_micros), sum(provider_charge_micros) "
            "FROM agg_breakout GROUP BY customer",
        )
        for customer, attempts, connected, customer_micros, provider_micros in rows:
            row = totals.setdefault(customer, [0, 0, 0, 0])
            for i, value in enumerate((attempts, connected, customer_micros, provider_micros)):
                row[i] += int(value)
    return {
        c: (a, n, Decimal(cm) / 1_000_000, Decimal(pm) / 1_000_000) for c, (a, n, cm, pm) in totals.items() if a != 0
    }


def assert_one_live_window(a: WorkerProcess, b: WorkerProcess, events: list[dict]) -> None:
    """One worker keeps the live windows, whichever batch partitions each holds; asked either one,
    the answer is the same, and equals the newest revisions ending in the last hour of the clock."""
    assert sorted(w.metrics()["cdrflow_live_holder"] for w in (a, b)) == [0, 1]
    answers = [orjson.loads(urllib.request.urlopen(f"http://127.0.0.1:{w.port}/api/live?group=customer&window=60").read())
               for w in (a, b)]  # fmt: skip
    assert answers[0] == answers[1]
    clock_minute, got = live_by_customer(answers[0])
    assert got == live_truth_by_customer(events, clock_minute) and got


def test_partitions_handed_between_two_workers_count_every_cdr_once(settings, tmp_path):
    first = make_cdrs(20_000, seed=61, rerate_share=0.1)
    second = make_cdrs(20_000, seed=62, rerate_share=0.1) + rerated(first, 20, "7.000000")
    third = make_cdrs(10_000, seed=63) + rerated(second, 15, "3.500000") + first[::40]  # and resends
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = WorkerProcess.on_folder(settings, tmp_path / "a")
    b = WorkerProcess.on_folder(settings, tmp_path / "b")
    try:
        publish(settings, first)
        a.start()
        a.wait_until_caught_up(len(first), partitions=PARTITIONS)

        feeding = feed_slowly(settings, second, seconds=12)
        b.start()  # a hands partitions to b while batches flow
        feeding.join()
        caught_up_together([a, b], len(first) + len(second))
        assert_one_live_window(a, b, first + second)

        feeding = feed_slowly(settings, third, seconds=8)
        b.stop()  # b hands its partitions back to a while batches flow
        feeding.join()
        a.wait_until_caught_up(partitions=PARTITIONS)
    finally:
        a.stop()
        b.stop()

    assert customer_totals([a, b]) == truth_by_customer(first + second + third)
