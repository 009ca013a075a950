-- The write path, hardened. Same numbering and meaning in sqlite/ and postgres/.
--
-- Leases carry a generation: it grows whenever the lease changes hands (or lapses and is
-- taken again), and the holder's writes are fenced by it, so a writer or recorder that lost
-- its lease while it worked can no longer record anything.
ALTER TABLE leases ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

-- The file a pending job writes, so that at most one change per file is on its way to Git at
-- a time, enforced by the database inside the submission's transaction.
ALTER TABLE git_jobs ADD COLUMN path TEXT;
UPDATE git_jobs SET path = (SELECT r.path FROM requests r WHERE r.id = git_jobs.request_id);
CREATE UNIQUE INDEX git_jobs_one_pending_per_file ON git_jobs (repository, path)
    WHERE status = 'pending';

-- The job's last refusal by the remote (a hook, a protection rule), counted apart from
-- outages: after a configured number of them the job fails with the remote's message.
ALTER TABLE git_jobs ADD COLUMN refusals BIGINT NOT NULL DEFAULT 0;
