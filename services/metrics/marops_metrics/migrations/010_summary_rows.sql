-- Totals of the derived rows, kept by statement triggers on the derived tables (minus the
-- rows a statement removed, plus those it added: transition tables), so the headline
-- summary after a write reads a few dozen rows instead of scanning every campaign and
-- decision, and the totals agree with the rows whoever writes them. Everything is exact:
-- counts, sums of microseconds and of money (numeric), and per-bucket counts of the
-- values whose percentiles the summary reports (a bucket is an hour, floor(hours)), so
-- the k-th value is a walk over the buckets and an index read inside one.

-- A copy of each campaign's decisions as last derived: what the totals hold for it.
CREATE TABLE readmodel.derived_decisions (
    campaign_id    text        NOT NULL,
    brief_version  integer     NOT NULL,
    gate_id        text        NOT NULL,
    outcome        text        NOT NULL,
    decided_at     timestamptz NOT NULL,
    gate_name      text        NOT NULL,
    gate_position  integer     NOT NULL,
    hours_in_gate  double precision NOT NULL,
    micros_in_gate bigint      NOT NULL,   -- decided_at - actionable_at, exactly
    breached_sla   boolean     NOT NULL,
    PRIMARY KEY (campaign_id, brief_version, gate_id, outcome)
);
CREATE INDEX derived_decisions_hours ON readmodel.derived_decisions (gate_id, outcome, hours_in_gate);
CREATE INDEX derived_decisions_position ON readmodel.derived_decisions (gate_id, outcome, gate_position);
CREATE INDEX derived_decisions_time ON readmodel.derived_decisions (gate_id, outcome, decided_at);
CREATE INDEX campaigns_cycle_time ON readmodel.campaigns (cycle_time_hours) WHERE cycle_time_hours IS NOT NULL;

CREATE TABLE readmodel.summary_campaigns (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    submitted       bigint  NOT NULL,
    reworked        bigint  NOT NULL,
    revisions       bigint  NOT NULL,
    launched_known  bigint  NOT NULL,   -- on_time is known
    on_time         bigint  NOT NULL,
    complete_known  bigint  NOT NULL,   -- data_complete is known
    complete        bigint  NOT NULL,
    launched        bigint  NOT NULL,
    cancelled       bigint  NOT NULL,
    completed       bigint  NOT NULL,
    cycle_n         bigint  NOT NULL,
    cycle_micros    numeric NOT NULL    -- the cycle times' sum, in microseconds
);

CREATE TABLE readmodel.summary_money (
    currency      text    PRIMARY KEY,
    money_rows    bigint  NOT NULL,     -- campaign_money rows of the currency (0: gone)
    committed     numeric NOT NULL,
    actual        numeric NOT NULL,
    unreconciled  numeric NOT NULL
);

CREATE TABLE readmodel.summary_gates (
    gate_id     text    NOT NULL,
    outcome     text    NOT NULL,
    decisions   bigint  NOT NULL,
    breaches    bigint  NOT NULL,
    micros      numeric NOT NULL,       -- the decisions' time in gate, summed in microseconds
    PRIMARY KEY (gate_id, outcome)
);

-- measure: 'cycle' (campaigns.cycle_time_hours) or 'gate:<gate id>' (approvals' hours in gate).
CREATE TABLE readmodel.summary_buckets (
    measure  text    NOT NULL,
    bucket   bigint  NOT NULL,          -- floor(hours)
    n        bigint  NOT NULL,
    PRIMARY KEY (measure, bucket)
);

-- The totals of one schema are updated by one transaction at a time (the lock is taken
-- first by the derivation, after its campaign locks), so their rows are never locked in
-- two orders. Totals nothing counts towards any more are removed: any order of arrival
-- leaves the same rows.
CREATE FUNCTION metrics_rows_of(op text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE op WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
                   WHEN 'DELETE' THEN 'SELECT -1 AS sign, o.* FROM old_rows o'
                   ELSE 'SELECT 1 AS sign, n.* FROM new_rows n UNION ALL SELECT -1, o.* FROM old_rows o' END
$$;

CREATE FUNCTION metrics_campaign_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(29557, hashtext(TG_TABLE_SCHEMA));
    EXECUTE format($q$
        WITH r AS (%s),
        tot AS (
            INSERT INTO %2$I.summary_campaigns AS t (singleton, submitted, reworked, revisions, launched_known,
                on_time, complete_known, complete, launched, cancelled, completed, cycle_n, cycle_micros)
            SELECT true, coalesce(sum(sign) FILTER (WHERE submitted), 0),
                   coalesce(sum(sign) FILTER (WHERE submitted AND rejections > 0), 0),
                   coalesce(sum(sign * revisions) FILTER (WHERE submitted), 0),
                   coalesce(sum(sign) FILTER (WHERE on_time IS NOT NULL), 0),
                   coalesce(sum(sign) FILTER (WHERE on_time), 0),
                   coalesce(sum(sign) FILTER (WHERE data_complete IS NOT NULL), 0),
                   coalesce(sum(sign) FILTER (WHERE data_complete), 0),
                   coalesce(sum(sign) FILTER (WHERE launched_at IS NOT NULL), 0),
                   coalesce(sum(sign) FILTER (WHERE cancelled_at IS NOT NULL), 0),
                   coalesce(sum(sign) FILTER (WHERE completed_at IS NOT NULL), 0),
                   coalesce(sum(sign) FILTER (WHERE cycle_time_hours IS NOT NULL), 0),
                   coalesce(sum(sign * (extract(epoch FROM launched_at - first_submitted_at) * 1000000)::bigint)
                            FILTER (WHERE cycle_time_hours IS NOT NULL), 0)
            FROM r HAVING count(*) > 0
            ON CONFLICT (singleton) DO UPDATE SET
                submitted = t.submitted + EXCLUDED.submitted, reworked = t.reworked + EXCLUDED.reworked,
                revisions = t.revisions + EXCLUDED.revisions,
                launched_known = t.launched_known + EXCLUDED.launched_known, on_time = t.on_time + EXCLUDED.on_time,
                complete_known = t.complete_known + EXCLUDED.complete_known,
                complete = t.complete + EXCLUDED.complete, launched = t.launched + EXCLUDED.launched,
                cancelled = t.cancelled + EXCLUDED.cancelled, completed = t.completed + EXCLUDED.completed,
                cycle_n = t.cycle_n + EXCLUDED.cycle_n, cycle_micros = t.cycle_micros + EXCLUDED.cycle_micros)
        INSERT INTO %2$I.summary_buckets AS t (measure, bucket, n)
        SELECT 'cycle', floor(cycle_time_hours)::bigint, sum(sign) FROM r
        WHERE cycle_time_hours IS NOT NULL GROUP BY 2 ORDER BY 2
        ON CONFLICT (measure, bucket) DO UPDATE SET n = t.n + EXCLUDED.n
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    EXECUTE format('DELETE FROM %I.summary_buckets WHERE n = 0', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

CREATE FUNCTION metrics_money_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(29557, hashtext(TG_TABLE_SCHEMA));
    EXECUTE format($q$
        WITH r AS (%s)
        INSERT INTO %2$I.summary_money AS t (currency, money_rows, committed, actual, unreconciled)
        SELECT currency, sum(sign), trim_scale(sum(sign * committed)), trim_scale(sum(sign * actual)),
               trim_scale(sum(sign * unreconciled))
        FROM r GROUP BY 1 ORDER BY 1
        ON CONFLICT (currency) DO UPDATE SET money_rows = t.money_rows + EXCLUDED.money_rows,
            committed = trim_scale(t.committed + EXCLUDED.committed), actual = trim_scale(t.actual + EXCLUDED.actual),
            unreconciled = trim_scale(t.unreconciled + EXCLUDED.unreconciled)
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    EXECUTE format('DELETE FROM %I.summary_money WHERE money_rows = 0', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

CREATE FUNCTION metrics_decision_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(29557, hashtext(TG_TABLE_SCHEMA));
    EXECUTE format($q$
        WITH r AS (%s),
        tot AS (
            INSERT INTO %2$I.summary_gates AS t (gate_id, outcome, decisions, breaches, micros)
            SELECT gate_id, outcome, sum(sign), coalesce(sum(sign) FILTER (WHERE breached_sla), 0),
                   sum(sign * micros_in_gate)
            FROM r GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (gate_id, outcome) DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions,
                breaches = t.breaches + EXCLUDED.breaches, micros = t.micros + EXCLUDED.micros)
        INSERT INTO %2$I.summary_buckets AS t (measure, bucket, n)
        SELECT 'gate:' || gate_id, floor(hours_in_gate)::bigint, sum(sign) FROM r
        WHERE outcome = 'approved' GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (measure, bucket) DO UPDATE SET n = t.n + EXCLUDED.n
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    EXECUTE format('DELETE FROM %I.summary_gates WHERE decisions = 0', TG_TABLE_SCHEMA);
    EXECUTE format('DELETE FROM %I.summary_buckets WHERE n = 0', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

CREATE TRIGGER campaigns_totals_insert AFTER INSERT ON readmodel.campaigns
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_campaign_totals();
CREATE TRIGGER campaigns_totals_delete AFTER DELETE ON readmodel.campaigns
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_campaign_totals();
CREATE TRIGGER campaigns_totals_update AFTER UPDATE ON readmodel.campaigns
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_campaign_totals();
CREATE TRIGGER money_totals_insert AFTER INSERT ON readmodel.campaign_money
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_money_totals();
CREATE TRIGGER money_totals_delete AFTER DELETE ON readmodel.campaign_money
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_money_totals();
CREATE TRIGGER money_totals_update AFTER UPDATE ON readmodel.campaign_money
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_money_totals();
CREATE TRIGGER decisions_totals_insert AFTER INSERT ON readmodel.derived_decisions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_decision_totals();
CREATE TRIGGER decisions_totals_delete AFTER DELETE ON readmodel.derived_decisions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_decision_totals();
CREATE TRIGGER decisions_totals_update AFTER UPDATE ON readmodel.derived_decisions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_decision_totals();

-- An existing read model: its decisions copied (the trigger adds them up), the totals of
-- its campaign and money rows added up here.
INSERT INTO readmodel.derived_decisions
SELECT campaign_id, brief_version, gate_id, outcome, decided_at, gate_name, gate_position, hours_in_gate,
       (extract(epoch FROM decided_at - actionable_at) * 1000000)::bigint, breached_sla
FROM readmodel.gate_decisions d
WHERE EXISTS (SELECT 1 FROM readmodel.campaigns c WHERE c.campaign_id = d.campaign_id);
INSERT INTO readmodel.summary_campaigns
SELECT true, count(*) FILTER (WHERE submitted), count(*) FILTER (WHERE submitted AND rejections > 0),
       coalesce(sum(revisions) FILTER (WHERE submitted), 0), count(on_time), count(*) FILTER (WHERE on_time),
       count(data_complete), count(*) FILTER (WHERE data_complete), count(launched_at), count(cancelled_at),
       count(completed_at), count(cycle_time_hours),
       coalesce(sum((extract(epoch FROM launched_at - first_submitted_at) * 1000000)::bigint)
                FILTER (WHERE cycle_time_hours IS NOT NULL), 0)
FROM readmodel.campaigns HAVING count(*) > 0;
INSERT INTO readmodel.summary_buckets
SELECT 'cycle', floor(cycle_time_hours)::bigint, count(*) FROM readmodel.campaigns
WHERE cycle_time_hours IS NOT NULL GROUP BY 2;
INSERT INTO readmodel.summary_money
SELECT currency, count(*), trim_scale(sum(committed)), trim_scale(sum(actual)), trim_scale(sum(unreconciled))
FROM readmodel.campaign_money GROUP BY currency;
