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


def test_each_stage_of_a_batch_is_a_summary_over_the_last_minute():
    metrics = WorkerMetrics()
    metrics.observe_stages((9.0, 9.0, 9.0, 9.0, 9.0, 9.0), now=0.0)  # more than a minute before the others
    for i in range(100):
        metrics.observe_stages((0.001 * i, 0.01, 0.02, 0.03, 0.04, 0.05), now=100.0 + i / 100)
    assert metrics.stage_quantiles(now=101.0)["read"] == (0.05, 0.099)
    assert metrics.stage_quantiles(now=101.0)["warehouse"] == (0.03, 0.03)
    assert metrics.stage_quantiles(now=200.0) == {}  # a quiet minute shows none
    metrics.observe_stages((0.1, 0.1, 0.1, 0.1, 0.1, 0.1))  # now
    values = parse(metrics.render())
    for stage in ("read", "forwarded", "consumed", "warehouse", "live", "recorded"):
        assert f'cdrflow_stage_seconds{{stage="{stage}",quantile="0.99"}}' in values


def test_timer_failures_are_counted_per_timer():
    metrics = WorkerMetrics()
    metrics.timer_failed("report_progress")
    metrics.timer_failed("report_progress")
    assert parse(metrics.render())['cdrflow_timer_failures_total{timer="report_progress"}'] == "2"
