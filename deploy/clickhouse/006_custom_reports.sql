-- Custom reports: named read-only queries, one row per change; the newest row of a name wins,
-- `deleted` removes it (the same pattern as schedules).
CREATE TABLE IF NOT EXISTS custom_reports
(
    name String,
    title String,
    description String,
    sql String,
    deleted UInt8 DEFAULT 0,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY name;
