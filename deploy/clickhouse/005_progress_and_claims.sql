-- How far each worker has caught up (pipeline/progress.py): every input message that reached
-- Kafka before `caught_up_through` is in the warehouse. Scheduled reports wait for it.
CREATE TABLE IF NOT EXISTS pipeline_progress
(
    worker String,
    reported_at DateTime64(3, 'UTC'),
    caught_up_through DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(reported_at)
ORDER BY worker
TTL toDateTime(reported_at) + INTERVAL 7 DAY;

-- Each attempt at a period claims it: two runs that reach one period together (the timer and an
-- operator's run, or two workers) both log 'running', read the log back, and only the claim the
-- warehouse stored first (`claimed_at`, its own clock, not the runs') goes on. `complete_until`
-- is how far the pipeline had caught up when the report was made.
ALTER TABLE schedule_runs ADD COLUMN IF NOT EXISTS claim String;
ALTER TABLE schedule_runs ADD COLUMN IF NOT EXISTS claimed_at DateTime64(6, 'UTC') DEFAULT now64(6);
ALTER TABLE schedule_runs ADD COLUMN IF NOT EXISTS complete_until Nullable(DateTime64(3, 'UTC'));
-- An attempt that found another claim ahead of its own stands down as 'superseded'.
ALTER TABLE schedule_runs MODIFY COLUMN status
    Enum8('running' = 1, 'sent' = 2, 'failed' = 3, 'skipped' = 4, 'sending' = 5, 'superseded' = 6);
