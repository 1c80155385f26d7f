-- Rebuilds of the read model (from the CLI or the admin endpoint). Outside the readmodel
-- schema on purpose: the history of rebuilds survives the swaps it records.
CREATE TABLE rebuild_runs (
    id               uuid        PRIMARY KEY,
    trigger          text        NOT NULL CHECK (trigger IN ('api', 'cli')),
    requested_by     text,
    status           text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    events_applied   bigint      NOT NULL DEFAULT 0,
    records_skipped  bigint      NOT NULL DEFAULT 0,
    high_watermarks  jsonb,
    error            text
);
CREATE INDEX rebuild_runs_started ON rebuild_runs (started_at DESC);
