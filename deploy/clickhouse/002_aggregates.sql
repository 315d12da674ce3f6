-- Rolling aggregates kept by the pipeline's tables, one metric vector per key and 15-minute
-- bucket (every IANA offset is a multiple of 15 minutes, so local days, hours, weeks and months
-- are unions of whole buckets). Each worker partition `p` owns its share of a key and sinks the
-- absolute value of that share at increasing `version`; ReplacingMergeTree keeps the newest
-- share per (key, p), so re-sinking after a crash replaces rather than adds. A report sums the
-- shares: SELECT ... sum(attempts) FROM agg_breakout FINAL GROUP BY ...
-- Durations are integer microseconds (`*_us`), money integer millionths (`*_micros`), exact.
CREATE TABLE IF NOT EXISTS agg_breakout
(
    bucket DateTime('UTC'),
    customer LowCardinality(String),
    provider LowCardinality(String),
    customer_destination LowCardinality(String),
    provider_destination LowCardinality(String),
    switch LowCardinality(String),
    p UInt16,
    version UInt64,
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
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, customer, provider, customer_destination, provider_destination, switch, p);

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
    p UInt16,
    version UInt64,
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
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(bucket)
ORDER BY (kind, number, bucket, sip_code, customer, p);
