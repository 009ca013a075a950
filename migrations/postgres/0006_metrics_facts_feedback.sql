-- Adoption metrics. Same numbering and meaning as sqlite/0006.
-- request_facts and request_incidents are derived from request_events (the ledger stays the
-- truth): every ledger append recomputes its request's rows in the same transaction, so
-- dashboards aggregate one row per request instead of scanning every event. Rows of
-- requests older than this migration are filled in by the server at start-up.

CREATE TABLE request_facts (
    request_id   TEXT PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    team         TEXT NOT NULL,
    offering     TEXT NOT NULL,
    environment  TEXT NOT NULL,
    action       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    -- The request's commit: in the branch (direct) or on its pull-request branch.
    committed_at BIGINT,
    -- In the branch: the commit (direct) or the merge (pull request).
    merged_at    BIGINT,
    -- First applied by the GitOps applier.
    synced_at    BIGINT,
    -- First Ready in the cluster.
    ready_at     BIGINT,
    -- pending | succeeded | failed | withdrawn
    outcome      TEXT NOT NULL,
    -- 1 when the claim failed in the cluster after it was synced (change failure).
    change_failed BIGINT NOT NULL DEFAULT 0
);
-- Dashboards read a period's rows by submission time: this index holds every column they
-- read, so the table itself is never visited.
CREATE INDEX request_facts_period ON request_facts (submitted_at, team, offering, environment,
    requested_by, committed_at, merged_at, synced_at, ready_at, outcome, change_failed);
CREATE INDEX request_facts_synced ON request_facts (synced_at);

-- A failure and its end: source 'cluster' (Failed until Ready again) or 'git' (the writer
-- could not apply the request; never restored).
CREATE TABLE request_incidents (
    request_id  TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    started_at  BIGINT NOT NULL,
    restored_at BIGINT,
    source      TEXT NOT NULL,
    team        TEXT NOT NULL,
    offering    TEXT NOT NULL,
    environment TEXT NOT NULL,
    -- Grouping key ("DBInstance: ReconcileError") and the first message in full.
    reason      TEXT NOT NULL,
    message     TEXT NOT NULL,
    PRIMARY KEY (request_id, started_at)
);
-- Covering the failure counts (by cause, by week) and the restores.
CREATE INDEX request_incidents_started ON request_incidents (started_at, reason, team, offering);
CREATE INDEX request_incidents_restored ON request_incidents (restored_at, source, team,
    environment, offering, started_at);

-- The requester's rating of an offering once their request was Ready; one per request,
-- replaced when rated again.
CREATE TABLE feedback (
    request_id TEXT PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id),
    team       TEXT NOT NULL,
    offering   TEXT NOT NULL,
    rating     BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment    TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX feedback_at ON feedback (at);
