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

-- The run log: one row per attempt at one schedule's period. A period counts as sent once a
-- row with status 'sent' exists for it; the scheduler checks that before mailing.
CREATE TABLE IF NOT EXISTS schedule_runs
(
    schedule String,
    period_start DateTime64(3, 'UTC'),
    period_end DateTime64(3, 'UTC'),
    attempt UInt16,
    status Enum8('running' = 1, 'sent' = 2, 'failed' = 3, 'skipped' = 4),
    started DateTime64(3, 'UTC'),
    finished Nullable(DateTime64(3, 'UTC')),
    rows UInt64,
    error String,
    message_id String
)
ENGINE = MergeTree
ORDER BY (schedule, period_start, started);
