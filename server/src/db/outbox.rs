//! The Git outbox (`git_jobs`): one job per request, drained by its repository's writer.
//!
//! ```text
//!  due() ──▶ writer ──▶ settle_all(fence, outcomes): job done|failed + stage + ledger, one tx
//!                   └─▶ postpone(fence, …): attempts+1, error, next attempt;
//!                         an outage: `waiting_for_git` once; a refusal of the job's own
//!                         change: counted, and after the configured number it fails
//!  administrators ──▶ problems() ──▶ retry() | abandon()  (ledger + audit)
//! ```
//! Every write of the writer carries its lease's fence: a writer that lost its lease while it
//! worked records nothing, and the replica that took over decides.

use app::domain::CurrentUser;
use app::requests::EventKind;
use sqlx::Row as _;

use super::audit::{AuditOutcome, NewAuditEntry, insert_entry};
use super::leases::{self, Fence};
use super::ledger::{self, Appended, Detail};
use super::requests::{REQUEST_COLUMNS, RequestRow};
use super::{Db, Error, Result, now_ms};

/// A job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Written (or found already written).
    Done,
    /// Given up on: cannot be applied, refused too often, or abandoned.
    Failed,
    /// Waiting for approval: the writer does not see it yet.
    Held,
}

impl TryFrom<String> for JobStatus {
    type Error = app::requests::UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "pending" => Ok(JobStatus::Pending),
            "done" => Ok(JobStatus::Done),
            "failed" => Ok(JobStatus::Failed),
            "held" => Ok(JobStatus::Held),
            _ => Err(app::requests::UnknownWord {
                what: "job status",
                word,
            }),
        }
    }
}

/// A Git job with what the writer needs of its request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    /// The request.
    pub request: RequestRow,
    /// Attempts so far.
    pub attempts: i64,
    /// How often the remote refused this job's own change.
    pub refusals: i64,
    /// Job status.
    pub status: JobStatus,
    /// Unix ms.
    pub next_attempt_at: i64,
    /// Last error.
    pub last_error: Option<String>,
}

const JOB_COLUMNS: &str = "j.attempts, j.refusals, j.status, j.next_attempt_at, j.last_error";

fn job_of(row: &sqlx::any::AnyRow) -> Result<JobRow> {
    Ok(JobRow {
        request: <RequestRow as sqlx::FromRow<'_, sqlx::any::AnyRow>>::from_row(row)?,
        attempts: row.try_get("attempts")?,
        refusals: row.try_get("refusals")?,
        status: JobStatus::try_from(row.try_get::<String, _>("status")?)
            .map_err(|e| Error::Refused(e.to_string()))?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
    })
}

/// How the writer finished a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// In the branch as this commit.
    Committed {
        /// Commit id.
        sha: String,
    },
    /// The branch already held the content at this commit; no commit was made.
    Unchanged {
        /// The branch head that already held it.
        sha: String,
    },
    /// Pushed to its own branch, with a pull request open.
    PrOpened {
        /// The branch's commit.
        sha: String,
        /// Pull request number.
        number: i64,
        /// Its web address.
        url: String,
    },
    /// The change cannot be applied.
    Failed {
        /// Why.
        message: String,
    },
}

/// The job of a request.
pub async fn job(db: &Db, id: &str) -> Result<Option<JobRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, {JOB_COLUMNS}
         FROM git_jobs j JOIN requests r ON r.id = j.request_id WHERE j.request_id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(job_of).transpose()
}

/// Jobs of a repository due now, oldest first, at most `limit`.
pub async fn due(db: &Db, repository: &str, limit: i64) -> Result<Vec<JobRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, {JOB_COLUMNS}
         FROM git_jobs j JOIN requests r ON r.id = j.request_id
         WHERE j.repository = $1 AND j.status = 'pending' AND j.next_attempt_at <= $2
         ORDER BY j.created_at, j.request_id LIMIT $3"
    )))
    .bind(repository)
    .bind(now_ms())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(job_of).collect()
}

/// The earliest time a pending job of `repository` is due (Unix ms).
pub async fn next_due(db: &Db, repository: &str) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(next_attempt_at) FROM git_jobs WHERE repository = $1 AND status = 'pending'",
    )
    .bind(repository)
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?)
}

/// Records how a run ended for each of its jobs, in one transaction (a batch of commits
/// pushed together is recorded together), fenced by the writer's lease. A job that is no
/// longer pending is left alone (settled twice by a retry: one event).
pub async fn settle_all(
    db: &Db,
    fence: &Fence,
    outcomes: &[(String, Settled)],
) -> Result<Vec<Appended>> {
    let mut tx = db.pool().begin().await?;
    leases::check(&mut tx, fence).await?;
    let mut appended = Vec::new();
    for (request_id, outcome) in outcomes {
        appended.extend(settle_in(&mut tx, request_id, outcome).await?);
    }
    tx.commit().await?;
    Ok(appended)
}

async fn settle_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    request_id: &str,
    outcome: &Settled,
) -> Result<Option<Appended>> {
    let now = now_ms();
    let (status, kind, sha, message) = match outcome {
        Settled::Committed { sha } => ("done", EventKind::Committed, Some(sha.as_str()), None),
        Settled::PrOpened { sha, .. } => ("done", EventKind::PrOpened, Some(sha.as_str()), None),
        Settled::Unchanged { sha } => (
            "done",
            EventKind::Unchanged,
            Some(sha.as_str()),
            Some("The repository already holds this content; nothing to commit.".to_owned()),
        ),
        Settled::Failed { message } => ("failed", EventKind::Failed, None, Some(message.clone())),
    };
    let changed = sqlx::query(
        "UPDATE git_jobs SET status = $2, last_error = $3 WHERE request_id = $1 AND status = 'pending'",
    )
    .bind(request_id)
    .bind(status)
    .bind(matches!(outcome, Settled::Failed { .. }).then(|| message.clone()).flatten())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    if let Settled::PrOpened { number, url, sha } = outcome {
        // The branch commit is not in the target branch yet: commit_sha waits for the merge.
        sqlx::query(
            "UPDATE requests SET state = 'pr_opened', pr_number = $2, pr_url = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(request_id)
        .bind(number)
        .bind(url)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let message = format!("Pull request #{number} opened for review.");
        return ledger::append(
            tx,
            request_id,
            kind,
            now,
            Detail {
                sha: Some(sha),
                url: Some(url),
                message: Some(&message),
                actor: None,
            },
        )
        .await;
    }
    sqlx::query("UPDATE requests SET state = $2, commit_sha = $3, updated_at = $4 WHERE id = $1")
        .bind(request_id)
        .bind(kind.as_str())
        .bind(sha)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    ledger::append(
        tx,
        request_id,
        kind,
        now,
        Detail {
            sha,
            message: message.as_deref(),
            ..Detail::default()
        },
    )
    .await
}

/// Why jobs are put off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setback {
    /// The remote could not be reached or written (everyone's problem): retried until it is
    /// back.
    Outage,
    /// The remote refused this job's own change: counted; at `max` refusals the job fails
    /// with the remote's message.
    Refusal {
        /// Refusals allowed.
        max: u32,
    },
}

/// Puts jobs off after a failed attempt. A request's first outage moves it to
/// `waiting_for_git` with one ledger event (later failures only update the job); a job
/// refused for the `max`-th time fails. Fenced by the writer's lease.
pub async fn postpone(
    db: &Db,
    fence: &Fence,
    request_ids: &[String],
    error: &str,
    next_at: i64,
    setback: Setback,
) -> Result<Vec<Appended>> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    leases::check(&mut tx, fence).await?;
    let mut appended = Vec::new();
    for id in request_ids {
        let refusal = i64::from(matches!(setback, Setback::Refusal { .. }));
        sqlx::query(
            "UPDATE git_jobs SET attempts = attempts + 1, refusals = refusals + $4, last_error = $2, next_attempt_at = $3
             WHERE request_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(error)
        .bind(next_at)
        .bind(refusal)
        .execute(&mut *tx)
        .await?;
        if let Setback::Refusal { max } = setback {
            let refusals: Option<(i64,)> = sqlx::query_as(
                "SELECT refusals FROM git_jobs WHERE request_id = $1 AND status = 'pending'",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if refusals.is_some_and(|(n,)| n >= i64::from(max)) {
                let message = format!(
                    "The Git remote refused this change {max} time(s); it was not written. The remote said: {error}"
                );
                appended.extend(settle_in(&mut tx, id, &Settled::Failed { message }).await?);
                continue;
            }
        }
        let moved = sqlx::query(
            "UPDATE requests SET state = 'waiting_for_git', updated_at = $2 WHERE id = $1 AND state = 'submitted'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved > 0 {
            appended.extend(
                ledger::append(
                    &mut tx,
                    id,
                    EventKind::WaitingForGit,
                    now,
                    Detail {
                        message: Some(error),
                        ..Detail::default()
                    },
                )
                .await?,
            );
        }
    }
    tx.commit().await?;
    Ok(appended)
}

/// How a pull request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullOutcome {
    /// Merged as this commit of the target branch.
    Merged {
        /// The merge (or squash) commit.
        sha: String,
    },
    /// Closed without merging.
    Closed,
}

/// Records a pull request's end once (a webhook and the poller may both see it).
pub async fn finish_pull(
    db: &Db,
    request_id: &str,
    outcome: &PullOutcome,
) -> Result<Option<Appended>> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let (kind, sha, message) = match outcome {
        PullOutcome::Merged { sha } => (EventKind::Merged, Some(sha.as_str()), None),
        PullOutcome::Closed => (
            EventKind::Closed,
            None,
            Some("The pull request was closed without merging; nothing reached the branch."),
        ),
    };
    let changed = sqlx::query(
        "UPDATE requests SET state = $2, commit_sha = COALESCE($3, commit_sha), updated_at = $4
         WHERE id = $1 AND state = 'pr_opened'",
    )
    .bind(request_id)
    .bind(kind.as_str())
    .bind(sha)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    let url: Option<String> = sqlx::query("SELECT pr_url FROM requests WHERE id = $1")
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let appended = ledger::append(
        &mut tx,
        request_id,
        kind,
        now,
        Detail {
            sha,
            url: url.as_deref(),
            message,
            actor: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(appended)
}

/// Requests of `repository` with an open pull request: (id, number), oldest first.
pub async fn open_pulls(db: &Db, repository: &str, limit: i64) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT id, pr_number FROM requests
         WHERE repository = $1 AND state = 'pr_opened' AND pr_number IS NOT NULL
         ORDER BY id LIMIT $2",
    )
    .bind(repository)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Jobs an administrator should look at: failed ones, and pending ones that have been
/// tried at least once (waiting for a remote that fails or refuses them). Newest first.
pub async fn problems(db: &Db, limit: i64) -> Result<Vec<JobRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, {JOB_COLUMNS}
         FROM git_jobs j JOIN requests r ON r.id = j.request_id
         WHERE j.status = 'failed' OR (j.status = 'pending' AND j.attempts > 0)
         ORDER BY j.created_at DESC, j.request_id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(job_of).collect()
}

/// Sends a failed job back to the writer (attempts reset), recording who did it. Refused
/// with [`Error::Conflict`] when another change to the same file is pending.
pub async fn retry(db: &Db, request_id: &str, actor: &CurrentUser) -> Result<Option<Appended>> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let changed = sqlx::query(
        "UPDATE git_jobs SET status = 'pending', attempts = 0, refusals = 0, next_attempt_at = $2, last_error = NULL
         WHERE request_id = $1 AND status = 'failed'",
    )
    .bind(request_id)
    .bind(now)
    .execute(&mut *tx)
    .await;
    let changed = match changed {
        Ok(done) => done.rows_affected(),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            drop(tx);
            let other: Option<(String,)> = sqlx::query_as(
                "SELECT o.request_id FROM git_jobs o JOIN git_jobs j
                   ON o.repository = j.repository AND o.path = j.path
                 WHERE j.request_id = $1 AND o.status IN ('pending', 'held') LIMIT 1",
            )
            .bind(request_id)
            .fetch_optional(db.pool())
            .await?;
            return Err(Error::Conflict(other.map(|(id,)| id).unwrap_or_default()));
        }
        Err(error) => return Err(error.into()),
    };
    if changed == 0 {
        return Ok(None);
    }
    // A create that took a cluster-scoped name takes it again, or stays failed: another
    // team may have taken the name since this one failed.
    let (team, key): (String, Option<String>) =
        sqlx::query_as("SELECT team, cluster_name FROM requests WHERE id = $1")
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(key) = key {
        let key: super::requests::ClusterName =
            serde_json::from_str(&key).map_err(|e| Error::Refused(e.to_string()))?;
        super::requests::reserve(&mut tx, &key, &team, request_id).await?;
    }
    sqlx::query("UPDATE requests SET state = 'submitted', updated_at = $2 WHERE id = $1")
        .bind(request_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let message = "Sent back to the Git writer by an administrator.";
    let appended = ledger::append(
        &mut tx,
        request_id,
        EventKind::Retried,
        now,
        Detail {
            actor: Some(&actor.id),
            message: Some(message),
            ..Detail::default()
        },
    )
    .await?;
    insert_entry(
        &mut *tx,
        NewAuditEntry {
            actor: Some(actor),
            action: "git_job.retry",
            target: None,
            request_id: Some(request_id),
            outcome: AuditOutcome::Ok,
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(appended)
}

/// Gives up on a pending job (its request fails with the administrator's reason).
pub async fn abandon(
    db: &Db,
    request_id: &str,
    actor: &CurrentUser,
    reason: &str,
) -> Result<Option<Appended>> {
    let now = now_ms();
    let message = format!("Abandoned by {}: {reason}", actor.name);
    let mut tx = db.pool().begin().await?;
    let changed = sqlx::query(
        "UPDATE git_jobs SET status = 'failed', last_error = $2 WHERE request_id = $1 AND status = 'pending'",
    )
    .bind(request_id)
    .bind(&message)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    sqlx::query("UPDATE requests SET state = 'failed', updated_at = $2 WHERE id = $1")
        .bind(request_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let appended = ledger::append(
        &mut tx,
        request_id,
        EventKind::Abandoned,
        now,
        Detail {
            actor: Some(&actor.id),
            message: Some(&message),
            ..Detail::default()
        },
    )
    .await?;
    insert_entry(
        &mut *tx,
        NewAuditEntry {
            actor: Some(actor),
            action: "git_job.abandon",
            target: None,
            request_id: Some(request_id),
            outcome: AuditOutcome::Ok,
            detail: Some(reason),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(appended)
}
