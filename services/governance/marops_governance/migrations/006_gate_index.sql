-- The open gates, indexed (gate_index.py): the approval queue and the deadline timer read
-- these rows instead of deriving every campaign in review on each request and pass.

-- One row per open gate of a campaign's current version (while in review) and of its
-- pending change; in_queue marks the one the approval queue offers.
CREATE TABLE open_gates (
    campaign_id      text        NOT NULL,
    brief_version    integer     NOT NULL,
    gate_id          text        NOT NULL,
    in_queue         boolean     NOT NULL,
    actionable_at    timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    decider_roles    text[]      NOT NULL,
    decider_users    text[]      NOT NULL,
    escalation_role  text        NOT NULL,
    PRIMARY KEY (campaign_id, brief_version, gate_id)
);
CREATE INDEX open_gates_queue ON open_gates (due_at, campaign_id) WHERE in_queue;

-- Campaigns whose facts changed since their rows were derived; the next reader re-derives them.
CREATE TABLE gate_index_stale (
    campaign_id  text  PRIMARY KEY
);

CREATE FUNCTION mark_gate_index_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- DO UPDATE, not DO NOTHING: it takes the row lock a refresh holds while it derives, so
    -- a fact committed during a refresh waits for it and leaves its campaign marked.
    INSERT INTO gate_index_stale (campaign_id)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.campaign_id ELSE NEW.campaign_id END)
    ON CONFLICT (campaign_id) DO UPDATE SET campaign_id = excluded.campaign_id;
    RETURN NULL;
END $$;

-- The facts gate state is derived from (policy versions never change once written).
CREATE TRIGGER brief_versions_gate_index AFTER INSERT OR UPDATE OR DELETE ON brief_versions
    FOR EACH ROW EXECUTE FUNCTION mark_gate_index_stale();
CREATE TRIGGER gate_decisions_gate_index AFTER INSERT OR UPDATE OR DELETE ON gate_decisions
    FOR EACH ROW EXECUTE FUNCTION mark_gate_index_stale();
CREATE TRIGGER cancellations_gate_index AFTER INSERT OR UPDATE OR DELETE ON cancellations
    FOR EACH ROW EXECUTE FUNCTION mark_gate_index_stale();
CREATE TRIGGER launches_gate_index AFTER INSERT OR UPDATE OR DELETE ON launches
    FOR EACH ROW EXECUTE FUNCTION mark_gate_index_stale();
CREATE TRIGGER change_outcomes_gate_index AFTER INSERT OR UPDATE OR DELETE ON change_outcomes
    FOR EACH ROW EXECUTE FUNCTION mark_gate_index_stale();

-- Campaigns from before the index that may have an open gate (neither cancelled nor
-- launched, or with a change not decided yet): derived by the first reader, usually the
-- worker's first timer pass. The others have none, and any new fact of theirs marks them.
INSERT INTO gate_index_stale (campaign_id)
SELECT DISTINCT b.campaign_id FROM brief_versions b
WHERE NOT EXISTS (SELECT 1 FROM cancellations x WHERE x.campaign_id = b.campaign_id)
  AND (NOT EXISTS (SELECT 1 FROM launches l WHERE l.campaign_id = b.campaign_id)
       OR (b.change_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM change_outcomes o WHERE o.change_id = b.change_id)));
