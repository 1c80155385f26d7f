-- What each line has spent (its attributed spend, as spend_ledger counts it), kept by
-- triggers in the transaction that changes a spend, a campaign's line or a line, so the
-- run-out forecast after every spend reads one row instead of summing the line's ledger
-- (line_balances.spent stays the derived figure; a test holds the two equal).
--
-- A spend counts against a line when it is not excluded, its line (finance's booking, else
-- the line it names, else its campaign's) exists and the currencies match.
CREATE TABLE line_spend (
    line_id text    PRIMARY KEY REFERENCES budget_lines (id),
    spent   numeric NOT NULL DEFAULT 0
);

CREATE FUNCTION spend_line(resolution text, resolution_line_id text, budget_line_id text, campaign_id text,
                           currency text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT l.id FROM budget_lines l
    WHERE l.currency = $5 AND $1 IS DISTINCT FROM 'excluded'
      AND l.id = coalesce($2, $3, (SELECT c.budget_line_id FROM campaigns c WHERE c.campaign_id = $4))
$$;

CREATE FUNCTION line_spend_add(line text, delta numeric) RETURNS void
LANGUAGE sql AS $$
    UPDATE line_spend SET spent = spent + $2 WHERE line_id = $1 AND $2 <> 0
$$;

CREATE FUNCTION line_spend_on_spend() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM line_spend_add(spend_line(OLD.resolution, OLD.resolution_line_id, OLD.budget_line_id,
                                          OLD.campaign_id, OLD.currency), -OLD.amount);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM line_spend_add(spend_line(NEW.resolution, NEW.resolution_line_id, NEW.budget_line_id,
                                          NEW.campaign_id, NEW.currency), NEW.amount);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER line_spend_on_spend AFTER INSERT OR DELETE OR UPDATE OF
    amount, currency, resolution, resolution_line_id, budget_line_id, campaign_id ON spends
    FOR EACH ROW EXECUTE FUNCTION line_spend_on_spend();

-- A campaign's line moves the spend that names no line of its own (nor finance's booking).
CREATE FUNCTION line_spend_on_campaign() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_line text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.budget_line_id END;
BEGIN
    IF old_line IS NOT DISTINCT FROM NEW.budget_line_id THEN
        RETURN NULL;
    END IF;
    UPDATE line_spend ls SET spent = ls.spent + moved.delta
    FROM (SELECT l.id, sum(CASE WHEN l.id = NEW.budget_line_id THEN s.amount ELSE -s.amount END) AS delta
          FROM spends s JOIN budget_lines l ON l.currency = s.currency
                                           AND l.id IN (old_line, NEW.budget_line_id)
          WHERE s.campaign_id = NEW.campaign_id AND s.resolution IS NULL AND s.budget_line_id IS NULL
          GROUP BY l.id) moved
    WHERE ls.line_id = moved.id;
    RETURN NULL;
END $$;

CREATE TRIGGER line_spend_on_campaign AFTER INSERT OR UPDATE OF budget_line_id ON campaigns
    FOR EACH ROW EXECUTE FUNCTION line_spend_on_campaign();

-- A new line (or a line whose currency changed) counts what was already spent against it
-- (spend naming a line that did not exist yet, or whose campaign's line did not).
CREATE INDEX spends_booked_on ON spends (resolution_line_id) WHERE resolution_line_id IS NOT NULL;
CREATE INDEX campaigns_by_line ON campaigns (budget_line_id) WHERE budget_line_id IS NOT NULL;

CREATE FUNCTION line_spend_on_line() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO line_spend (line_id, spent)
    SELECT NEW.id, coalesce(sum(amount), 0) FROM (
        SELECT s.amount FROM spends s
        WHERE s.resolution = 'booked' AND s.resolution_line_id = NEW.id AND s.currency = NEW.currency
        UNION ALL
        SELECT s.amount FROM spends s
        WHERE s.resolution IS NULL AND s.budget_line_id = NEW.id AND s.currency = NEW.currency
        UNION ALL
        SELECT s.amount FROM campaigns c JOIN spends s ON s.campaign_id = c.campaign_id
        WHERE c.budget_line_id = NEW.id AND s.resolution IS NULL AND s.budget_line_id IS NULL
          AND s.currency = NEW.currency
    ) counted
    ON CONFLICT (line_id) DO UPDATE SET spent = EXCLUDED.spent;
    RETURN NULL;
END $$;

CREATE TRIGGER line_spend_on_line AFTER INSERT OR UPDATE OF currency ON budget_lines
    FOR EACH ROW EXECUTE FUNCTION line_spend_on_line();

INSERT INTO line_spend (line_id, spent)
SELECT l.id, coalesce((SELECT sum(s.amount) FROM spend_ledger s
                       WHERE s.line_id = l.id AND s.attribution = 'attributed'), 0)
FROM budget_lines l;
