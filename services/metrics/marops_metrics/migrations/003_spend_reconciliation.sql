-- Budget says which brief version a release frees (a resubmission supersedes a commitment),
-- and which spend it cannot book against a line (unreconciled, until finance resolves it).
ALTER TABLE readmodel.releases ADD COLUMN brief_version integer;

-- The current reconciliation state of a spend: the highest revision budget published.
-- A spend with no row here was booked by budget as soon as it was recorded.
CREATE TABLE readmodel.spend_reconciliations (
    source_system     text        NOT NULL,
    source_reference  text        NOT NULL,
    revision          integer     NOT NULL,
    event_id          uuid        NOT NULL,
    campaign_id       text        NOT NULL,
    status            text        NOT NULL,
    reason_code       text,
    resolution        text,
    budget_line_id    text,
    changed_at        timestamptz NOT NULL,
    PRIMARY KEY (source_system, source_reference)
);
