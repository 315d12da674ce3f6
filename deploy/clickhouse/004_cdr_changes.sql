-- What the pipeline inserts, once per applied CDR batch: every CDR revision the batch changes,
-- with a sign. +1: the newest revision of an id (stored in `cdr`, added to the aggregates);
-- -1: the revision it replaces (taken back from the aggregates); 0: a tombstone for `cdr` in
-- the month a rerate moved the CDR out of. The Null engine keeps nothing itself: the
-- materialized views below fill `cdr`, `agg_breakout` and `agg_number` from each insert, and
-- with the batch's deduplication token (deduplicate_blocks_in_dependent_materialized_views)
-- a replayed batch is dropped by every one of them.
-- The pipeline sends what it validated as is: times in epoch milliseconds, durations and money
-- in integer millionths (exact); the view to `cdr` turns them into DateTime64 and Decimal.
-- The metric expressions match queries/breakout.py RAW_VECTOR, which reads range edges from `cdr`.
CREATE TABLE IF NOT EXISTS cdr_changes
(
    sign Int8,
    id String,
    rev UInt32,
    start_ms Int64,
    customer String,
    provider String,
    customer_destination String,
    provider_destination String,
    cli String,
    dest_number String,
    sip_code UInt16,
    duration_us Int64,
    customer_duration_us Int64,
    provider_duration_us Int64,
    customer_charge_micros Int64,
    provider_charge_micros Int64,
    dtmf UInt32,
    pdd_in_ms Nullable(UInt32),
    pdd_out_ms Nullable(UInt32),
    switch String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS cdr_changes_to_cdr TO cdr AS
SELECT id, rev, fromUnixTimestamp64Milli(start_ms, 'UTC') AS start_time, customer, provider, customer_destination,
       provider_destination, cli, dest_number, sip_code,
       CAST(toDecimal128(duration_us, 6) / 1000000 AS Decimal(18, 6)) AS duration,
       CAST(toDecimal128(customer_duration_us, 6) / 1000000 AS Decimal(18, 6)) AS customer_duration,
       CAST(toDecimal128(provider_duration_us, 6) / 1000000 AS Decimal(18, 6)) AS provider_duration,
       CAST(toDecimal128(customer_charge_micros, 6) / 1000000 AS Decimal(18, 6)) AS customer_charge,
       CAST(toDecimal128(provider_charge_micros, 6) / 1000000 AS Decimal(18, 6)) AS provider_charge,
       dtmf, pdd_in_ms, pdd_out_ms, switch, toUInt8(sign = 0) AS is_deleted
FROM cdr_changes
WHERE sign >= 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS cdr_changes_to_agg_breakout TO agg_breakout AS
SELECT toDateTime(toStartOfFifteenMinutes(fromUnixTimestamp64Milli(start_ms, 'UTC')), 'UTC') AS bucket,
       customer, provider, customer_destination, provider_destination, switch,
       sum(sign) AS attempts,
       sum(sign * (sip_code BETWEEN 200 AND 299)) AS connected,
       sum(sign * cdr_changes.duration_us) AS duration_us,
       sum(sign * cdr_changes.customer_duration_us) AS customer_duration_us,
       sum(sign * cdr_changes.provider_duration_us) AS provider_duration_us,
       sum(sign * cdr_changes.customer_charge_micros) AS customer_charge_micros,
       sum(sign * cdr_changes.provider_charge_micros) AS provider_charge_micros,
       sum(sign * toInt64(dtmf)) AS dtmf,
       sum(sign * (sip_code BETWEEN 200 AND 299 AND cdr_changes.dtmf > 0)) AS dtmf_calls,
       sum(sign * toInt64(ifNull(pdd_in_ms, 0))) AS pdd_in_sum,
       sum(sign * isNotNull(pdd_in_ms)) AS pdd_in_count,
       sum(sign * toInt64(ifNull(pdd_out_ms, 0))) AS pdd_out_sum,
       sum(sign * isNotNull(pdd_out_ms)) AS pdd_out_count,
       sum(sign * (sip_code BETWEEN 200 AND 299 AND cdr_changes.duration_us < 6000000)) AS short_calls
FROM cdr_changes
WHERE sign != 0
GROUP BY bucket, customer, provider, customer_destination, provider_destination, switch;

CREATE MATERIALIZED VIEW IF NOT EXISTS cdr_changes_to_agg_number TO agg_number AS
SELECT numbered.1 AS kind, numbered.2 AS number,
       toDateTime(toStartOfFifteenMinutes(fromUnixTimestamp64Milli(start_ms, 'UTC')), 'UTC') AS bucket, sip_code, customer,
       sum(sign) AS attempts,
       sum(sign * (sip_code BETWEEN 200 AND 299)) AS connected,
       sum(sign * cdr_changes.duration_us) AS duration_us,
       sum(sign * cdr_changes.customer_charge_micros) AS customer_charge_micros,
       sum(sign * cdr_changes.provider_charge_micros) AS provider_charge_micros,
       sum(sign * toInt64(ifNull(pdd_in_ms, 0))) AS pdd_in_sum,
       sum(sign * isNotNull(pdd_in_ms)) AS pdd_in_count,
       sum(sign * toInt64(ifNull(pdd_out_ms, 0))) AS pdd_out_sum,
       sum(sign * isNotNull(pdd_out_ms)) AS pdd_out_count
FROM cdr_changes
ARRAY JOIN [('dest', dest_number), ('cli', cli)] AS numbered
WHERE sign != 0 AND number != ''
GROUP BY kind, number, bucket, sip_code, customer;
