-- Scheduled reports, one row per change; the newest row of a name wins, `deleted` removes it.
CREATE TABLE IF NOT EXISTS schedules
(
    name String,
    email Array(String),
    report LowCardinality(String),
    every String,
    tz String,
    groups Array(String),
    customers Array(String),
    providers Array(String),
    columns Array(String),
    format LowCardinality(String),
    skip_empty UInt8,
    deleted UInt8 DEFAULT 0,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY name;

-- The run log: rows per attempt at one schedule's period ('running', then 'sending' just before
-- the SMTP transaction, then 'sent', 'failed' or 'skipped'). A period with a 'sending', 'sent'
-- or 'skipped' row is done: an attempt cut off while sending is never repeated (at most once).
CREATE TABLE IF NOT EXISTS schedule_runs
(
    schedule String,
    period_start DateTime64(3, 'UTC'),
    period_end DateTime64(3, 'UTC'),
    attempt UInt16,
    status Enum8('running' = 1, 'sent' = 2, 'failed' = 3, 'skipped' = 4, 'sending' = 5),
    started DateTime64(3, 'UTC'),
    finished Nullable(DateTime64(3, 'UTC')),
    rows UInt64,
    error String,
    message_id String
)
ENGINE = MergeTree
ORDER BY (schedule, period_start, started);
