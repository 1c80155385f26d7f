-- Pauses of an approved or launched campaign (owner or ops_admin, each with a reason),
-- numbered from 1 per campaign; the row without resumed_at is the pause in force.
CREATE TABLE pauses (
    campaign_id    text        NOT NULL REFERENCES campaigns (id),
    pause          integer     NOT NULL CHECK (pause >= 1),
    paused_at      timestamptz NOT NULL,
    paused_by      text        NOT NULL,
    reason         text        NOT NULL,
    resumed_at     timestamptz,
    resumed_by     text,
    resume_reason  text,
    PRIMARY KEY (campaign_id, pause)
);
CREATE UNIQUE INDEX pauses_one_in_force ON pauses (campaign_id) WHERE resumed_at IS NULL;

-- Change requests on approved or launched campaigns. The proposed brief is the next
-- version; it joins brief_versions (with its change_id) only when governance approves it.
CREATE TABLE change_requests (
    change_id        text        PRIMARY KEY,
    campaign_id      text        NOT NULL REFERENCES campaigns (id),
    base_version     integer     NOT NULL CHECK (base_version >= 1),
    version          integer     NOT NULL CHECK (version > base_version),
    brief            jsonb       NOT NULL,
    changes          text[]      NOT NULL,
    reason           text        NOT NULL,
    requested_by     text        NOT NULL,
    requested_at     timestamptz NOT NULL,
    event_id         uuid        NOT NULL UNIQUE,  -- the ChangeRequested that announced it
    outcome          text        CHECK (outcome IN ('approved', 'rejected')),
    decided_at       timestamptz,
    decided_by       text,
    decision_reason  text,
    UNIQUE (campaign_id, version)
);
CREATE UNIQUE INDEX change_requests_one_pending ON change_requests (campaign_id) WHERE outcome IS NULL;

ALTER TABLE brief_versions ADD COLUMN change_id text;
