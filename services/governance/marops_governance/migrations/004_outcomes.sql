-- The metric catalogue: the KPI definitions briefs pick from, versioned like policy (every
-- version immutable, the highest in force); each version is published as MetricCatalogueChanged.
CREATE TABLE metric_catalogue_versions (
    version      integer     PRIMARY KEY,
    definitions  jsonb       NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    reason       text        NOT NULL
);

-- Each change of a risk is published as RiskChanged with the next revision.
ALTER TABLE risks ADD COLUMN revision integer NOT NULL DEFAULT 0;
