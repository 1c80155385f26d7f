-- Idempotent consumer: an event id is recorded in the same transaction as its effect,
-- so a redelivered event finds its row and changes nothing.
CREATE TABLE inbox (
    consumer_group  text        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    status          text        NOT NULL DEFAULT 'processed'
                                CHECK (status IN ('processed', 'dead_lettered')),
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
