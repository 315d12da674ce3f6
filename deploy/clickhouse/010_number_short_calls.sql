-- Short calls (connected, under 6 s) per number, so that the top numbers can be ordered by them.
ALTER TABLE agg_number ADD COLUMN IF NOT EXISTS short_calls Int64;

-- The view adds them from every batch from now on; made again rather than changed with MODIFY
-- QUERY, for the reason 008_dtmf_call_charges.sql gives (stop every worker of a ClickHouse
-- server and run `cdrflow migrate` when several share it).
DROP VIEW IF EXISTS cdr_changes_to_agg_number;

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
       sum(sign * isNotNull(pdd_out_ms)) AS pdd_out_count,
       sum(sign * (sip_code BETWEEN 200 AND 299 AND cdr_changes.duration_us < 6000000)) AS short_calls
FROM cdr_changes
ARRAY JOIN [('dest', dest_number), ('cli', cli)] AS numbered
WHERE sign != 0 AND number != ''
GROUP BY kind, number, bucket, sip_code, customer;

-- The CDRs stored before: their short calls, from the newest revision of each, once.
INSERT INTO agg_number (kind, number, bucket, sip_code, customer, short_calls)
SETTINGS insert_deduplication_token = '010_number_short_calls', max_threads = 1
SELECT numbered.1 AS kind, numbered.2 AS number, toDateTime(toStartOfFifteenMinutes(start_time), 'UTC') AS bucket,
       sip_code, customer, count()
FROM cdr FINAL
ARRAY JOIN [('dest', dest_number), ('cli', cli)] AS numbered
WHERE NOT is_deleted AND number != '' AND sip_code BETWEEN 200 AND 299 AND duration < 6
GROUP BY kind, number, bucket, sip_code, customer
ORDER BY kind, number, bucket, sip_code, customer;
