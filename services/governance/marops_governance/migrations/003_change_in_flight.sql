-- Change in flight. A change request's proposal is a brief version like a submission,
-- marked with its change: what it changes and the gates the policy's change rules named
-- for it (fixed when it was requested, like the policy version of a submission).
ALTER TABLE brief_versions
    ADD COLUMN change_id     text,
    ADD COLUMN base_version  integer,
    ADD COLUMN changes       text[],
    ADD COLUMN change_reason text,
    ADD COLUMN change_gates  text[];

-- How each change request ended (ChangeDecided, published in the same transaction).
CREATE TABLE change_outcomes (
    change_id      text        PRIMARY KEY,
    campaign_id    text        NOT NULL,
    brief_version  integer     NOT NULL,
    outcome        text        NOT NULL CHECK (outcome IN ('approved', 'rejected')),
    decided_by     text        NOT NULL,
    decided_at     timestamptz NOT NULL,
    reason         text
);
CREATE INDEX change_outcomes_campaign ON change_outcomes (campaign_id);

-- Pauses (CampaignPaused / CampaignResumed, either may arrive first): no launch while one
-- is in force.
CREATE TABLE pauses (
    campaign_id  text        NOT NULL,
    pause        integer     NOT NULL,
    paused_at    timestamptz,
    resumed_at   timestamptz,
    PRIMARY KEY (campaign_id, pause)
);
