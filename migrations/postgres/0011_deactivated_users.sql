-- Deactivated users, and sessions that keep only what sign-out needs. Same numbering and
-- meaning in sqlite/ and postgres/.
--
-- An administrator deactivates a user: their sessions are deleted and their tokens revoked
-- in the same transaction, and sign-in is refused until they are reactivated.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;

-- A session no longer holds the provider's ID token (it carries the user's claims and is
-- not needed to sign out: the client id identifies the portal at the end-session endpoint).
-- It remembers only that it came from single sign-on.
ALTER TABLE sessions ADD COLUMN sso BIGINT NOT NULL DEFAULT 0 CHECK (sso IN (0, 1));
UPDATE sessions SET sso = 1 WHERE id_token IS NOT NULL;
ALTER TABLE sessions DROP COLUMN id_token;
