from pipeline.metrics import WorkerMetrics


def parse(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_counters_gauges_and_latency_quantiles_in_prometheus_text():
    metrics = WorkerMetrics()
    metrics.inc("cdrflow_messages_total", 3)
    metrics.gauges["cdrflow_lag"] = 7
    for ms in range(1, 101):
        metrics.observe_latency(ms / 1000)
    values = parse(metrics.render())
    assert values["cdrflow_messages_total"] == "3" and values["cdrflow_lag"] == "7"
    assert float(values['cdrflow_event_to_queryable_seconds{quantile="0.5"}']) == 0.051
    assert float(values['cdrflow_event_to_queryable_seconds{quantile="0.99"}']) == 0.1
    assert values["cdrflow_event_to_queryable_seconds_count"] == "100"
    assert abs(float(values["cdrflow_event_to_queryable_seconds_sum"]) - 5.05) < 1e-6


def test_quantiles_cover_only_the_latest_batches():
    metrics = WorkerMetrics()
    for _ in range(WorkerMetrics.LATENCY_WINDOW):
        metrics.observe_latency(60.0)  # a backlog being worked off
    for _ in range(WorkerMetrics.LATENCY_WINDOW):
        metrics.observe_latency(0.2)
    values = parse(metrics.render())
    assert float(values['cdrflow_event_to_queryable_seconds{quantile="0.99"}']) == 0.2


def test_no_latency_yet_is_not_a_number():
    assert parse(WorkerMetrics().render())['cdrflow_event_to_queryable_seconds{quantile="0.5"}'] == "NaN"
