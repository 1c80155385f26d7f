-- Change in flight. A change request of a committed campaign that asks for more money
-- reserves the difference as a top-up on the campaign's hold, under the same line lock and
-- the same rule as a reservation; the commitment itself moves only when governance
-- approves the change (ChangeDecided), and a rejected change drops the top-up.
ALTER TABLE holds ADD COLUMN top_up numeric NOT NULL DEFAULT 0 CHECK (top_up >= 0);

CREATE TABLE change_requests (
    change_id       text        PRIMARY KEY,
    campaign_id     text        NOT NULL,
    brief_version   integer     NOT NULL,
    base_version    integer     NOT NULL,
    budget_line_id  text        NOT NULL,
    amount          numeric     NOT NULL,
    currency        text        NOT NULL,
    title           text        NOT NULL,
    team            text        NOT NULL,
    flight_start    date        NOT NULL,
    flight_end      date        NOT NULL,
    requested_at    timestamptz NOT NULL,
    event_id        uuid        NOT NULL,
    -- requested -> reserved | refused (the top-up, or nothing to top up) -> committed | dropped
    state           text        NOT NULL DEFAULT 'requested'
                    CHECK (state IN ('requested', 'reserved', 'refused', 'committed', 'dropped'))
);
CREATE INDEX change_requests_campaign ON change_requests (campaign_id, brief_version);

-- ChangeDecided, kept apart: it may arrive before the request it decides.
CREATE TABLE change_outcomes (
    change_id    text        PRIMARY KEY,
    campaign_id  text        NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('approved', 'rejected')),
    decided_at   timestamptz NOT NULL,
    event_id     uuid        NOT NULL
);

-- The top-up counts like the hold it tops up: what a campaign holds is amount + top_up.
CREATE OR REPLACE VIEW line_exposure AS
WITH held AS (
    SELECT budget_line_id AS line_id, campaign_id, amount + top_up AS held
    FROM holds WHERE status IN ('reserved', 'committed')
), spent AS (
    SELECT line_id, campaign_id, sum(amount) AS spent
    FROM spend_ledger WHERE attribution = 'attributed'
    GROUP BY line_id, campaign_id
)
SELECT coalesce(h.line_id, s.line_id) AS line_id,
       coalesce(h.campaign_id, s.campaign_id) AS campaign_id,
       coalesce(h.held, 0) AS held,
       coalesce(s.spent, 0) AS spent,
       greatest(coalesce(h.held, 0), coalesce(s.spent, 0)) AS used
FROM held h
FULL JOIN spent s ON s.line_id = h.line_id AND s.campaign_id = h.campaign_id;

CREATE OR REPLACE VIEW line_balances AS
SELECT l.*,
       coalesce((SELECT sum(h.amount) FROM holds h
                 WHERE h.budget_line_id = l.id AND h.status = 'reserved'), 0)
       + coalesce((SELECT sum(h.top_up) FROM holds h
                   WHERE h.budget_line_id = l.id AND h.status IN ('reserved', 'committed')), 0) AS reserved,
       coalesce((SELECT sum(h.amount) FROM holds h
                 WHERE h.budget_line_id = l.id AND h.status = 'committed'), 0) AS committed,
       coalesce((SELECT sum(s.amount) FROM spend_ledger s
                 WHERE s.line_id = l.id AND s.attribution = 'attributed'), 0) AS spent,
       coalesce((SELECT sum(e.used) FROM line_exposure e
                 WHERE e.line_id = l.id), 0) AS exposure
FROM budget_lines l;
