-- Alert rules, one row per change; the newest row of a name wins, `deleted` removes it (as schedules).
CREATE TABLE IF NOT EXISTS alert_rules
(
    name String,
    scope Array(String),
    customers Array(String),
    providers Array(String),
    metric LowCardinality(String),
    op LowCardinality(String),
    threshold Float64,
    reset Nullable(Float64),
    window UInt8,
    min_attempts UInt32,
    email Array(String),
    webhook String,
    deleted UInt8 DEFAULT 0,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY name;

-- Every transition of an alert rule's key, once (a transition evaluated again after a restart
-- has the same alert_id and is not stored again). `key` is the JSON object {dimension: value};
-- `at` is the live clock's minute step; `email` and `webhook` are where it is to be notified.
CREATE TABLE IF NOT EXISTS alert_events
(
    alert_id String,
    rule String,
    key String,
    transition Enum8('fired' = 1, 'resolved' = 2),
    metric LowCardinality(String),
    value Float64,
    threshold Float64,
    reset Float64,
    window UInt8,
    attempts Int64,
    at DateTime64(3, 'UTC'),
    email Array(String),
    webhook String,
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (rule, at, alert_id);

-- Each notification of a transition, per channel: 'sent', or 'failed' with the error (retried
-- with backoff for up to an hour, then 'given_up').
CREATE TABLE IF NOT EXISTS alert_notifications
(
    alert_id String,
    channel Enum8('email' = 1, 'webhook' = 2),
    status Enum8('sent' = 1, 'failed' = 2, 'given_up' = 3),
    attempt UInt16,
    error String,
    at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (alert_id, channel, at);
