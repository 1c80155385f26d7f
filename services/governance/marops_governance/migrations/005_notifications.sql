-- Notifications (docs/decisions.md "Notifications"): the directory of who is told, the
-- deadlines already announced, and the delivery log.

-- The user directory (ops_admin): a JWT subject, how to reach them, the roles they hold
-- (which gates they are asked to decide) and the kinds of notification they want.
CREATE TABLE directory_users (
    subject         text        PRIMARY KEY,
    name            text,
    email           text,
    roles           text[]      NOT NULL DEFAULT '{}',
    webhook_url     text,
    webhook_secret  text,                   -- signs their webhooks; never shown by the API
    kinds           text[]      NOT NULL DEFAULT '{}',  -- empty: every kind
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL,
    CHECK ((webhook_url IS NULL) = (webhook_secret IS NULL))
);

-- A gate whose SLA ran out undecided: SlaBreached and GateEscalated are published once per
-- gate and brief version, by whichever worker inserts the row first.
CREATE TABLE sla_breaches (
    campaign_id    text        NOT NULL,
    brief_version  integer     NOT NULL,
    gate_id        text        NOT NULL,
    due_at         timestamptz NOT NULL,
    noticed_at     timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, brief_version, gate_id)
);

-- One row per notification, recipient and channel (dedupe_key), sent at least once.
CREATE TABLE notification_deliveries (
    id               uuid        PRIMARY KEY,
    dedupe_key       text        NOT NULL UNIQUE,
    kind             text        NOT NULL,
    campaign_id      text,
    recipient        text        NOT NULL,
    channel          text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    target           text        NOT NULL,   -- the address or URL, as it was when queued
    subject          text        NOT NULL,
    body             text        NOT NULL,
    payload          jsonb       NOT NULL,   -- what a webhook receives
    status           text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    replay_of        uuid        REFERENCES notification_deliveries (id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_recent ON notification_deliveries (created_at DESC, id);

CREATE TABLE notification_attempts (
    delivery_id  uuid        NOT NULL REFERENCES notification_deliveries (id),
    attempt      integer     NOT NULL,
    at           timestamptz NOT NULL,
    ok           boolean     NOT NULL,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);
