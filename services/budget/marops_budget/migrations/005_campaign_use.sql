-- What a campaign uses of a line, written once: the larger of what it holds there and
-- what it spent there (spend beyond a commitment also uses up the line). Every balance
-- sums line_exposure.used; domain.campaign_use is the same rule for the Python side
-- (tests/integration/test_budget_money_rule.py holds the two to each other).
CREATE OR REPLACE VIEW line_exposure AS
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
       coalesce(s.spent, 0) AS spent,
       greatest(coalesce(h.held, 0), coalesce(s.spent, 0)) AS used
FROM held h
FULL JOIN spent s ON s.line_id = h.line_id AND s.campaign_id = h.campaign_id;

CREATE OR REPLACE VIEW line_balances AS
SELECT l.*,
       coalesce((SELECT sum(h.amount) FROM holds h
                 WHERE h.budget_line_id = l.id AND h.status = 'reserved'), 0) AS reserved,
       coalesce((SELECT sum(h.amount) FROM holds h
                 WHERE h.budget_line_id = l.id AND h.status = 'committed'), 0) AS committed,
       coalesce((SELECT sum(s.amount) FROM spend_ledger s
                 WHERE s.line_id = l.id AND s.attribution = 'attributed'), 0) AS spent,
       coalesce((SELECT sum(e.used) FROM line_exposure e
                 WHERE e.line_id = l.id), 0) AS exposure
FROM budget_lines l;
