-- A campaign's current retrospective (intake's RetrospectiveRecorded): the highest revision
-- wins, so a re-recorded retrospective replaces the earlier one in any arrival order.
-- Enough for "completed without a retrospective"; the text stays in intake (and event_log).
CREATE TABLE readmodel.retrospectives (
    campaign_id    text        PRIMARY KEY,
    revision       integer     NOT NULL,
    event_id       uuid        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    recorded_by    text        NOT NULL,
    lessons        integer     NOT NULL,
    actions        integer     NOT NULL
);
