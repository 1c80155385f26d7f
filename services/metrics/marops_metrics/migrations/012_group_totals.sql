-- Totals per group (team, channel, quarter of launch and of submission) beside the overall
-- ones of 010_summary_rows.sql, kept by the same statement triggers, so the grouped reports
-- with nothing selected read a few rows after a write instead of aggregating every campaign
-- and decision. Exact like the overall totals: counts, sums of microseconds and of numeric
-- money, per-bucket counts of the values whose percentiles the reports give.
--
-- The triggers also return at once when their statement changed no row (a derivation deletes
-- the rows of campaigns that had none yet; a campaign without spend or commitment has no
-- money rows), and remove only the emptied buckets of the values they counted.

-- The groups a campaign counts under, as the grouped reports group it (readside._keys):
-- its team ('(unknown)' without one), each channel ('(unknown)' without any), its launch
-- and submission quarters when it has them.
-- A single expression (channels are enum identifiers, [a-z_]+), so the planner inlines it.
-- Decisions and money rows are grouped by the submission quarter only (launch_quarter NULL).
CREATE FUNCTION metrics_groups(team text, channels text[], launch_quarter text, submission_quarter text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['t:' || coalesce(team, '(unknown)')]
        || CASE WHEN cardinality(channels) > 0 THEN string_to_array('c:' || array_to_string(channels, ',c:'), ',')
                ELSE ARRAY['c:(unknown)'] END
        || CASE WHEN launch_quarter IS NOT NULL THEN ARRAY['lq:' || launch_quarter] ELSE '{}'::text[] END
        || CASE WHEN submission_quarter IS NOT NULL THEN ARRAY['sq:' || submission_quarter] ELSE '{}'::text[] END
$$;

-- A decision's and a money row's groups are their campaign's as they were derived together,
-- so what the totals subtract for a row is exactly what they added for it. Cycle times are
-- bucketed by launch quarter, approvals and money by submission quarter (as reported).
ALTER TABLE readmodel.derived_decisions ADD COLUMN groups text[] NOT NULL DEFAULT '{}';
ALTER TABLE readmodel.campaign_money ADD COLUMN groups text[] NOT NULL DEFAULT '{}';

CREATE TABLE readmodel.group_campaigns (
    grp             text    PRIMARY KEY,   -- 't:brand', 'c:email', 'lq:2026-Q1', 'sq:2026-Q1'
    campaigns       bigint  NOT NULL,      -- campaign rows in the group (0: gone)
    submitted       bigint  NOT NULL,
    reworked        bigint  NOT NULL,
    revisions       bigint  NOT NULL,
    launched_known  bigint  NOT NULL,
    on_time         bigint  NOT NULL,
    complete_known  bigint  NOT NULL,
    complete        bigint  NOT NULL,
    launched        bigint  NOT NULL,
    cancelled       bigint  NOT NULL,
    completed       bigint  NOT NULL,
    cycle_n         bigint  NOT NULL,
    cycle_micros    numeric NOT NULL
);

CREATE TABLE readmodel.group_gates (
    grp         text    NOT NULL,
    gate_id     text    NOT NULL,
    outcome     text    NOT NULL,
    decisions   bigint  NOT NULL,
    breaches    bigint  NOT NULL,
    micros      numeric NOT NULL,
    PRIMARY KEY (grp, gate_id, outcome)
);

CREATE TABLE readmodel.group_money (
    grp           text    NOT NULL,
    currency      text    NOT NULL,
    money_rows    bigint  NOT NULL,
    committed     numeric NOT NULL,
    actual        numeric NOT NULL,
    unreconciled  numeric NOT NULL,
    PRIMARY KEY (grp, currency)
);

-- measure as in summary_buckets: 'cycle' or 'gate:<gate id>' (approvals' hours in gate).
CREATE TABLE readmodel.group_buckets (
    grp      text    NOT NULL,
    measure  text    NOT NULL,
    bucket   bigint  NOT NULL,
    n        bigint  NOT NULL,
    PRIMARY KEY (grp, measure, bucket)
);

-- How many values of a measure are exactly this value, overall (grp '') and per group: a
-- percentile's rank is located in an hour bucket by the bucket counts, then in the bucket
-- by these counts (no scan of the rows, however many values share an hour or are equal).
CREATE TABLE readmodel.value_counts (
    grp      text             NOT NULL,
    measure  text             NOT NULL,
    value    double precision NOT NULL,
    n        bigint           NOT NULL,
    PRIMARY KEY (grp, measure, value)
);

CREATE OR REPLACE FUNCTION metrics_campaign_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM 1 FROM old_rows LIMIT 1;
    ELSE
        PERFORM 1 FROM new_rows LIMIT 1;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
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
                cycle_n = t.cycle_n + EXCLUDED.cycle_n, cycle_micros = t.cycle_micros + EXCLUDED.cycle_micros),
        g AS (SELECT r.*, k.grp FROM r
              CROSS JOIN LATERAL unnest(metrics_groups(r.team, r.channels, r.launch_quarter, r.submission_quarter))
                  AS k(grp)),
        gtot AS (
            INSERT INTO %2$I.group_campaigns AS t (grp, campaigns, submitted, reworked, revisions, launched_known,
                on_time, complete_known, complete, launched, cancelled, completed, cycle_n, cycle_micros)
            SELECT grp, sum(sign), coalesce(sum(sign) FILTER (WHERE submitted), 0),
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
            FROM g GROUP BY grp ORDER BY grp
            ON CONFLICT (grp) DO UPDATE SET campaigns = t.campaigns + EXCLUDED.campaigns,
                submitted = t.submitted + EXCLUDED.submitted, reworked = t.reworked + EXCLUDED.reworked,
                revisions = t.revisions + EXCLUDED.revisions,
                launched_known = t.launched_known + EXCLUDED.launched_known, on_time = t.on_time + EXCLUDED.on_time,
                complete_known = t.complete_known + EXCLUDED.complete_known,
                complete = t.complete + EXCLUDED.complete, launched = t.launched + EXCLUDED.launched,
                cancelled = t.cancelled + EXCLUDED.cancelled, completed = t.completed + EXCLUDED.completed,
                cycle_n = t.cycle_n + EXCLUDED.cycle_n, cycle_micros = t.cycle_micros + EXCLUDED.cycle_micros),
        gbuckets AS (
            INSERT INTO %2$I.group_buckets AS t (grp, measure, bucket, n)
            SELECT grp, 'cycle', floor(cycle_time_hours)::bigint, sum(sign) FROM g
            WHERE cycle_time_hours IS NOT NULL AND NOT starts_with(grp, 'sq:') GROUP BY 1, 3
            HAVING sum(sign) <> 0 ORDER BY 1, 3
            ON CONFLICT (grp, measure, bucket) DO UPDATE SET n = t.n + EXCLUDED.n),
        gvalues AS (
            INSERT INTO %2$I.value_counts AS t (grp, measure, value, n)
            SELECT grp, 'cycle', cycle_time_hours, sum(sign) FROM (
                SELECT '' AS grp, sign, cycle_time_hours FROM r
                UNION ALL SELECT grp, sign, cycle_time_hours FROM g WHERE NOT starts_with(grp, 'sq:')) v
            WHERE cycle_time_hours IS NOT NULL GROUP BY 1, 3 HAVING sum(sign) <> 0 ORDER BY 1, 3
            ON CONFLICT (grp, measure, value) DO UPDATE SET n = t.n + EXCLUDED.n)
        INSERT INTO %2$I.summary_buckets AS t (measure, bucket, n)
        SELECT 'cycle', floor(cycle_time_hours)::bigint, sum(sign) FROM r
        WHERE cycle_time_hours IS NOT NULL GROUP BY 2 HAVING sum(sign) <> 0 ORDER BY 2
        ON CONFLICT (measure, bucket) DO UPDATE SET n = t.n + EXCLUDED.n
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    EXECUTE format($q$
        WITH r AS (%s),
        emptied AS (
            DELETE FROM %2$I.summary_buckets b
            USING (SELECT DISTINCT floor(cycle_time_hours)::bigint AS bucket FROM r
                   WHERE cycle_time_hours IS NOT NULL) x
            WHERE b.measure = 'cycle' AND b.bucket = x.bucket AND b.n = 0),
        gone AS (
            DELETE FROM %2$I.group_campaigns c
            USING (SELECT DISTINCT k.grp FROM r
                   CROSS JOIN LATERAL unnest(metrics_groups(r.team, r.channels, r.launch_quarter,
                                                            r.submission_quarter)) AS k(grp)) x
            WHERE c.grp = x.grp AND c.campaigns = 0),
        novalue AS (
            DELETE FROM %2$I.value_counts v
            USING (SELECT DISTINCT k.grp, r.cycle_time_hours AS value FROM r
                   CROSS JOIN LATERAL unnest(ARRAY[''] || metrics_groups(r.team, r.channels, r.launch_quarter,
                                                                         NULL)) AS k(grp)
                   WHERE r.cycle_time_hours IS NOT NULL) x
            WHERE v.grp = x.grp AND v.measure = 'cycle' AND v.value = x.value AND v.n = 0)
        DELETE FROM %2$I.group_buckets b
        USING (SELECT DISTINCT k.grp, floor(r.cycle_time_hours)::bigint AS bucket FROM r
               CROSS JOIN LATERAL unnest(metrics_groups(r.team, r.channels, r.launch_quarter,
                                                        r.submission_quarter)) AS k(grp)
               WHERE r.cycle_time_hours IS NOT NULL) x
        WHERE b.grp = x.grp AND b.measure = 'cycle' AND b.bucket = x.bucket AND b.n = 0
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION metrics_money_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM 1 FROM old_rows LIMIT 1;
    ELSE
        PERFORM 1 FROM new_rows LIMIT 1;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(29557, hashtext(TG_TABLE_SCHEMA));
    EXECUTE format($q$
        WITH r AS (%s),
        tot AS (
            INSERT INTO %2$I.summary_money AS t (currency, money_rows, committed, actual, unreconciled)
            SELECT currency, sum(sign), trim_scale(sum(sign * committed)), trim_scale(sum(sign * actual)),
                   trim_scale(sum(sign * unreconciled))
            FROM r GROUP BY 1 ORDER BY 1
            ON CONFLICT (currency) DO UPDATE SET money_rows = t.money_rows + EXCLUDED.money_rows,
                committed = trim_scale(t.committed + EXCLUDED.committed),
                actual = trim_scale(t.actual + EXCLUDED.actual),
                unreconciled = trim_scale(t.unreconciled + EXCLUDED.unreconciled))
        INSERT INTO %2$I.group_money AS t (grp, currency, money_rows, committed, actual, unreconciled)
        SELECT k.grp, r.currency, sum(sign), trim_scale(sum(sign * committed)), trim_scale(sum(sign * actual)),
               trim_scale(sum(sign * unreconciled))
        FROM r CROSS JOIN LATERAL unnest(r.groups) AS k(grp) GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (grp, currency) DO UPDATE SET money_rows = t.money_rows + EXCLUDED.money_rows,
            committed = trim_scale(t.committed + EXCLUDED.committed), actual = trim_scale(t.actual + EXCLUDED.actual),
            unreconciled = trim_scale(t.unreconciled + EXCLUDED.unreconciled)
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    EXECUTE format($q$
        WITH r AS (%s),
        gone AS (
            DELETE FROM %2$I.summary_money m USING (SELECT DISTINCT currency FROM r) x
            WHERE m.currency = x.currency AND m.money_rows = 0)
        DELETE FROM %2$I.group_money m
        USING (SELECT DISTINCT k.grp, r.currency FROM r CROSS JOIN LATERAL unnest(r.groups) AS k(grp)) x
        WHERE m.grp = x.grp AND m.currency = x.currency AND m.money_rows = 0
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION metrics_decision_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM 1 FROM old_rows LIMIT 1;
    ELSE
        PERFORM 1 FROM new_rows LIMIT 1;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(29557, hashtext(TG_TABLE_SCHEMA));
    EXECUTE format($q$
        WITH r AS (%s),
        tot AS (
            INSERT INTO %2$I.summary_gates AS t (gate_id, outcome, decisions, breaches, micros)
            SELECT gate_id, outcome, sum(sign), coalesce(sum(sign) FILTER (WHERE breached_sla), 0),
                   sum(sign * micros_in_gate)
            FROM r GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (gate_id, outcome) DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions,
                breaches = t.breaches + EXCLUDED.breaches, micros = t.micros + EXCLUDED.micros),
        g AS (SELECT r.*, k.grp FROM r CROSS JOIN LATERAL unnest(r.groups) AS k(grp)),
        gtot AS (
            INSERT INTO %2$I.group_gates AS t (grp, gate_id, outcome, decisions, breaches, micros)
            SELECT grp, gate_id, outcome, sum(sign), coalesce(sum(sign) FILTER (WHERE breached_sla), 0),
                   sum(sign * micros_in_gate)
            FROM g GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (grp, gate_id, outcome) DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions,
                breaches = t.breaches + EXCLUDED.breaches, micros = t.micros + EXCLUDED.micros),
        gbuckets AS (
            INSERT INTO %2$I.group_buckets AS t (grp, measure, bucket, n)
            SELECT grp, 'gate:' || gate_id, floor(hours_in_gate)::bigint, sum(sign) FROM g
            WHERE outcome = 'approved' GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (grp, measure, bucket) DO UPDATE SET n = t.n + EXCLUDED.n),
        gvalues AS (
            INSERT INTO %2$I.value_counts AS t (grp, measure, value, n)
            SELECT grp, 'gate:' || gate_id, hours_in_gate, sum(sign) FROM (
                SELECT '' AS grp, sign, gate_id, outcome, hours_in_gate FROM r
                UNION ALL SELECT grp, sign, gate_id, outcome, hours_in_gate FROM g) v
            WHERE outcome = 'approved' GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (grp, measure, value) DO UPDATE SET n = t.n + EXCLUDED.n)
        INSERT INTO %2$I.summary_buckets AS t (measure, bucket, n)
        SELECT 'gate:' || gate_id, floor(hours_in_gate)::bigint, sum(sign) FROM r
        WHERE outcome = 'approved' GROUP BY 1, 2 HAVING sum(sign) <> 0 ORDER BY 1, 2
        ON CONFLICT (measure, bucket) DO UPDATE SET n = t.n + EXCLUDED.n
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    EXECUTE format($q$
        WITH r AS (%s),
        gone AS (
            DELETE FROM %2$I.summary_gates s USING (SELECT DISTINCT gate_id, outcome FROM r) x
            WHERE s.gate_id = x.gate_id AND s.outcome = x.outcome AND s.decisions = 0),
        ggone AS (
            DELETE FROM %2$I.group_gates s
            USING (SELECT DISTINCT k.grp, r.gate_id, r.outcome FROM r CROSS JOIN LATERAL unnest(r.groups) AS k(grp)) x
            WHERE s.grp = x.grp AND s.gate_id = x.gate_id AND s.outcome = x.outcome AND s.decisions = 0),
        emptied AS (
            DELETE FROM %2$I.summary_buckets b
            USING (SELECT DISTINCT 'gate:' || gate_id AS measure, floor(hours_in_gate)::bigint AS bucket FROM r
                   WHERE outcome = 'approved') x
            WHERE b.measure = x.measure AND b.bucket = x.bucket AND b.n = 0),
        novalue AS (
            DELETE FROM %2$I.value_counts v
            USING (SELECT DISTINCT k.grp, 'gate:' || r.gate_id AS measure, r.hours_in_gate AS value
                   FROM r CROSS JOIN LATERAL unnest(ARRAY[''] || r.groups) AS k(grp) WHERE r.outcome = 'approved') x
            WHERE v.grp = x.grp AND v.measure = x.measure AND v.value = x.value AND v.n = 0)
        DELETE FROM %2$I.group_buckets b
        USING (SELECT DISTINCT k.grp, 'gate:' || r.gate_id AS measure, floor(r.hours_in_gate)::bigint AS bucket
               FROM r CROSS JOIN LATERAL unnest(r.groups) AS k(grp) WHERE r.outcome = 'approved') x
        WHERE b.grp = x.grp AND b.measure = x.measure AND b.bucket = x.bucket AND b.n = 0
    $q$, metrics_rows_of(TG_OP), TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

-- An existing read model: the groups of its rows, and their totals.
UPDATE readmodel.derived_decisions d
SET groups = metrics_groups(c.team, c.channels, NULL, c.submission_quarter)
FROM readmodel.campaigns c WHERE c.campaign_id = d.campaign_id;
UPDATE readmodel.campaign_money m
SET groups = metrics_groups(c.team, c.channels, NULL, c.submission_quarter)
FROM readmodel.campaigns c WHERE c.campaign_id = m.campaign_id;
INSERT INTO readmodel.group_campaigns
SELECT k.grp, count(*), count(*) FILTER (WHERE submitted), count(*) FILTER (WHERE submitted AND rejections > 0),
       coalesce(sum(revisions) FILTER (WHERE submitted), 0), count(on_time), count(*) FILTER (WHERE on_time),
       count(data_complete), count(*) FILTER (WHERE data_complete), count(launched_at), count(cancelled_at),
       count(completed_at), count(cycle_time_hours),
       coalesce(sum((extract(epoch FROM launched_at - first_submitted_at) * 1000000)::bigint)
                FILTER (WHERE cycle_time_hours IS NOT NULL), 0)
FROM readmodel.campaigns c
CROSS JOIN LATERAL unnest(metrics_groups(c.team, c.channels, c.launch_quarter, c.submission_quarter)) AS k(grp)
GROUP BY k.grp;
INSERT INTO readmodel.group_buckets
SELECT k.grp, 'cycle', floor(cycle_time_hours)::bigint, count(*) FROM readmodel.campaigns c
CROSS JOIN LATERAL unnest(metrics_groups(c.team, c.channels, c.launch_quarter, NULL)) AS k(grp)
WHERE cycle_time_hours IS NOT NULL GROUP BY 1, 3;
INSERT INTO readmodel.group_gates
SELECT k.grp, gate_id, outcome, count(*), count(*) FILTER (WHERE breached_sla), sum(micros_in_gate)
FROM readmodel.derived_decisions d CROSS JOIN LATERAL unnest(d.groups) AS k(grp) GROUP BY 1, 2, 3;
INSERT INTO readmodel.group_buckets
SELECT k.grp, 'gate:' || gate_id, floor(hours_in_gate)::bigint, count(*)
FROM readmodel.derived_decisions d CROSS JOIN LATERAL unnest(d.groups) AS k(grp)
WHERE outcome = 'approved' GROUP BY 1, 2, 3;
INSERT INTO readmodel.value_counts
SELECT grp, 'cycle', cycle_time_hours, count(*) FROM readmodel.campaigns c
CROSS JOIN LATERAL unnest(ARRAY[''] || metrics_groups(c.team, c.channels, c.launch_quarter, NULL)) AS k(grp)
WHERE cycle_time_hours IS NOT NULL GROUP BY 1, 3;
INSERT INTO readmodel.value_counts
SELECT grp, 'gate:' || gate_id, hours_in_gate, count(*) FROM readmodel.derived_decisions d
CROSS JOIN LATERAL unnest(ARRAY[''] || d.groups) AS k(grp) WHERE outcome = 'approved' GROUP BY 1, 2, 3;
INSERT INTO readmodel.group_money
SELECT k.grp, currency, count(*), trim_scale(sum(committed)), trim_scale(sum(actual)), trim_scale(sum(unreconciled))
FROM readmodel.campaign_money m CROSS JOIN LATERAL unnest(m.groups) AS k(grp) GROUP BY 1, 2;

-- (campaign_id, occurred_at) is a prefix of event_log_campaign_order (004): the same reads,
-- one index fewer to maintain for every event.
DROP INDEX readmodel.event_log_campaign;
