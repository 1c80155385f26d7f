-- Team capacity: a default per week and per-week overrides, in the team's unit (hours or
-- points). Demand and cycle times are derived from campaigns, brief_versions and the
-- launches in governance_facts; nothing else is stored.
CREATE TABLE team_capacity (
    team       text PRIMARY KEY,
    unit       text NOT NULL CHECK (unit IN ('hours', 'points')),
    weekly     numeric NOT NULL CHECK (weekly >= 0),
    set_by     text NOT NULL,
    set_at     timestamptz NOT NULL
);

CREATE TABLE team_capacity_weeks (
    team       text NOT NULL REFERENCES team_capacity (team),
    week       date NOT NULL CHECK (extract(isodow FROM week) = 1),  -- the Monday of an ISO week
    capacity   numeric NOT NULL CHECK (capacity >= 0),
    PRIMARY KEY (team, week)
);

CREATE INDEX governance_facts_launches ON governance_facts (campaign_id) WHERE event_type = 'CampaignLaunched';
