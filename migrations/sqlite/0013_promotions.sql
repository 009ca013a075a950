-- Promotions. Same numbering and meaning in sqlite/ and postgres/.
--
-- A request made by promoting another (the same claim, one environment further along its
-- path) names its source; a chain of them is the claim's way from dev to prod.
ALTER TABLE requests ADD COLUMN promoted_from TEXT REFERENCES requests (id);
CREATE INDEX requests_promoted_from ON requests (promoted_from) WHERE promoted_from IS NOT NULL;

-- The same claim across environments: a team's requests for one name, newest first.
CREATE INDEX requests_claim ON requests (team, name, id);

-- Promotions a gate refused: one row per refusing gate of an attempt (rows of one attempt share
-- its id), what the source showed, who asked. Counted by the dashboards (attempts, and
-- refusals by gate); the request page shows the live reason, not these rows.
CREATE TABLE promotion_refusals (
    id                 TEXT PRIMARY KEY,
    attempt            TEXT NOT NULL,
    at                 BIGINT NOT NULL,
    source_request     TEXT NOT NULL REFERENCES requests (id),
    team               TEXT NOT NULL,
    offering           TEXT NOT NULL,
    source_environment TEXT NOT NULL,
    target_environment TEXT NOT NULL,
    gate               TEXT NOT NULL,
    detail             TEXT NOT NULL,
    actor              TEXT NOT NULL REFERENCES users (id)
);
CREATE INDEX promotion_refusals_at ON promotion_refusals (at);
