-- The metric catalogue as governance last published it (MetricCatalogueChanged): the highest
-- version is kept, whatever the order of arrival. Briefs' KPIs take unit, direction and kind
-- from it when they name one of its keys.
CREATE TABLE metric_catalogue (
    catalogue_id  text        PRIMARY KEY,
    version       integer     NOT NULL,
    definitions   jsonb       NOT NULL,
    published_at  timestamptz NOT NULL,
    event_id      uuid        NOT NULL
);

-- Results reported through the API (KpiResultsRecorded), one per (source system, source
-- reference): a re-send with the same content answers the stored report, other content 409.
CREATE TABLE kpi_reports (
    source_system     text        NOT NULL,
    source_reference  text        NOT NULL,
    campaign_id       text        NOT NULL REFERENCES campaigns (id),
    as_of             date        NOT NULL,
    results           jsonb       NOT NULL,
    recorded_by       text        NOT NULL,
    recorded_at       timestamptz NOT NULL,
    event_id          uuid        NOT NULL,
    PRIMARY KEY (source_system, source_reference)
);
CREATE INDEX kpi_reports_campaign ON kpi_reports (campaign_id, as_of, recorded_at);
