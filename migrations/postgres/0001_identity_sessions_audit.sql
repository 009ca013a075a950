-- Identity, sessions and the audit log. Same numbering and meaning as sqlite/0001.
-- Times are Unix milliseconds (BIGINT), booleans 0/1, ids UUID v7 text.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- "<issuer>|<sub>" for SSO users, "dev|<handle>" for the development login.
    subject       TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    email         TEXT NOT NULL,
    is_admin      BIGINT NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL
);

CREATE TABLE teams (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Replaced as a whole at every login: the identity provider's groups are the truth.
CREATE TABLE team_members (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team    TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, team)
);

-- The cookie carries a random token; only its SHA-256 is stored.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Append-only.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    request_id TEXT,
    outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),
    detail     TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, at);
