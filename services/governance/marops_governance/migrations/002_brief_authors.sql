-- Who wrote the brief up to each version (BriefSubmitted.authors): they read the campaign
-- and four-eyes keeps them from deciding it. Versions received before the field existed
-- name their requester only, which is what they knew.
ALTER TABLE brief_versions ADD COLUMN authors text[] NOT NULL DEFAULT '{}';
UPDATE brief_versions SET authors = ARRAY[requester];
