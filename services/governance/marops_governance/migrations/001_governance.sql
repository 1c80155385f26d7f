-- Governance stores facts (what was submitted, decided, reserved, accepted) and derives
-- gate state from them, so events may arrive in any order and more than once.

-- Policy versions are immutable: an edit is a new version. A brief version is governed by
-- the version in force (effective_from) when it was submitted.
CREATE TABLE policy_versions (
    version         integer     PRIMARY KEY CHECK (version >= 1),
    document        jsonb       NOT NULL,
    effective_from  timestamptz NOT NULL,
    created_by      text        NOT NULL,
    reason          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per submitted brief version (BriefSubmitted), with what governance needs of it.
CREATE TABLE brief_versions (
    campaign_id        text        NOT NULL,
    version            integer     NOT NULL CHECK (version >= 1),
    submitted_at       timestamptz NOT NULL,
    requester          text        NOT NULL,
    owner              text        NOT NULL,
    team               text        NOT NULL,
    title              text        NOT NULL,
    channels           text[]      NOT NULL,
    amount             numeric     NOT NULL,
    currency           char(3)     NOT NULL,
    budget_line_id     text        NOT NULL,
    kpis               jsonb       NOT NULL,
    tracking_plan      jsonb,
    raci               jsonb       NOT NULL,
    target_launch_date date        NOT NULL,
    policy_version     integer     NOT NULL REFERENCES policy_versions (version),
    event_id           uuid        NOT NULL,
    correlation_id     text        NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, version)
);

CREATE TABLE cancellations (
    campaign_id   text        PRIMARY KEY,
    cancelled_at  timestamptz NOT NULL,
    cancelled_by  text        NOT NULL,
    reason        text,
    event_id      uuid        NOT NULL
);

-- Budget's answers per brief version: reserved / reservation_rejected / committed.
-- A later answer of the same kind (by business time) replaces an earlier one.
CREATE TABLE budget_facts (
    campaign_id     text        NOT NULL,
    brief_version   integer     NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('reserved', 'reservation_rejected', 'committed')),
    budget_line_id  text        NOT NULL,
    amount          numeric     NOT NULL,
    currency        char(3)     NOT NULL,
    reason_code     text,
    reason          text,
    occurred_at     timestamptz NOT NULL,
    event_id        uuid        NOT NULL,
    PRIMARY KEY (campaign_id, brief_version, kind)
);

-- BudgetReleased names no brief version; one release is identified by its business time.
CREATE TABLE budget_releases (
    campaign_id     text        NOT NULL,
    released_at     timestamptz NOT NULL,
    reason          text        NOT NULL,
    budget_line_id  text        NOT NULL,
    amount          numeric     NOT NULL,
    currency        char(3)     NOT NULL,
    event_id        uuid        NOT NULL,
    PRIMARY KEY (campaign_id, released_at, reason)
);

-- Every approval and rejection; the gate state is derived from these.
CREATE TABLE gate_decisions (
    id              uuid        PRIMARY KEY,
    campaign_id     text        NOT NULL,
    brief_version   integer     NOT NULL,
    gate_id         text        NOT NULL,
    policy_version  integer     NOT NULL REFERENCES policy_versions (version),
    approve         boolean     NOT NULL,
    rejection_kind  text        CHECK (rejection_kind IN ('changes_requested', 'rejected')),
    reason          text,
    decided_by      text        NOT NULL,
    decided_at      timestamptz NOT NULL,
    CHECK (approve OR (rejection_kind IS NOT NULL AND reason IS NOT NULL)),
    UNIQUE (campaign_id, brief_version, gate_id, decided_by)
);
CREATE INDEX gate_decisions_campaign ON gate_decisions (campaign_id, brief_version);

CREATE TABLE launches (
    campaign_id    text        PRIMARY KEY,
    brief_version  integer     NOT NULL,
    launched_by    text        NOT NULL,
    launched_at    timestamptz NOT NULL,
    readiness      jsonb       NOT NULL
);

-- RACI edits by ops_admin; the effective RACI is the latest of these and the briefs' own.
CREATE TABLE raci_edits (
    id           bigserial   PRIMARY KEY,
    campaign_id  text        NOT NULL,
    raci         jsonb       NOT NULL,
    edited_by    text        NOT NULL,
    edited_at    timestamptz NOT NULL,
    reason       text
);
CREATE INDEX raci_edits_campaign ON raci_edits (campaign_id, edited_at);

CREATE TABLE risks (
    id                 uuid        PRIMARY KEY,
    campaign_id        text        NOT NULL,
    description        text        NOT NULL,
    owner              text        NOT NULL,
    probability        smallint    NOT NULL CHECK (probability BETWEEN 1 AND 5),
    impact             smallint    NOT NULL CHECK (impact BETWEEN 1 AND 5),
    score              smallint    GENERATED ALWAYS AS (probability * impact) STORED,
    mitigation         text,
    status             text        NOT NULL CHECK (status IN ('open', 'mitigated', 'accepted', 'closed')),
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    accepted_by        text,
    accepted_at        timestamptz,
    acceptance_reason  text,
    CHECK (status <> 'accepted' OR (accepted_by IS NOT NULL AND acceptance_reason IS NOT NULL))
);
CREATE INDEX risks_campaign ON risks (campaign_id, created_at);

-- The audit trail: every decision, policy change, risk change and lifecycle fact.
CREATE TABLE audit_log (
    id              bigserial   PRIMARY KEY,
    campaign_id     text,
    action          text        NOT NULL,
    actor           text        NOT NULL,
    at              timestamptz NOT NULL,
    reason          text,
    policy_version  integer,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_campaign ON audit_log (campaign_id, id);

-- Immutability is enforced by the database, not by convention.
CREATE FUNCTION governance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse_change();
CREATE TRIGGER policy_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON policy_versions
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse_change();
CREATE TRIGGER gate_decisions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gate_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse_change();
