"""Live benchmark: the memory the per-number live windows hold.

`live_number_memory`: two hours of event time with 100,000 distinct destination numbers a minute
(each minute's numbers new: the worst case), applied as the live worker applies them (LiveWindows,
from deltas as pipeline.live.delta writes them, ten deltas a minute), while a `dest_number` rule
(attempts > 100 over 5 minutes) is evaluated at every minute step and the console's top-20
numbers over 15 minutes is asked for every minute. Printed: the peak resident memory of the
process over its own before the first delta (the worker's baseline: the code loaded, no
windows). Memory is the point here, not speed: the live path's CPU is live_bench's.
Measured in a process of its own, so that nothing else it did counts. BENCH_SCALE scales the
numbers a minute.
"""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
NUMBERS_PER_MINUTE = int(100_000 * SCALE)
MINUTES = 120
DELTAS_PER_MINUTE = 10
FIRST_MINUTE = 29_400_000  # 2025-11-23 (minutes since the epoch)
GRACE_MS = 60_000
RULE = {"name": "hot-number", "scope": ["dest_number"], "metric": "attempts", "op": ">", "threshold": 100, "window": 5}


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def number_rows(minute: int, part: int, count: int) -> str:
    """A delta's per-number rows for one minute, as JSON text (LIVE_SUMS order)."""
    rows = []
    for n in range(part * count, (part + 1) * count):
        connected = n % 2
        rows.append([f"44{minute % 10_000:04d}{n:07d}", 1, connected, 1, connected * 93_000_000,
                     connected * 41_250, connected * 30_100, 0, 0, 1_800, 1, 2_100, 1, 0])  # fmt: skip
    return orjson.dumps(rows).decode()


def measure() -> None:
    """In the child: apply the deltas, evaluate, print the peak resident memory over the baseline in MB."""
    from consumers.alerts.evaluate import transitions_at
    from consumers.alerts.rule import alert_rule_from
    from pipeline.live.windows import MINUTE_MS, LiveWindows

    rule = alert_rule_from(RULE)
    windows = LiveWindows(GRACE_MS, partitions=1)
    per_delta = NUMBERS_PER_MINUTE // DELTAS_PER_MINUTE
    key_rows = [["acme", f"carrier-{p}", "UK", "UK Mobile", "sw1", 1, 1, 1, 93_000_000, 41_250, 30_100, 0, 0, 1_800, 1,
                 2_100, 1, 0] for p in range(200)]  # fmt: skip
    deltas = [number_rows(0, part, per_delta) for part in range(DELTAS_PER_MINUTE)]  # made once: memory is measured
    baseline = rss_kb("VmRSS:")
    firing: set[tuple] = set()
    for minute in range(FIRST_MINUTE, FIRST_MINUTE + MINUTES):
        for part in range(DELTAS_PER_MINUTE):
            end = minute * MINUTE_MS + (part + 1) * 6_000 - 1
            windows.apply_minute(minute, end, key_rows, deltas[part].replace('"440000', f'"44{minute % 10_000:04d}'),
                                 sent_ms=end + GRACE_MS)  # fmt: skip
            for step in windows.steps():
                for transition in transitions_at(rule, windows, step, firing):
                    (firing.add if transition.transition == "fired" else firing.discard)(tuple(transition.key.values()))
        windows.top_numbers(15, 20)  # the console's top numbers, as /api/live?group=dest_number&top=20 asks
    print(orjson.dumps({"over_mb": (rss_kb("VmHWM:") - baseline) / 1024, "slices": len(windows.slices)}).decode())


def main() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "from bench.live_number_bench import measure; measure()"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = orjson.loads(child.stdout.strip().splitlines()[-1])
    print(f"bench live_number_memory: {found['over_mb']:.0f} MB over the worker's baseline "
          f"({NUMBERS_PER_MINUTE} distinct numbers a minute for {MINUTES // 60} h)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
