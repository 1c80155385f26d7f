-- Retention clean-up of the inbox deletes old rows by age; this keeps it from scanning
-- the whole table every time.
CREATE INDEX inbox_processed_at ON inbox (processed_at);
