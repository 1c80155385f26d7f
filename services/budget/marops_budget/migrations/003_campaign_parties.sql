-- Who a campaign belongs to, for the one access model (marops_service.access): the team and
-- owner of its highest brief version, and everyone who wrote any version. Spend of a
-- campaign with no row here is readable only by the roles that read every campaign.
CREATE TABLE campaign_parties (
    campaign_id   text    PRIMARY KEY,
    brief_version integer NOT NULL,
    team          text    NOT NULL,
    owner         text    NOT NULL,
    authors       text[]  NOT NULL DEFAULT '{}'
);

-- Briefs received before this table existed name their team; owner and authors are learnt
-- from the next version (until then the team's requesters and the read-all roles read it).
INSERT INTO campaign_parties (campaign_id, brief_version, team, owner)
SELECT campaign_id, version, team, '' FROM current_briefs;
