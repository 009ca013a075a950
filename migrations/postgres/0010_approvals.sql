-- Approvals. Same numbering and meaning in sqlite/ and postgres/.
--
-- A request a policy holds for approval carries the approvals it needs (JSON: one entry per
-- policy asking, with how many and from which teams) and waits in the `awaiting_approval`
-- stage; its Git job is stored with it as `held`, so it still counts as the one change on
-- its way to its file, and the writer does not see it until the last approval releases it.
ALTER TABLE requests ADD COLUMN approvals TEXT;

-- Decisions: one per approver and request (approve or reject, with a comment), and the
-- policies (JSON list of names) the approver could approve for when deciding.
CREATE TABLE approvals (
    request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    approver   TEXT NOT NULL REFERENCES users (id),
    decision   TEXT NOT NULL,
    comment    TEXT NOT NULL,
    counts_for TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver)
);

DROP INDEX git_jobs_one_pending_per_file;
CREATE UNIQUE INDEX git_jobs_one_pending_per_file ON git_jobs (repository, path)
    WHERE status IN ('pending', 'held');

-- The dashboard's approval figures read the held requests of a period.
CREATE INDEX requests_held ON requests (created_at) WHERE approvals IS NOT NULL;
