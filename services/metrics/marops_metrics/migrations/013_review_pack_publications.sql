-- Review packs published (ReviewPackPublished), one row per period: the transaction that
-- inserts a pack's row publishes it, so replicas racing on the weekly timer publish it once.
-- Outside the readmodel schema: a rebuild's swap must not forget what was sent.
CREATE TABLE review_pack_publications (
    pack_id       text        PRIMARY KEY,   -- "week-2026-03-02": period and first day
    period        text        NOT NULL CHECK (period IN ('week', 'month')),
    start_on      date        NOT NULL,
    end_on        date        NOT NULL,
    event_id      uuid        NOT NULL,
    published_at  timestamptz NOT NULL
);
