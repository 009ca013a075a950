-- Idempotency keys of the REST API's submissions. Same numbering and meaning in sqlite/ and
-- postgres/.
--
-- A client that retries a submission with the same `Idempotency-Key` gets the request the first
-- one made, never a second. The key is claimed (request_id NULL, a fresh claim id) before the
-- submission and filled in the submission's own transaction only if that claim still holds it,
-- so a crash in between leaves a claim without a request, which a retry may take over, and a
-- submission whose claim was taken over commits nothing. The body's fingerprint tells a retry
-- from a different submission reusing the key. Keys are kept a day.
CREATE TABLE idempotency_keys (
    user_id     TEXT NOT NULL REFERENCES users (id),
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    claim       TEXT NOT NULL,
    request_id  TEXT REFERENCES requests (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
