"""The worker's counters, rendered in the Prometheus text format at /metrics."""

from __future__ import annotations

from collections import Counter


class WorkerMetrics:
    HELP = {
        "cdrflow_messages_total": "Kafka messages read from the input topic",
        "cdrflow_cdrs_valid_total": "valid CDRs forwarded to the batch topic",
        "cdrflow_cdrs_invalid_total": "invalid events sent to the dead-letter topic",
        "cdrflow_batches_applied_total": "CDR batches applied to the state tables and sunk",
        "cdrflow_batches_replayed_total": "batches skipped on replay because they were applied before",
        "cdrflow_cdrs_applied_total": "CDR revisions that became the newest of their id",
        "cdrflow_sink_rows_total": "rows written to ClickHouse",
        "cdrflow_sink_failures_total": "failed ClickHouse writes (each retried)",
    }

    GAUGES = {"cdrflow_lag": "input messages and CDR batches not processed yet on this worker's partitions; -1 while unassigned"}

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.gauges: dict[str, int] = {}

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def render(self) -> str:
        lines = []
        for name, text in self.HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {self.counters[name]}"]
        for name, text in self.GAUGES.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {self.gauges.get(name, 0)}"]
        return "\n".join(lines) + "\n"
