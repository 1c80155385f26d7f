-- The read model: raw facts from every topic, stored idempotently under natural keys.
-- Aggregates are computed from these facts at query time, so any arrival order and any
-- number of duplicates give the same tables.
--
-- Everything lives in its own schema: a rebuild fills a fresh copy (readmodel_rebuild,
-- created LIKE these tables) and swaps it in with schema renames in one transaction.
-- No sequences or foreign keys, so a LIKE copy is complete.
CREATE SCHEMA readmodel;

-- Every applied event, for per-campaign timelines and freshness.
CREATE TABLE readmodel.event_log (
    event_id     uuid        PRIMARY KEY,
    event_type   text        NOT NULL,
    campaign_id  text,                       -- null for budget-line events (BudgetReallocated)
    subject      text        NOT NULL,
    occurred_at  timestamptz NOT NULL,       -- the envelope's business time
    source       text        NOT NULL,
    data         jsonb       NOT NULL
);
CREATE INDEX event_log_campaign ON readmodel.event_log (campaign_id, occurred_at);
CREATE INDEX event_log_type ON readmodel.event_log (event_type, occurred_at);

-- One row per submitted brief version; the earliest (time, event id) wins a conflict.
CREATE TABLE readmodel.brief_versions (
    campaign_id         text        NOT NULL,
    version             integer     NOT NULL,
    submitted_at        timestamptz NOT NULL,
    event_id            uuid        NOT NULL,
    title               text        NOT NULL,
    team                text        NOT NULL,
    owner               text        NOT NULL,
    requester           text        NOT NULL,
    channels            text[]      NOT NULL,
    target_launch_date  date        NOT NULL,
    requested_amount    numeric     NOT NULL,
    requested_currency  text        NOT NULL,
    budget_line_id      text        NOT NULL,
    PRIMARY KEY (campaign_id, version)
);

-- Gate decisions: at most one approval and one rejection per gate and brief version.
CREATE TABLE readmodel.gate_decisions (
    campaign_id     text        NOT NULL,
    brief_version   integer     NOT NULL,
    gate_id         text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('approved', 'rejected')),
    decided_at      timestamptz NOT NULL,    -- the decision event's business time
    event_id        uuid        NOT NULL,
    gate_name       text        NOT NULL,
    gate_kind       text        NOT NULL,
    gate_position   integer     NOT NULL,
    is_last_gate    boolean     NOT NULL,
    actionable_at   timestamptz NOT NULL,
    sla_hours       integer     NOT NULL,
    decided_by      text        NOT NULL,
    policy_version  integer     NOT NULL,
    rejection_kind  text,
    PRIMARY KEY (campaign_id, brief_version, gate_id, outcome)
);

CREATE TABLE readmodel.launches (
    campaign_id            text        PRIMARY KEY,
    launched_at            timestamptz NOT NULL,
    event_id               uuid        NOT NULL,
    brief_version          integer     NOT NULL,
    launched_by            text        NOT NULL,
    all_gates_approved     boolean     NOT NULL,
    kpis_with_targets      boolean     NOT NULL,
    tracking_plan_defined  boolean     NOT NULL,
    budget_committed       boolean     NOT NULL
);

CREATE TABLE readmodel.cancellations (
    campaign_id   text        PRIMARY KEY,
    cancelled_at  timestamptz NOT NULL,
    event_id      uuid        NOT NULL
);

CREATE TABLE readmodel.completions (
    campaign_id   text        PRIMARY KEY,
    completed_at  timestamptz NOT NULL,
    event_id      uuid        NOT NULL
);

-- Every commitment; "committed" is the latest one, chosen at query time.
CREATE TABLE readmodel.commitments (
    event_id        uuid        PRIMARY KEY,
    campaign_id     text        NOT NULL,
    brief_version   integer     NOT NULL,
    budget_line_id  text        NOT NULL,
    amount          numeric     NOT NULL,
    currency        text        NOT NULL,
    committed_at    timestamptz NOT NULL
);
CREATE INDEX commitments_campaign ON readmodel.commitments (campaign_id);

CREATE TABLE readmodel.releases (
    event_id        uuid        PRIMARY KEY,
    campaign_id     text        NOT NULL,
    budget_line_id  text        NOT NULL,
    amount          numeric     NOT NULL,
    currency        text        NOT NULL,
    reason          text        NOT NULL,
    released_at     timestamptz NOT NULL
);
CREATE INDEX releases_campaign ON readmodel.releases (campaign_id);

-- A spend counts once per (source system, source reference): the earliest event wins.
CREATE TABLE readmodel.spends (
    source_system       text        NOT NULL,
    source_reference    text        NOT NULL,
    event_id            uuid        NOT NULL,
    campaign_id         text        NOT NULL,
    amount              numeric     NOT NULL,
    currency            text        NOT NULL,
    incurred_on         date        NOT NULL,
    budget_line_id      text,
    corrects_reference  text,
    recorded_at         timestamptz NOT NULL,
    PRIMARY KEY (source_system, source_reference)
);
CREATE INDEX spends_campaign ON readmodel.spends (campaign_id);
