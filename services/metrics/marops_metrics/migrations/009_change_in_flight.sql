-- Change in flight (SPEC section 4, last outcome bullet): change requests and their
-- decisions, and pauses with their ends, each once per natural key (earliest copy wins).
CREATE TABLE readmodel.change_requests (
    change_id      text        PRIMARY KEY,
    campaign_id    text        NOT NULL,
    brief_version  integer     NOT NULL,
    changes        text[]      NOT NULL,
    requested_at   timestamptz NOT NULL,
    event_id       uuid        NOT NULL
);
CREATE INDEX change_requests_campaign ON readmodel.change_requests (campaign_id);

CREATE TABLE readmodel.change_decisions (
    change_id      text        PRIMARY KEY,
    campaign_id    text        NOT NULL,
    outcome        text        NOT NULL,
    decided_at     timestamptz NOT NULL,
    event_id       uuid        NOT NULL
);
CREATE INDEX change_decisions_campaign ON readmodel.change_decisions (campaign_id);

-- CampaignPaused / CampaignResumed name the pause they start or end, so either may arrive
-- first: time_paused sums resumed_at - paused_at over pauses with both.
CREATE TABLE readmodel.pause_starts (
    campaign_id  text        NOT NULL,
    pause        integer     NOT NULL,
    paused_at    timestamptz NOT NULL,
    event_id     uuid        NOT NULL,
    PRIMARY KEY (campaign_id, pause)
);

CREATE TABLE readmodel.pause_ends (
    campaign_id  text        NOT NULL,
    pause        integer     NOT NULL,
    resumed_at   timestamptz NOT NULL,
    event_id     uuid        NOT NULL,
    PRIMARY KEY (campaign_id, pause)
);
