"""The worker's counters, rendered in the Prometheus text format at /metrics."""

from __future__ import annotations

import time
from collections import Counter, deque

STAGES = ("read", "forwarded", "consumed", "warehouse", "live", "recorded")


class WorkerMetrics:
    HELP = {
        "cdrflow_messages_total": "Kafka messages read from the input topic",
        "cdrflow_cdrs_valid_total": "valid CDRs forwarded to the batch topic",
        "cdrflow_cdrs_invalid_total": "invalid events sent to the dead-letter topic",
        "cdrflow_batches_applied_total": "CDR batches applied to the state tables and sunk",
        "cdrflow_batches_replayed_total": "batches skipped on replay because they were applied before",
        "cdrflow_cdrs_applied_total": "CDR revisions that became the newest of their id",
        "cdrflow_batches_lost_total": "batches deleted from Kafka before they were applied (--skip-lost-batches)",
        "cdrflow_batch_refetches_total": "times a batch-topic partition was fetched again from the table's marker",
        "cdrflow_ids_forgotten_total": "CDR ids dropped from the dedup state after CDRFLOW_DEDUP_DAYS",
        "cdrflow_state_changelog_read_total": (
            "state changelog records read into the RocksDB store (recovery at start, standby replicas)"
        ),
        "cdrflow_sink_rows_total": "rows written to ClickHouse",
        "cdrflow_sink_failures_total": "failed ClickHouse writes (each retried)",
        "cdrflow_live_late_total": (
            "CDR revisions older than the live clock less the longest window: in reports, not in live statistics"
        ),
        "cdrflow_live_future_total": (
            "CDR revisions that ended after their batch was applied plus the grace (a switch's clock running fast): "
            "in reports at once, in live statistics when the live clock reaches them; they never move the clock"
        ),
        "cdrflow_alert_transitions_total": "alert transitions (fired, resolved) recorded",
        "cdrflow_alert_notifications_failed_total": "failed e-mail or webhook notifications (each retried)",
    }

    GAUGES = {
        "cdrflow_lag": "input messages and CDR batches not processed yet on this worker's partitions; -1 while unassigned or the broker does not answer",
        "cdrflow_input_partitions": "input-topic partitions assigned to this worker",
        "cdrflow_batch_partitions": "batch-topic partitions assigned to this worker",
        "cdrflow_ingest_holding": "1 while the ingest holds the input back: more than CDRFLOW_BATCH_LAG_LIMIT batches wait",
        "cdrflow_write_busy_ratio": "share of the last half second the sink's insert threads spent writing batches",
        "cdrflow_ingest_linger_seconds": (
            "how long the ingest gathers CDRs before it forwards them: 0.15 s, up to 1 s while the insert threads "
            "are busy"
        ),
        "cdrflow_caught_up_through_seconds": (
            "epoch seconds before which every input message on this worker's partitions is in ClickHouse"
        ),
        "cdrflow_live_clock_seconds": "the live clock (epoch seconds) on the worker keeping the live windows; 0 elsewhere",
        "cdrflow_live_holder": "1 on the worker keeping the live windows",
    }

    LATENCY = "cdrflow_event_to_queryable_seconds"
    LATENCY_HELP = (
        "seconds from the oldest input message of a CDR batch reaching Kafka to the batch being "
        "queryable in ClickHouse, over the last batches applied"
    )
    LATENCY_WINDOW = 2000

    STAGE = "cdrflow_stage_seconds"
    STAGE_HELP = (
        "seconds a CDR batch spent in each stage over the last minute: read (input appended to read by "
        "the ingest), forwarded (to the batch topic), consumed (by the worker, planned), warehouse (the "
        "insert), live (its live delta delivered), recorded (in the state table); they add up to "
        f"{LATENCY}"
    )
    STAGE_WINDOW_SECONDS = 60.0

    TIMER_FAILURES = "cdrflow_timer_failures_total"
    TIMER_FAILURES_HELP = "timer runs that failed (one logged line each; the timer runs again at its next interval)"

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.gauges: dict[str, float] = {}
        self.latencies: deque[float] = deque(maxlen=self.LATENCY_WINDOW)
        self.latency_count = 0
        self.latency_sum = 0.0
        self.stages: deque[tuple[float, tuple[float, ...]]] = deque()  # (when, seconds per stage), last minute
        self.timer_failures: Counter[str] = Counter()

    def observe_stages(self, seconds: tuple[float, ...], now: float | None = None) -> None:
        """One batch's time in each of STAGES."""
        now = time.monotonic() if now is None else now
        self.stages.append((now, seconds))
        while self.stages and self.stages[0][0] < now - self.STAGE_WINDOW_SECONDS:
            self.stages.popleft()

    def stage_quantiles(self, now: float | None = None) -> dict[str, tuple[float, float]]:
        """Per stage, its p50 and p99 over the last minute (empty when no batch was applied in it)."""
        now = time.monotonic() if now is None else now
        recent = [seconds for at, seconds in self.stages if at >= now - self.STAGE_WINDOW_SECONDS]
        found = {}
        for i, stage in enumerate(STAGES):
            ordered = sorted(seconds[i] for seconds in recent)
            if ordered:
                found[stage] = (quantile(ordered, 0.5), quantile(ordered, 0.99))
        return found

    def timer_failed(self, timer: str) -> None:
        self.timer_failures[timer] += 1

    def observe_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)
        self.latency_count += 1
        self.latency_sum += seconds

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def render(self) -> str:
        lines = []
        for name, text in self.HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {self.counters[name]}"]
        for name, text in self.GAUGES.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {self.gauges.get(name, 0)}"]
        lines += [f"# HELP {self.LATENCY} {self.LATENCY_HELP}", f"# TYPE {self.LATENCY} summary"]
        ordered = sorted(self.latencies)
        for q in (0.5, 0.9, 0.99):
            value = f"{quantile(ordered, q):.6f}" if ordered else "NaN"
            lines.append(f'{self.LATENCY}{{quantile="{q}"}} {value}')
        lines += [f"{self.LATENCY}_sum {self.latency_sum:.6f}", f"{self.LATENCY}_count {self.latency_count}"]
        lines += [f"# HELP {self.STAGE} {self.STAGE_HELP}", f"# TYPE {self.STAGE} summary"]
        for stage, (p50, p99) in self.stage_quantiles().items():
            lines.append(f'{self.STAGE}{{stage="{stage}",quantile="0.5"}} {p50:.6f}')
            lines.append(f'{self.STAGE}{{stage="{stage}",quantile="0.99"}} {p99:.6f}')
        lines += [f"# HELP {self.TIMER_FAILURES} {self.TIMER_FAILURES_HELP}", f"# TYPE {self.TIMER_FAILURES} counter"]
        for timer, count in sorted(self.timer_failures.items()):
            lines.append(f'{self.TIMER_FAILURES}{{timer="{timer}"}} {count}')
        return "\n".join(lines) + "\n"


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
