-- Everyone who wrote the brief (created it, edited its draft or submitted a version): they
-- read the campaign whatever their team, and four-eyes keeps them from deciding its gates.
ALTER TABLE campaigns ADD COLUMN authors text[] NOT NULL DEFAULT '{}';
UPDATE campaigns c SET authors = ARRAY(
    SELECT DISTINCT who FROM (
        SELECT c.created_by AS who
        UNION SELECT v.submitted_by FROM brief_versions v WHERE v.campaign_id = c.id
    ) w ORDER BY who);
CREATE INDEX campaigns_by_author ON campaigns USING gin (authors);
