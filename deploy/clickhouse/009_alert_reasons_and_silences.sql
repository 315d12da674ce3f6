-- Why a transition happened ("asr 12.5 < 30", "rule removed", "rule changed"), and whether it
-- fell inside a silence (stored, not notified; a key still firing when the silence ends is
-- notified then).
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS reason String;
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS silenced Bool DEFAULT false;

-- Silences (maintenance windows): a rule's transitions, or those of the keys matching `key`
-- (a JSON object {dimension: value}, every pair must match; {} = every key), between `starts` and
-- `ends` (wall clock) are not notified. One row per change; `deleted` ends a silence early.
CREATE TABLE IF NOT EXISTS alert_silences
(
    id String,
    rule String,
    key String,
    starts DateTime64(3, 'UTC'),
    ends DateTime64(3, 'UTC'),
    reason String,
    deleted UInt8 DEFAULT 0,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY id;
