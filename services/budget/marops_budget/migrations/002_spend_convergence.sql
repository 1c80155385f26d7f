-- Spend converges on the earliest copy and unbookable spend waits for finance.
--
-- A spend's business identity is (source_system, source_reference). The copy kept is the
-- one with the earliest (occurred_at, event_id), like metrics (SPEC section 4), whatever
-- the arrival order: a later-arriving earlier copy replaces the one booked before it.
-- A spend budget cannot book against a line (unknown campaign or line, line in another
-- currency) is *unreconciled* until its line becomes known or finance resolves it.

ALTER TABLE spends ADD COLUMN occurred_at timestamptz;
UPDATE spends SET occurred_at = recorded_at;
ALTER TABLE spends ALTER COLUMN occurred_at SET NOT NULL;

-- Finance's resolution of an unreconciled spend (the audit trail is spend_resolutions).
ALTER TABLE spends ADD COLUMN resolution text CHECK (resolution IN ('booked', 'excluded'));
ALTER TABLE spends ADD COLUMN resolution_line_id text REFERENCES budget_lines (id);
ALTER TABLE spends ADD COLUMN resolved_by text;
ALTER TABLE spends ADD COLUMN resolution_note text;
ALTER TABLE spends ADD COLUMN resolved_at timestamptz;
ALTER TABLE spends ADD CONSTRAINT spends_booked_names_a_line
    CHECK ((resolution = 'booked') = (resolution_line_id IS NOT NULL));

CREATE TABLE spend_resolutions (
    id               bigserial PRIMARY KEY,
    spend_id         bigint NOT NULL REFERENCES spends (id),
    resolution       text NOT NULL CHECK (resolution IN ('booked', 'excluded')),
    budget_line_id   text REFERENCES budget_lines (id),
    reason           text NOT NULL,
    resolved_by      text NOT NULL,
    resolved_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spend_resolutions_by_spend ON spend_resolutions (spend_id, id);

-- Copies that were booked and then replaced by an earlier copy with other content.
-- (A later copy with other content is refused to the dead-letter topic instead.)
CREATE TABLE superseded_spends (
    id                 bigserial PRIMARY KEY,
    spend_id           bigint NOT NULL REFERENCES spends (id),
    event_id           uuid NOT NULL,
    occurred_at        timestamptz NOT NULL,
    campaign_id        text NOT NULL,
    amount             numeric NOT NULL,
    currency           text NOT NULL,
    incurred_on        date NOT NULL,
    budget_line_id     text,
    corrects_reference text,
    replaced_by_event  uuid NOT NULL,
    replaced_at        timestamptz NOT NULL DEFAULT now()
);

-- What budget last told others (SpendReconciliationChanged) about each spend.
CREATE TABLE spend_reconciliation_state (
    source_system    text NOT NULL,
    source_reference text NOT NULL,
    revision         integer NOT NULL CHECK (revision >= 1),
    campaign_id      text NOT NULL,
    amount           numeric NOT NULL,
    currency         text NOT NULL,
    status           text NOT NULL,
    reason_code      text,
    resolution       text,
    budget_line_id   text,
    PRIMARY KEY (source_system, source_reference)
);

-- The views read spends.*: recreate them over the new columns.
DROP VIEW line_balances;
DROP VIEW line_exposure;
DROP VIEW spend_ledger;

-- Which line each spend counts against: finance's booking, else the line it names, else its
-- campaign's line. ``reconciliation`` says whether budget could book it (or finance
-- excluded it on purpose); ``unreconciled_reason`` why not. Imported history that budget
-- cannot book is 'historical': it was never budget's to book, so it waits for nobody.
CREATE VIEW spend_ledger AS
SELECT s.*,
       CASE WHEN s.resolution = 'excluded' THEN NULL ELSE l.id END AS line_id,
       CASE
           WHEN s.resolution = 'excluded' THEN 'excluded'
           WHEN l.id IS NULL THEN 'unattributed'
           WHEN l.currency <> s.currency THEN 'currency_mismatch'
           ELSE 'attributed'
       END AS attribution,
       CASE
           WHEN s.resolution = 'excluded' OR l.currency = s.currency THEN 'reconciled'
           WHEN s.historical THEN 'historical'
           ELSE 'unreconciled'
       END AS reconciliation,
       CASE
           WHEN s.resolution = 'excluded' OR l.currency = s.currency OR s.historical THEN NULL
           WHEN coalesce(s.resolution_line_id, s.budget_line_id, cb.budget_line_id) IS NULL THEN 'unknown_campaign'
           WHEN l.id IS NULL THEN 'unknown_line'
           ELSE 'currency_mismatch'
       END AS unreconciled_reason,
       coalesce(s.resolution_line_id, s.budget_line_id, cb.budget_line_id) AS wanted_line_id,
       l.currency AS line_currency
FROM spends s
LEFT JOIN current_briefs cb ON cb.campaign_id = s.campaign_id
LEFT JOIN budget_lines l ON l.id = coalesce(s.resolution_line_id, s.budget_line_id, cb.budget_line_id);

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
