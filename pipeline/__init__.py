"""The cdrflow worker: rated CDRs from Kafka to billing-accurate aggregates in ClickHouse.

One package per concern, read top-down: `app` (the Faust app and its agents) wires `ingest`
(input topic to batches), `state` (dedup, rerates, recovery), `warehouse` (the one way into
ClickHouse) and `live` (one-minute windows); `settings`, `topics`, `metrics`, `events` and
`browser_rules` are shared by them. It imports neither `queries` nor `consumers`, and knows
nothing of reports or people: the consumers' modules are found by the app's autodiscovery.
"""
