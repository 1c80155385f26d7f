-- Campaigns and their working brief. `brief` is the draft as last saved; the columns next
-- to it (title, team, owner, target_launch_date, channels) are copied from it on every
-- save so that lists can filter and sort with plain indexes.
CREATE TABLE campaigns (
    id                 text        PRIMARY KEY,
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL,
    brief              jsonb       NOT NULL,
    title              text,
    team               text        NOT NULL,
    owner              text,
    target_launch_date date,
    channels           text[]      NOT NULL DEFAULT '{}',
    current_version    integer     NOT NULL DEFAULT 0 CHECK (current_version >= 0),
    -- derived from every fact (status.derive); stored for filtering and sorting only
    status             text        NOT NULL,
    status_reason      text,
    status_since       timestamptz NOT NULL,
    last_changed_at    timestamptz NOT NULL,
    cancelled_at       timestamptz,
    cancelled_by       text,
    cancel_reason      text,
    completed_at       timestamptz,
    completed_by       text,
    results            jsonb
);

CREATE INDEX campaigns_by_last_change ON campaigns (last_changed_at, id);
CREATE INDEX campaigns_by_target_date ON campaigns (target_launch_date, id);
CREATE INDEX campaigns_by_team ON campaigns (team);
CREATE INDEX campaigns_by_owner ON campaigns (owner);
CREATE INDEX campaigns_by_channel ON campaigns USING gin (channels);

-- Every submitted version, exactly as submitted; never updated.
CREATE TABLE brief_versions (
    campaign_id   text        NOT NULL REFERENCES campaigns (id),
    version       integer     NOT NULL CHECK (version >= 1),
    brief         jsonb       NOT NULL,
    submitted_at  timestamptz NOT NULL,
    submitted_by  text        NOT NULL,
    event_id      uuid        NOT NULL UNIQUE,  -- the BriefSubmitted that announced it
    PRIMARY KEY (campaign_id, version)
);

-- Facts consumed from governance (gate decisions, launches), one row per business fact:
-- a redelivery under another event id hits the same key. No foreign key: a fact may
-- name a campaign this database does not hold, and it is kept rather than lost.
CREATE TABLE governance_facts (
    campaign_id    text        NOT NULL,
    fact_key       text        NOT NULL,
    event_type     text        NOT NULL,
    event_id       uuid        NOT NULL,
    brief_version  integer     NOT NULL,
    occurred_at    timestamptz NOT NULL,
    data           jsonb       NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, fact_key)
);
