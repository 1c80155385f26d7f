-- Ownership changes only through an explicit transfer (never as a side effect of editing
-- a draft); every transfer is kept here as the campaign's audit of who owned it when.
CREATE TABLE ownership_transfers (
    campaign_id  text        NOT NULL REFERENCES campaigns (id),
    at           timestamptz NOT NULL,
    from_owner   text,
    to_owner     text        NOT NULL,
    by           text        NOT NULL,
    reason       text        NOT NULL
);

CREATE INDEX ownership_transfers_by_campaign ON ownership_transfers (campaign_id, at);
