-- The coordinates (topic, partition, offset, reason) of every record a rebuild skipped:
-- the same records the live consumer dead-letters.
ALTER TABLE rebuild_runs ADD COLUMN skipped_records jsonb NOT NULL DEFAULT '[]';
