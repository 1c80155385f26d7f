-- A line's spend is the sum of its campaigns' (campaign_line_spend): line_spend kept the same
-- figure a second time, in one row per line that every spend on the line updated. That row
-- was locked from the spend's insert to its commit, so spends on one line (an ad platform
-- booking many campaigns of one budget) queued behind each other for their whole
-- transaction, not only for the forecast's lock at its end. Now the triggers keep the
-- per-campaign rows only, and the forecast sums a line's (a row per campaign on the line).
CREATE INDEX campaign_line_spend_by_line ON campaign_line_spend (line_id);

CREATE FUNCTION line_spent(line text) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(spent), 0) FROM campaign_line_spend WHERE line_id = $1
$$;

CREATE OR REPLACE FUNCTION line_spend_on_spend() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM campaign_line_spend_add(OLD.campaign_id, spend_line(OLD.resolution, OLD.resolution_line_id,
                                        OLD.budget_line_id, OLD.campaign_id, OLD.currency), -OLD.amount);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM campaign_line_spend_add(NEW.campaign_id, spend_line(NEW.resolution, NEW.resolution_line_id,
                                        NEW.budget_line_id, NEW.campaign_id, NEW.currency), NEW.amount);
    END IF;
    RETURN NULL;
END $$;

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
        PERFORM campaign_line_spend_add(NEW.campaign_id, moved.id, moved.delta);
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION line_spend_on_line() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign_line_spend WHERE line_id = NEW.id;
    INSERT INTO campaign_line_spend (campaign_id, line_id, spent)
    SELECT campaign_id, NEW.id, sum(amount) FROM spend_counted_on(NEW.id, NEW.currency)
    GROUP BY campaign_id ORDER BY campaign_id;
    RETURN NULL;
END $$;

DROP FUNCTION line_spend_add(text, numeric);
DROP TABLE line_spend;
