-- Raw CDRs as the pipeline sank them: one row per (id, revision). ReplacingMergeTree keeps the
-- highest `version` of an id; queries read with FINAL so that the newest revision wins before merges.
-- A rerate that moves a CDR to another month also writes an `is_deleted` row at the new rev into
-- the old month's partition, so no stale revision survives in a partition of its own. `version`
-- ranks that tombstone (2*rev) below the live row of the same rev (2*rev+1) and above every
-- older revision, so FINAL keeps the live row whether or not it reads across partitions.
CREATE TABLE IF NOT EXISTS cdr
(
    id String,
    rev UInt32,
    start_time DateTime64(3, 'UTC'),
    customer LowCardinality(String),
    provider LowCardinality(String),
    customer_destination LowCardinality(String),
    provider_destination LowCardinality(String),
    cli String,
    dest_number String,
    sip_code UInt16,
    duration Decimal(18, 6),
    customer_duration Decimal(18, 6),
    provider_duration Decimal(18, 6),
    customer_charge Decimal(18, 6),
    provider_charge Decimal(18, 6),
    dtmf UInt32,
    pdd_in_ms Nullable(UInt32),
    pdd_out_ms Nullable(UInt32),
    switch LowCardinality(String),
    is_deleted UInt8 DEFAULT 0,
    version UInt64 MATERIALIZED toUInt64(rev) * 2 + (1 - is_deleted),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX dest_number_bloom dest_number TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX cli_bloom cli TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version, is_deleted)
PARTITION BY toYYYYMM(start_time)
ORDER BY id;
