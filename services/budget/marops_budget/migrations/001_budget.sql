-- Budget: the plan (lines), the facts consumed from other services, what budget decided
-- from them (reservation decisions, holds, threshold alerts) and the spend ledger.
-- Balances are never stored: they are derived from holds and spend by the views below.

-- ---------------------------------------------------------------- the plan
CREATE TABLE budget_lines (
    id          text PRIMARY KEY,
    name        text,
    fiscal_year integer NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 2200),
    quarter     smallint NOT NULL CHECK (quarter BETWEEN 1 AND 4),
    team        text NOT NULL,
    channel     text NOT NULL,
    amount      numeric NOT NULL CHECK (amount >= 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX budget_lines_plan ON budget_lines (fiscal_year, quarter, team, channel);

CREATE TABLE reallocations (
    id             uuid PRIMARY KEY,
    from_line_id   text NOT NULL REFERENCES budget_lines (id),
    to_line_id     text NOT NULL REFERENCES budget_lines (id),
    amount         numeric NOT NULL CHECK (amount > 0),
    currency       text NOT NULL,
    reason         text NOT NULL,
    reallocated_by text NOT NULL,
    reallocated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (from_line_id <> to_line_id)
);

-- Every change to a line's amount, so the plan's history can be read back.
CREATE TABLE line_changes (
    id               bigserial PRIMARY KEY,
    budget_line_id   text NOT NULL REFERENCES budget_lines (id),
    kind             text NOT NULL CHECK (kind IN ('created', 'adjusted', 'reallocated_out', 'reallocated_in')),
    delta            numeric NOT NULL,
    amount_after     numeric NOT NULL,
    reason           text,
    actor            text NOT NULL,
    reallocation_id  uuid REFERENCES reallocations (id),
    changed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX line_changes_by_line ON line_changes (budget_line_id, id);

-- ---------------------------------------------------------------- consumed facts
-- One row per campaign we have heard of; locked to serialise decisions per campaign.
CREATE TABLE campaigns (
    campaign_id   text PRIMARY KEY,
    first_seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE briefs (
    campaign_id    text NOT NULL,
    version        integer NOT NULL CHECK (version >= 1),
    title          text NOT NULL,
    team           text NOT NULL,
    budget_line_id text NOT NULL,
    amount         numeric NOT NULL,
    currency       text NOT NULL,
    flight_start   date NOT NULL,
    flight_end     date NOT NULL,
    submitted_at   timestamptz NOT NULL,
    event_id       uuid NOT NULL,
    PRIMARY KEY (campaign_id, version)
);

CREATE TABLE budget_gate_approvals (
    campaign_id   text NOT NULL,
    brief_version integer NOT NULL,
    gate_id       text NOT NULL,
    approved_at   timestamptz NOT NULL,
    event_id      uuid NOT NULL,
    PRIMARY KEY (campaign_id, brief_version, gate_id)
);

-- Outright rejections only (kind = rejected); "changes requested" holds nothing back.
CREATE TABLE outright_rejections (
    campaign_id   text NOT NULL,
    brief_version integer NOT NULL,
    gate_id       text NOT NULL,
    reason        text NOT NULL,
    rejected_at   timestamptz NOT NULL,
    event_id      uuid NOT NULL,
    PRIMARY KEY (campaign_id, brief_version, gate_id)
);

CREATE TABLE cancellations (
    campaign_id  text PRIMARY KEY,
    cancelled_by text NOT NULL,
    reason       text,
    cancelled_at timestamptz NOT NULL,
    event_id     uuid NOT NULL
);

-- ---------------------------------------------------------------- decisions
-- Exactly one decision per brief version: BudgetReserved or BudgetReservationRejected.
CREATE TABLE reservation_decisions (
    campaign_id    text NOT NULL,
    brief_version  integer NOT NULL,
    budget_line_id text NOT NULL,
    amount         numeric NOT NULL,
    currency       text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('reserved', 'rejected')),
    reason_code    text,
    reason         text,
    decided_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, brief_version)
);

-- What a campaign holds on a line right now (at most one hold per campaign).
CREATE TABLE holds (
    campaign_id    text PRIMARY KEY REFERENCES campaigns (campaign_id),
    budget_line_id text NOT NULL REFERENCES budget_lines (id),
    brief_version  integer NOT NULL,
    amount         numeric NOT NULL CHECK (amount >= 0),
    currency       text NOT NULL,
    status         text NOT NULL CHECK (status IN ('reserved', 'committed', 'released')),
    release_reason text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_by_line ON holds (budget_line_id) WHERE status IN ('reserved', 'committed');

CREATE TABLE threshold_alerts (
    campaign_id       text NOT NULL,
    threshold_percent integer NOT NULL,
    budget_line_id    text NOT NULL,
    committed         numeric NOT NULL,
    spent             numeric NOT NULL,
    currency          text NOT NULL,
    alerted_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, threshold_percent)
);

-- ---------------------------------------------------------------- the ledger
-- (source_system, source_reference) is the business identity of a spend: a re-sent
-- spend, whatever its event id or path (API, Kafka, our own event coming back), is a no-op.
CREATE TABLE spends (
    id                 bigserial PRIMARY KEY,
    source_system      text NOT NULL,
    source_reference   text NOT NULL,
    campaign_id        text NOT NULL,
    amount             numeric NOT NULL CHECK (amount <> 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    incurred_on        date NOT NULL,
    budget_line_id     text,
    corrects_reference text,
    description        text,
    origin             text NOT NULL CHECK (origin IN ('api', 'kafka')),
    historical         boolean NOT NULL DEFAULT false,
    event_id           uuid NOT NULL,
    recorded_by        text,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_system, source_reference)
);
CREATE INDEX spends_by_campaign ON spends (campaign_id);
CREATE INDEX spends_by_line ON spends (budget_line_id) WHERE budget_line_id IS NOT NULL;

-- ---------------------------------------------------------------- derived state
-- A campaign is described by its highest brief version (SPEC section 4).
CREATE VIEW current_briefs AS
SELECT DISTINCT ON (campaign_id) *
FROM briefs
ORDER BY campaign_id, version DESC;

-- Which line each spend counts against: the line it names, else its campaign's line.
-- Unattributed until that line is known; a late-known line in another currency never counts.
CREATE VIEW spend_ledger AS
SELECT s.*,
       l.id AS line_id,
       CASE
           WHEN l.id IS NULL THEN 'unattributed'
           WHEN l.currency <> s.currency THEN 'currency_mismatch'
           ELSE 'attributed'
       END AS attribution
FROM spends s
LEFT JOIN current_briefs cb ON cb.campaign_id = s.campaign_id
LEFT JOIN budget_lines l ON l.id = coalesce(s.budget_line_id, cb.budget_line_id);

-- Per (line, campaign): what is held and what is spent. A campaign consumes the larger of
-- the two, so spend beyond a commitment also uses up the line.
CREATE VIEW line_exposure AS
WITH held AS (
    SELECT budget_line_id AS line_id, campaign_id, amount AS held
    FROM holds WHERE status IN ('reserved', 'committed')
), spent AS (
    SELECT line_id, campaign_id, sum(amount) AS spent
    FROM spend_ledger WHERE attribution = 'attributed'
    GROUP BY line_id, campaign_id
)
SELECT coalesce(h.line_id, s.line_id) AS line_id,
       coalesce(h.campaign_id, s.campaign_id) AS campaign_id,
       coalesce(h.held, 0) AS held,
       coalesce(s.spent, 0) AS spent
FROM held h
FULL JOIN spent s ON s.line_id = h.line_id AND s.campaign_id = h.campaign_id;

CREATE VIEW line_balances AS
SELECT l.*,
       coalesce((SELECT sum(h.amount) FROM holds h
                 WHERE h.budget_line_id = l.id AND h.status = 'reserved'), 0) AS reserved,
       coalesce((SELECT sum(h.amount) FROM holds h
                 WHERE h.budget_line_id = l.id AND h.status = 'committed'), 0) AS committed,
       coalesce((SELECT sum(s.amount) FROM spend_ledger s
                 WHERE s.line_id = l.id AND s.attribution = 'attributed'), 0) AS spent,
       coalesce((SELECT sum(greatest(e.held, e.spent)) FROM line_exposure e
                 WHERE e.line_id = l.id), 0) AS exposure
FROM budget_lines l;
