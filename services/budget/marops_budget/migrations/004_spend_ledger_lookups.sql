-- Reading one spend, or one campaign's spends, must cost what it reads, not what the
-- ledger holds. spend_ledger found a spend's campaign line through the current_briefs
-- view, whose DISTINCT ON over every brief ran for each query (tens of milliseconds per
-- spend event at 10 000 campaigns). The campaign row now carries its highest brief
-- version's line, kept current by insert_brief, and the view joins it by primary key.
-- (Same columns as in 002.)

ALTER TABLE campaigns ADD COLUMN brief_version integer;
ALTER TABLE campaigns ADD COLUMN budget_line_id text;
UPDATE campaigns c SET brief_version = cb.version, budget_line_id = cb.budget_line_id
FROM current_briefs cb WHERE cb.campaign_id = c.campaign_id;

CREATE INDEX spend_reconciliation_state_by_campaign ON spend_reconciliation_state (campaign_id);

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
LEFT JOIN campaigns cb ON cb.campaign_id = s.campaign_id
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
