-- Gates whose SLA ran out undecided (SlaBreached), once per campaign, version and gate; a
-- gate is overdue now while no decision of that version and gate is known.
CREATE TABLE readmodel.sla_breaches (
    campaign_id    text        NOT NULL,
    brief_version  integer     NOT NULL,
    gate_id        text        NOT NULL,
    gate_name      text        NOT NULL,
    actionable_at  timestamptz NOT NULL,
    sla_hours      integer     NOT NULL,
    due_at         timestamptz NOT NULL,
    event_id       uuid        NOT NULL,
    PRIMARY KEY (campaign_id, brief_version, gate_id)
);
