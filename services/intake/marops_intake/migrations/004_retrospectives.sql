-- A completed campaign's retrospective (the owner's, or ops_admin's): the current revision
-- per campaign; recording it again replaces it and publishes the next revision.
CREATE TABLE retrospectives (
    campaign_id        text        PRIMARY KEY REFERENCES campaigns (id),
    revision           integer     NOT NULL,
    recorded_by        text        NOT NULL,
    recorded_at        timestamptz NOT NULL,
    what_worked        text[]      NOT NULL,
    what_did_not_work  text[]      NOT NULL,
    actions            jsonb       NOT NULL
);

-- Its lessons, one row each, so they can be searched across campaigns (PostgreSQL full-text
-- search, English stemming: "launching pages" finds "landing page launched late").
CREATE TABLE lessons (
    campaign_id  text        NOT NULL REFERENCES retrospectives (campaign_id),
    position     integer     NOT NULL,
    text         text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    search       tsvector    GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    PRIMARY KEY (campaign_id, position)
);
CREATE INDEX lessons_search ON lessons USING gin (search);
CREATE INDEX lessons_recent ON lessons (recorded_at DESC, campaign_id, position);
