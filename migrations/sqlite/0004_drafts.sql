-- Drafts: a half-filled request form per user and offering, so it survives a reload.
-- Same numbering and meaning as postgres/0004. The body is the form as JSON.
CREATE TABLE drafts (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    offering   TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, offering)
);
