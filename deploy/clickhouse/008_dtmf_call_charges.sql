-- The charges of the DTMF calls alone (connected, with at least one digit), so that the DTMF
-- report can divide them by the digits (`dtmf_provider_cost_per_digit`) beside the charges of
-- every call of a row (`provider_cost_per_digit`).
ALTER TABLE agg_breakout
    ADD COLUMN IF NOT EXISTS dtmf_customer_charge_micros Int64,
    ADD COLUMN IF NOT EXISTS dtmf_provider_charge_micros Int64;

-- The view adds them from every batch from now on. It is made again rather than changed with
-- MODIFY QUERY: after MODIFY QUERY, chDB (ClickHouse 26.9) forgot on restart which batches the view had
-- taken, and a batch inserted again after a crash counted twice. The worker applies this before
-- it consumes; with several workers on one ClickHouse server, stop them and run `cdrflow migrate`
-- (a batch inserted between the two statements would miss the view).
DROP VIEW IF EXISTS cdr_changes_to_agg_breakout;

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
       sum(sign * (sip_code BETWEEN 200 AND 299 AND cdr_changes.duration_us < 6000000)) AS short_calls,
       sum(sign * (sip_code BETWEEN 200 AND 299 AND cdr_changes.dtmf > 0) * cdr_changes.customer_charge_micros)
           AS dtmf_customer_charge_micros,
       sum(sign * (sip_code BETWEEN 200 AND 299 AND cdr_changes.dtmf > 0) * cdr_changes.provider_charge_micros)
           AS dtmf_provider_charge_micros
FROM cdr_changes
WHERE sign != 0
GROUP BY bucket, customer, provider, customer_destination, provider_destination, switch;

-- The CDRs stored before: their DTMF calls' charges, from the newest revision of each. The token
-- makes the insert happen once, should this file be applied again after an interruption.
INSERT INTO agg_breakout (bucket, customer, provider, customer_destination, provider_destination, switch,
                          dtmf_customer_charge_micros, dtmf_provider_charge_micros)
SETTINGS insert_deduplication_token = '008_dtmf_call_charges', max_threads = 1
SELECT toDateTime(toStartOfFifteenMinutes(start_time), 'UTC') AS bucket,
       customer, provider, customer_destination, provider_destination, switch,
       sum(toInt64(toDecimal128(customer_charge, 6) * 1000000)),
       sum(toInt64(toDecimal128(provider_charge, 6) * 1000000))
FROM cdr FINAL
WHERE NOT is_deleted AND sip_code BETWEEN 200 AND 299 AND dtmf > 0
GROUP BY bucket, customer, provider, customer_destination, provider_destination, switch
ORDER BY bucket, customer, provider, customer_destination, provider_destination, switch;
