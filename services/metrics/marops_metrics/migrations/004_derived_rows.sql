-- Derived rows kept current by the projection, so reports aggregate in SQL instead of
-- loading every fact per request. Each batch recomputes the rows of the campaigns it
-- touched, with the domain's own functions (the numbers stay those of SPEC section 4).

-- Who wrote a version: its requester and any listed authors (for access to the campaign).
ALTER TABLE readmodel.brief_versions ADD COLUMN authors text[] NOT NULL DEFAULT '{}';
UPDATE readmodel.brief_versions SET authors = ARRAY[requester];

-- Per decision: time in gate (hours, as the domain computes it) and the SLA verdict.
ALTER TABLE readmodel.gate_decisions ADD COLUMN hours_in_gate double precision,
                                     ADD COLUMN breached_sla boolean;
UPDATE readmodel.gate_decisions
SET hours_in_gate = extract(epoch FROM decided_at - actionable_at)::double precision / 3600,
    breached_sla = decided_at > actionable_at + make_interval(hours => sla_hours);
ALTER TABLE readmodel.gate_decisions ALTER COLUMN hours_in_gate SET NOT NULL,
                                     ALTER COLUMN breached_sla SET NOT NULL;
CREATE INDEX gate_decisions_gate ON readmodel.gate_decisions (gate_id) INCLUDE (outcome, hours_in_gate);

-- One row per campaign any fact mentions: its description and every per-campaign measure.
CREATE TABLE readmodel.campaigns (
    campaign_id           text        PRIMARY KEY,
    title                 text,
    team                  text,
    owner                 text,
    authors               text[]      NOT NULL,   -- requesters and authors of every version
    channels              text[]      NOT NULL,
    status                text        NOT NULL,
    submitted             boolean     NOT NULL,
    latest_version        integer     NOT NULL,
    revisions             integer     NOT NULL,
    rejections            integer     NOT NULL,
    first_submitted_at    timestamptz,
    submitted_on          date,                   -- UTC date of the first submission
    submission_quarter    text,                   -- "2026-Q1", of the first submission
    target_launch_date    date,
    launched_at           timestamptz,
    launched_on           date,                   -- UTC date of the launch
    launch_quarter        text,
    on_time               boolean,
    cycle_time_hours      double precision,
    data_complete         boolean,
    cancelled_at          timestamptz,
    completed_at          timestamptz,
    budget_line_id        text,                   -- the committed line, else the brief's
    default_spend_line    text,                   -- where a spend without its own line counts
    committed_line_id     text,
    committed             numeric,                -- null without a commitment
    committed_currency    text
);
CREATE INDEX campaigns_team ON readmodel.campaigns (team);
CREATE INDEX campaigns_owner ON readmodel.campaigns (owner);
CREATE INDEX campaigns_authors ON readmodel.campaigns USING gin (authors);
CREATE INDEX campaigns_channels ON readmodel.campaigns USING gin (channels);
CREATE INDEX campaigns_submitted_on ON readmodel.campaigns (submitted_on);
CREATE INDEX campaigns_launched_on ON readmodel.campaigns (launched_on);
CREATE INDEX campaigns_submission_quarter ON readmodel.campaigns (submission_quarter);
CREATE INDEX campaigns_launch_quarter ON readmodel.campaigns (launch_quarter);

-- Per campaign and currency: committed (in the commitment's currency) and actual spend.
CREATE TABLE readmodel.campaign_money (
    campaign_id  text     NOT NULL,
    currency     text     NOT NULL,
    committed    numeric  NOT NULL,
    actual       numeric  NOT NULL,
    unreconciled numeric  NOT NULL,   -- the part of actual budget has not booked yet
    has_spend    boolean  NOT NULL,
    PRIMARY KEY (campaign_id, currency)
);

CREATE INDEX event_log_campaign_order ON readmodel.event_log (campaign_id, occurred_at, event_id);
