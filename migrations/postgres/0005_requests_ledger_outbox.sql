-- Requests, their ledger and the Git outbox. Same numbering and meaning as sqlite/0005.
-- A submission writes one row in each of requests, request_events and git_jobs in one
-- transaction; the Git writer drains git_jobs and appends to request_events.

CREATE TABLE requests (
    id                 TEXT PRIMARY KEY,
    -- create | update | delete
    action             TEXT NOT NULL,
    offering           TEXT NOT NULL,
    offering_version   TEXT NOT NULL,
    api_version        TEXT NOT NULL,
    kind               TEXT NOT NULL,
    name               TEXT NOT NULL,
    team               TEXT NOT NULL,
    environment        TEXT NOT NULL,
    requested_by       TEXT NOT NULL REFERENCES users (id),
    -- Name and e-mail at submission time: the commit's author.
    requester_name     TEXT NOT NULL,
    requester_email    TEXT NOT NULL,
    -- The form as JSON (app::catalog::RequestDraft).
    body               TEXT NOT NULL,
    -- The repository and the file the request writes, and what it writes.
    repository         TEXT NOT NULL,
    path               TEXT NOT NULL,
    content            TEXT NOT NULL,
    -- direct | pull-request (the environment's write mode at submission).
    write_mode         TEXT NOT NULL,
    -- The latest stage (a cache of the ledger for lists and filters).
    state              TEXT NOT NULL,
    -- The commit in the branch (direct: the request's commit; pull request: the merge).
    commit_sha         TEXT,
    pr_number          BIGINT,
    pr_url             TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX requests_team_created ON requests (team, created_at);
CREATE INDEX requests_path ON requests (repository, path);
CREATE INDEX requests_state ON requests (state);

-- Append-only. actor is a user id, or NULL for the portal itself.
CREATE TABLE request_events (
    id         TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT,
    sha        TEXT,
    url        TEXT,
    message    TEXT
);
CREATE INDEX request_events_request ON request_events (request_id, at);
CREATE INDEX request_events_kind_at ON request_events (kind, at);

-- The outbox: one job per request. status: pending | done | failed.
CREATE TABLE git_jobs (
    request_id      TEXT PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    repository      TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX git_jobs_due ON git_jobs (repository, status, next_attempt_at);

-- One writer per repository across replicas: the holder renews its lease while it works.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
