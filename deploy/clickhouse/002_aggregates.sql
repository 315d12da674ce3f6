-- Rolling aggregates of the pipeline, one metric vector per key and 15-minute bucket (every
-- IANA offset is a multiple of 15 minutes, so local days, hours, weeks and months are unions of
-- whole buckets). Each applied CDR batch adds its sums through the views of 004_cdr_changes.sql
-- (a rerate adds the new revision and takes the old one back with negative values);
-- SummingMergeTree folds them together in merges, and reports always sum:
-- SELECT customer, sum(attempts) FROM agg_breakout GROUP BY customer.
-- A batch replayed after a crash arrives with the same deduplication token (partition:offset)
-- and is dropped within the deduplication window, so it never counts twice.
-- Durations are integer microseconds (`*_us`), money integer millionths (`*_micros`), exact.
CREATE TABLE IF NOT EXISTS agg_breakout
(
    bucket DateTime('UTC'),
    customer LowCardinality(String),
    provider LowCardinality(String),
    customer_destination LowCardinality(String),
    provider_destination LowCardinality(String),
    switch LowCardinality(String),
    attempts Int64,
    connected Int64,
    duration_us Int64,
    customer_duration_us Int64,
    provider_duration_us Int64,
    customer_charge_micros Int64,
    provider_charge_micros Int64,
    dtmf Int64,
    dtmf_calls Int64,
    pdd_in_sum Int64,
    pdd_in_count Int64,
    pdd_out_sum Int64,
    pdd_out_count Int64,
    short_calls Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, customer, provider, customer_destination, provider_destination, switch)
SETTINGS non_replicated_deduplication_window = 100000;

-- Per Number aggregates: the same vector by dialled number (kind 'dest') and by calling number
-- (kind 'cli'), SIP code and customer, ordered by number so a six-month summary of a few
-- numbers reads a few granules per month.
CREATE TABLE IF NOT EXISTS agg_number
(
    kind Enum8('dest' = 1, 'cli' = 2),
    number String,
    bucket DateTime('UTC'),
    sip_code UInt16,
    customer LowCardinality(String),
    attempts Int64,
    connected Int64,
    duration_us Int64,
    customer_charge_micros Int64,
    provider_charge_micros Int64,
    pdd_in_sum Int64,
    pdd_in_count Int64,
    pdd_out_sum Int64,
    pdd_out_count Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (kind, number, bucket, sip_code, customer)
SETTINGS non_replicated_deduplication_window = 100000;
