-- Single sign-on. Same numbering and meaning as sqlite/0002.

-- One row per redirect to the identity provider; the callback deletes it (single use).
CREATE TABLE oidc_pending (
    state         TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oidc_pending_by_expiry ON oidc_pending (expires_at);

-- The ID token of an SSO session: the hint RP-initiated logout sends back to the provider.
ALTER TABLE sessions ADD COLUMN id_token TEXT;
