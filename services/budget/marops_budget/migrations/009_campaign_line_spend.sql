-- What each campaign has spent on each line (its attributed spend, as spend_ledger counts
-- it), kept by the triggers that keep line_spend, in the same transaction: the threshold
-- check and the run-out forecast after every spend read a row per campaign instead of
-- summing the campaign's ledger (thousands of rows for a campaign an ad platform books
-- daily). spend_ledger stays the derived figure; a test holds the two equal.
CREATE TABLE campaign_line_spend (
    campaign_id text    NOT NULL,
    line_id     text    NOT NULL REFERENCES budget_lines (id),
    spent       numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, line_id)
);

CREATE FUNCTION campaign_line_spend_add(campaign text, line text, delta numeric) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO campaign_line_spend AS t (campaign_id, line_id, spent)
    SELECT $1, $2, $3 WHERE $2 IS NOT NULL AND $3 <> 0
    ON CONFLICT (campaign_id, line_id) DO UPDATE SET spent = t.spent + EXCLUDED.spent
$$;

-- line_spend first, then campaign_line_spend, in every trigger: one order of row locks.
CREATE OR REPLACE FUNCTION line_spend_on_spend() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        line := spend_line(OLD.resolution, OLD.resolution_line_id, OLD.budget_line_id, OLD.campaign_id, OLD.currency);
        PERFORM line_spend_add(line, -OLD.amount);
        PERFORM campaign_line_spend_add(OLD.campaign_id, line, -OLD.amount);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        line := spend_line(NEW.resolution, NEW.resolution_line_id, NEW.budget_line_id, NEW.campaign_id, NEW.currency);
        PERFORM line_spend_add(line, NEW.amount);
        PERFORM campaign_line_spend_add(NEW.campaign_id, line, NEW.amount);
    END IF;
    RETURN NULL;
END $$;

-- A campaign's line moves the spend that names no line of its own (nor finance's booking).
CREATE OR REPLACE FUNCTION line_spend_on_campaign() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_line text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.budget_line_id END;
    moved record;
BEGIN
    IF old_line IS NOT DISTINCT FROM NEW.budget_line_id THEN
        RETURN NULL;
    END IF;
    FOR moved IN
        SELECT l.id, sum(CASE WHEN l.id = NEW.budget_line_id THEN s.amount ELSE -s.amount END) AS delta
        FROM spends s JOIN budget_lines l ON l.currency = s.currency AND l.id IN (old_line, NEW.budget_line_id)
        WHERE s.campaign_id = NEW.campaign_id AND s.resolution IS NULL AND s.budget_line_id IS NULL
        GROUP BY l.id ORDER BY l.id
    LOOP
        PERFORM line_spend_add(moved.id, moved.delta);
        PERFORM campaign_line_spend_add(NEW.campaign_id, moved.id, moved.delta);
    END LOOP;
    RETURN NULL;
END $$;

-- The spends a line counts (what line_spend_on_line of 008 summed), with their campaigns.
CREATE FUNCTION spend_counted_on(line text, line_currency text) RETURNS TABLE (campaign_id text, amount numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.campaign_id, s.amount FROM spends s
    WHERE s.resolution = 'booked' AND s.resolution_line_id = $1 AND s.currency = $2
    UNION ALL
    SELECT s.campaign_id, s.amount FROM spends s
    WHERE s.resolution IS NULL AND s.budget_line_id = $1 AND s.currency = $2
    UNION ALL
    SELECT s.campaign_id, s.amount FROM campaigns c JOIN spends s ON s.campaign_id = c.campaign_id
    WHERE c.budget_line_id = $1 AND s.resolution IS NULL AND s.budget_line_id IS NULL AND s.currency = $2
$$;

-- A new line (or a line whose currency changed) counts what was already spent against it.
CREATE OR REPLACE FUNCTION line_spend_on_line() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO line_spend (line_id, spent)
    SELECT NEW.id, coalesce(sum(amount), 0) FROM spend_counted_on(NEW.id, NEW.currency)
    ON CONFLICT (line_id) DO UPDATE SET spent = EXCLUDED.spent;
    DELETE FROM campaign_line_spend WHERE line_id = NEW.id;
    INSERT INTO campaign_line_spend (campaign_id, line_id, spent)
    SELECT campaign_id, NEW.id, sum(amount) FROM spend_counted_on(NEW.id, NEW.currency)
    GROUP BY campaign_id ORDER BY campaign_id;
    RETURN NULL;
END $$;

INSERT INTO campaign_line_spend (campaign_id, line_id, spent)
SELECT campaign_id, line_id, sum(amount) FROM spend_ledger WHERE attribution = 'attributed'
GROUP BY campaign_id, line_id;
