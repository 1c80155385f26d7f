-- Outcome facts (SPEC section 4 "Outcome metrics"): the KPIs of every brief version, the
-- results reports, the risks and the retrospectives the review pack needs. Like the other
-- facts, each is kept once per natural key, the earliest (business time, event id) winning,
-- except risks, whose latest change is current.

-- The KPIs of each brief version, in brief order (a JSON array of the contract's Kpi), and
-- the flight, which spend pacing needs.
CREATE TABLE readmodel.brief_kpis (
    campaign_id   text        NOT NULL,
    version       integer     NOT NULL,
    submitted_at  timestamptz NOT NULL,
    event_id      uuid        NOT NULL,
    kpis          jsonb       NOT NULL,
    flight_start  date        NOT NULL,
    flight_end    date        NOT NULL,
    PRIMARY KEY (campaign_id, version)
);

-- One results report per (source system, source reference). A completion's results are a
-- report of source_system '' (no Identifier is empty, so no other system can collide with
-- it) and source_reference = the campaign id, as of the completion's UTC date.
CREATE TABLE readmodel.kpi_reports (
    source_system    text        NOT NULL,
    source_reference text        NOT NULL,
    event_id         uuid        NOT NULL,
    campaign_id      text        NOT NULL,
    as_of            date        NOT NULL,
    reported_at      timestamptz NOT NULL,
    results          jsonb       NOT NULL,   -- [{"metric": ..., "actual": "decimal string"}]
    PRIMARY KEY (source_system, source_reference)
);
CREATE INDEX kpi_reports_campaign ON readmodel.kpi_reports (campaign_id);

-- The latest state of each risk (RiskChanged): the latest (time, revision, event id) wins.
CREATE TABLE readmodel.risks (
    risk_id        text        PRIMARY KEY,
    campaign_id    text        NOT NULL,
    revision       integer     NOT NULL,
    changed_at     timestamptz NOT NULL,
    event_id       uuid        NOT NULL,
    description    text        NOT NULL,
    owner          text        NOT NULL,
    score          integer     NOT NULL,
    status         text        NOT NULL,
    blocks_launch  boolean     NOT NULL
);
CREATE INDEX risks_campaign ON readmodel.risks (campaign_id);
