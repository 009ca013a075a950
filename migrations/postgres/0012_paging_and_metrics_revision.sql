-- Pages and dashboards at platform scale. Same numbering and meaning in sqlite/ and postgres/.

-- A team's requests, newest first, read in key order: the list pages by id, so a page reads
-- its rows from this index instead of sorting the team's whole history.
CREATE INDEX requests_team_id ON requests (team, id);

-- Requests a policy held for approval, by submission time (the approval measures).
CREATE INDEX requests_held_created ON requests (created_at) WHERE approvals IS NOT NULL;

-- Every write of a request's facts (and every rating) takes the next revision. A server
-- that keeps the facts in memory for the dashboards reads only the rows written since the
-- revision it holds, so it stays exact when another replica appends to the ledger; and a
-- dashboard computed at one revision serves until the next. The counter's row is locked by
-- each writer until it commits, so revisions become visible in order.
CREATE TABLE metrics_revision (n BIGINT NOT NULL);
INSERT INTO metrics_revision (n) VALUES (0);
ALTER TABLE request_facts ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
CREATE INDEX request_facts_revision ON request_facts (revision);
