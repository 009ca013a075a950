//! Requests, their ledger (`request_events`, append-only) and the Git outbox (`git_jobs`).
//!
//! ```text
//!  submit ──one transaction──▶ requests + request_events(submitted) + git_jobs(pending) + audit
//!  Git writer ──due()──▶ jobs ──push──▶ settle(): job done + request stage + event, one transaction
//!                      └─ postpone(): attempts+1, error, next attempt; `waiting_for_git` once
//! ```

use sqlx::Row as _;

use super::{Db, Result, new_id, now_ms};
use crate::db::audit::{NewAuditEntry, insert_entry};

/// A request to store.
#[derive(Clone, Debug)]
pub struct NewRequest<'a> {
    /// Id (UUID v7), chosen before rendering so the manifest carries it.
    pub id: &'a str,
    /// `create` | `update` | `delete`.
    pub action: &'a str,
    /// Offering id.
    pub offering: &'a str,
    /// Offering version.
    pub offering_version: &'a str,
    /// Claim apiVersion.
    pub api_version: &'a str,
    /// Claim kind.
    pub kind: &'a str,
    /// Claim name.
    pub name: &'a str,
    /// Team.
    pub team: &'a str,
    /// Environment.
    pub environment: &'a str,
    /// Requesting user's id, name and e-mail.
    pub requested_by: (&'a str, &'a str, &'a str),
    /// The form as JSON.
    pub body: &'a str,
    /// Repository key (see `git::writer::Target::key`).
    pub repository: &'a str,
    /// File path.
    pub path: &'a str,
    /// File content.
    pub content: &'a str,
    /// `direct` | `pull-request`.
    pub write_mode: &'a str,
}

/// A stored request.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestRow {
    /// Id.
    pub id: String,
    /// Action.
    pub action: String,
    /// Offering id.
    pub offering: String,
    /// Offering version.
    pub offering_version: String,
    /// Claim apiVersion.
    pub api_version: String,
    /// Claim kind.
    pub kind: String,
    /// Claim name.
    pub name: String,
    /// Team.
    pub team: String,
    /// Environment.
    pub environment: String,
    /// User id.
    pub requested_by: String,
    /// Name at submission.
    pub requester_name: String,
    /// E-mail at submission.
    pub requester_email: String,
    /// Form JSON.
    pub body: String,
    /// Repository key.
    pub repository: String,
    /// File path.
    pub path: String,
    /// File content.
    pub content: String,
    /// `direct` | `pull-request`.
    pub write_mode: String,
    /// Latest stage.
    pub state: String,
    /// Commit.
    pub commit_sha: Option<String>,
    /// Pull request number.
    pub pr_number: Option<i64>,
    /// Pull request address.
    pub pr_url: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const REQUEST_COLUMNS: &str = "r.id, r.action, r.offering, r.offering_version, r.api_version, r.kind, r.name, r.team, r.environment, r.requested_by, r.requester_name, r.requester_email, r.body, r.repository, r.path, r.content, r.write_mode, r.state, r.commit_sha, r.pr_number, r.pr_url, r.created_at, r.updated_at";

/// A ledger event.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    /// Kind.
    pub kind: String,
    /// Unix ms.
    pub at: i64,
    /// Actor's display name (`None`: the portal).
    pub actor_name: Option<String>,
    /// Commit.
    pub sha: Option<String>,
    /// Link.
    pub url: Option<String>,
    /// Words.
    pub message: Option<String>,
}

/// A Git job with what the writer needs of its request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    /// The request.
    pub request: RequestRow,
    /// Attempts so far.
    pub attempts: i64,
    /// Job status (`pending`, `done`, `failed`).
    pub status: String,
    /// Unix ms.
    pub next_attempt_at: i64,
    /// Last error.
    pub last_error: Option<String>,
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

/// Stores a submission: the request, its `submitted` event, its Git job and an audit entry,
/// all or nothing.
pub async fn submit(db: &Db, new: &NewRequest<'_>, actor: &app::domain::CurrentUser) -> Result<()> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO requests (id, action, offering, offering_version, api_version, kind, name, team, environment,
            requested_by, requester_name, requester_email, body, repository, path, content, write_mode, state,
            commit_sha, pr_number, pr_url, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'submitted',
            NULL, NULL, NULL, $18, $18)",
    )
    .bind(new.id)
    .bind(new.action)
    .bind(new.offering)
    .bind(new.offering_version)
    .bind(new.api_version)
    .bind(new.kind)
    .bind(new.name)
    .bind(new.team)
    .bind(new.environment)
    .bind(new.requested_by.0)
    .bind(new.requested_by.1)
    .bind(new.requested_by.2)
    .bind(new.body)
    .bind(new.repository)
    .bind(new.path)
    .bind(new.content)
    .bind(new.write_mode)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    insert_event(
        &mut tx,
        new.id,
        "submitted",
        now,
        Some(new.requested_by.0),
        None,
        None,
    )
    .await?;
    sqlx::query(
        "INSERT INTO git_jobs (request_id, repository, status, attempts, next_attempt_at, last_error, created_at)
         VALUES ($1, $2, 'pending', 0, $3, NULL, $3)",
    )
    .bind(new.id)
    .bind(new.repository)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let target = format!("{}/{}/{}", new.team, new.kind, new.name);
    insert_entry(
        &mut *tx,
        NewAuditEntry {
            actor: Some(actor),
            action: &format!("request.{}", new.action),
            target: Some(&target),
            request_id: Some(new.id),
            outcome: crate::db::audit::Outcome::Ok,
            detail: Some(&format!("{} in {}", new.offering, new.environment)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    request_id: &str,
    kind: &str,
    at: i64,
    actor: Option<&str>,
    sha: Option<&str>,
    message: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO request_events (id, request_id, kind, at, actor, sha, url, message)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
    )
    .bind(new_id())
    .bind(request_id)
    .bind(kind)
    .bind(at)
    .bind(actor)
    .bind(sha)
    .bind(message)
    .execute(&mut **tx)
    .await?;
    appended(tx, request_id).await
}

/// After any ledger append, in its transaction: the request's derived metrics rows are
/// recomputed, and the change is counted for Prometheus.
async fn appended(tx: &mut sqlx::Transaction<'_, sqlx::Any>, request_id: &str) -> Result<()> {
    if let Some(refreshed) = super::metrics::refresh(tx, request_id).await? {
        crate::metrics::prom::global().ledger_changed(
            &refreshed.key.offering,
            refreshed.key.created_at,
            refreshed.before.as_ref(),
            &refreshed.after,
        );
    }
    Ok(())
}

/// One request.
pub async fn get(db: &Db, id: &str) -> Result<Option<RequestRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}

/// A request's ledger, oldest first.
pub async fn events(db: &Db, id: &str) -> Result<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT e.kind, e.at, u.display_name AS actor_name, e.sha, e.url, e.message
         FROM request_events e LEFT JOIN users u ON u.id = e.actor
         WHERE e.request_id = $1 ORDER BY e.at, e.id",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?)
}

/// The Git job of a request.
pub async fn job(db: &Db, id: &str) -> Result<Option<(String, i64, i64, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT status, attempts, next_attempt_at, last_error FROM git_jobs WHERE request_id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}

/// What a list may filter on; `teams: None` means every team.
#[derive(Clone, Debug, Default)]
pub struct ListQuery<'a> {
    /// Only these teams (`None`: all).
    pub teams: Option<&'a [String]>,
    /// Stage.
    pub state: Option<&'a str>,
    /// Environment.
    pub environment: Option<&'a str>,
    /// Name or kind contains (case-insensitive).
    pub q: Option<&'a str>,
    /// Ids below this one (ids are time-ordered).
    pub before: Option<&'a str>,
}

/// Requests matching `query`, newest first, at most `limit`.
pub async fn list(db: &Db, query: &ListQuery<'_>, limit: i64) -> Result<Vec<RequestRow>> {
    let mut sql = format!("SELECT {REQUEST_COLUMNS} FROM requests r WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    // Appends `clause` with `?` standing for the next placeholder, bound to `value`.
    fn push(sql: &mut String, binds: &mut Vec<String>, clause: &str, value: String) {
        binds.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    }
    if let Some(teams) = query.teams {
        if teams.is_empty() {
            return Ok(vec![]);
        }
        sql.push_str(" AND r.team IN (");
        for (i, team) in teams.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            push(&mut sql, &mut binds, "?", team.clone());
        }
        sql.push(')');
    }
    if let Some(state) = query.state {
        push(&mut sql, &mut binds, " AND r.state = ?", state.to_owned());
    }
    if let Some(environment) = query.environment {
        push(
            &mut sql,
            &mut binds,
            " AND r.environment = ?",
            environment.to_owned(),
        );
    }
    if let Some(q) = query.q {
        let pattern = format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        binds.push(pattern);
        let n = binds.len();
        sql.push_str(&format!(
            " AND (LOWER(r.name) LIKE ${n} ESCAPE '\\' OR LOWER(r.kind) LIKE ${n} ESCAPE '\\')"
        ));
    }
    if let Some(before) = query.before {
        push(&mut sql, &mut binds, " AND r.id < ?", before.to_owned());
    }
    sql.push_str(&format!(" ORDER BY r.id DESC LIMIT {}", limit.max(1)));
    // Every value above is bound; the text holds only placeholders and fixed clauses.
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for value in binds {
        q = q.bind(value);
    }
    Ok(q.fetch_all(db.pool()).await?)
}

/// Whether an unsettled request (not failed) already targets this file.
pub async fn pending_for_path(db: &Db, repository: &str, path: &str) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT r.id FROM requests r JOIN git_jobs j ON j.request_id = r.id
         WHERE r.repository = $1 AND r.path = $2 AND j.status = 'pending' LIMIT 1",
    )
    .bind(repository)
    .bind(path)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.get::<String, _>(0)))
}

/// Jobs of a repository due now, oldest first, at most `limit`.
pub async fn due(db: &Db, repository: &str, limit: i64) -> Result<Vec<JobRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, j.attempts, j.status, j.next_attempt_at, j.last_error
         FROM git_jobs j JOIN requests r ON r.id = j.request_id
         WHERE j.repository = $1 AND j.status = 'pending' AND j.next_attempt_at <= $2
         ORDER BY j.created_at, j.request_id LIMIT $3"
    )))
    .bind(repository)
    .bind(now_ms())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(JobRow {
                request: <RequestRow as sqlx::FromRow<'_, sqlx::any::AnyRow>>::from_row(row)?,
                attempts: row.try_get("attempts")?,
                status: row.try_get("status")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                last_error: row.try_get("last_error")?,
            })
        })
        .collect()
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

/// Records how a job ended: the job, the request's stage and the ledger event, at once.
/// A job that is no longer pending is left alone (settled twice by a retry: one event).
pub async fn settle(db: &Db, request_id: &str, outcome: &Settled) -> Result<bool> {
    let mut tx = db.pool().begin().await?;
    let changed = settle_in(&mut tx, request_id, outcome).await?;
    tx.commit().await?;
    Ok(changed)
}

/// Records how a run ended for each of its jobs, in one transaction (a batch of commits
/// pushed together is recorded together). Returns how many were still pending.
pub async fn settle_all(db: &Db, outcomes: &[(String, Settled)]) -> Result<usize> {
    let mut tx = db.pool().begin().await?;
    let mut changed = 0;
    for (request_id, outcome) in outcomes {
        if settle_in(&mut tx, request_id, outcome).await? {
            changed += 1;
        }
    }
    tx.commit().await?;
    Ok(changed)
}

async fn settle_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    request_id: &str,
    outcome: &Settled,
) -> Result<bool> {
    let now = now_ms();
    let (status, state, sha, message) = match outcome {
        Settled::Committed { sha } => ("done", "committed", Some(sha.as_str()), None),
        Settled::PrOpened { sha, .. } => ("done", "pr_opened", Some(sha.as_str()), None),
        Settled::Unchanged { sha } => (
            "done",
            "unchanged",
            Some(sha.as_str()),
            Some("The repository already holds this content; nothing to commit."),
        ),
        Settled::Failed { message } => ("failed", "failed", None, Some(message.as_str())),
    };
    let changed = sqlx::query(
        "UPDATE git_jobs SET status = $2, last_error = $3 WHERE request_id = $1 AND status = 'pending'",
    )
    .bind(request_id)
    .bind(status)
    .bind(matches!(outcome, Settled::Failed { .. }).then_some(message).flatten())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
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
        sqlx::query(
            "INSERT INTO request_events (id, request_id, kind, at, actor, sha, url, message)
             VALUES ($1, $2, 'pr_opened', $3, NULL, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(request_id)
        .bind(now)
        .bind(sha)
        .bind(url)
        .bind(format!("Pull request #{number} opened for review."))
        .execute(&mut **tx)
        .await?;
        appended(tx, request_id).await?;
        return Ok(true);
    }
    sqlx::query("UPDATE requests SET state = $2, commit_sha = $3, updated_at = $4 WHERE id = $1")
        .bind(request_id)
        .bind(state)
        .bind(sha)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    insert_event(tx, request_id, state, now, None, sha, message).await?;
    Ok(true)
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
pub async fn finish_pull(db: &Db, request_id: &str, outcome: &PullOutcome) -> Result<bool> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let (state, sha, message) = match outcome {
        PullOutcome::Merged { sha } => ("merged", Some(sha.as_str()), None),
        PullOutcome::Closed => (
            "closed",
            None,
            Some("The pull request was closed without merging; nothing reached the branch."),
        ),
    };
    let changed = sqlx::query(
        "UPDATE requests SET state = $2, commit_sha = COALESCE($3, commit_sha), updated_at = $4
         WHERE id = $1 AND state = 'pr_opened'",
    )
    .bind(request_id)
    .bind(state)
    .bind(sha)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    let url: Option<String> = sqlx::query("SELECT pr_url FROM requests WHERE id = $1")
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    sqlx::query(
        "INSERT INTO request_events (id, request_id, kind, at, actor, sha, url, message)
         VALUES ($1, $2, $3, $4, NULL, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(request_id)
    .bind(state)
    .bind(now)
    .bind(sha)
    .bind(url)
    .bind(message)
    .execute(&mut *tx)
    .await?;
    appended(&mut tx, request_id).await?;
    tx.commit().await?;
    Ok(true)
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

/// Puts jobs off after a failed attempt; a request's first failure moves it to
/// `waiting_for_git` with one ledger event (later failures only update the job).
pub async fn postpone(db: &Db, request_ids: &[String], error: &str, next_at: i64) -> Result<()> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    for id in request_ids {
        sqlx::query(
            "UPDATE git_jobs SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3
             WHERE request_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(error)
        .bind(next_at)
        .execute(&mut *tx)
        .await?;
        let moved = sqlx::query(
            "UPDATE requests SET state = 'waiting_for_git', updated_at = $2 WHERE id = $1 AND state = 'submitted'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved > 0 {
            insert_event(&mut tx, id, "waiting_for_git", now, None, None, Some(error)).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Takes or renews the lease `name` for `holder` until `now + ttl_ms`. True when held.
pub async fn lease(db: &Db, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
    let now = now_ms();
    let taken = sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
    )
    .bind(name)
    .bind(holder)
    .bind(now + ttl_ms)
    .bind(now)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Gives the lease up (on orderly shutdown), so another replica need not wait for expiry.
pub async fn release(db: &Db, name: &str, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A ledger event the control plane writes (through the recorder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusEvent {
    /// The applier applied a revision containing the request's commit.
    Synced,
    /// The claim exists and is not Ready yet.
    Reconciling,
    /// The claim is Ready.
    Ready,
    /// The claim (or something it composes) failed; the message is the root cause.
    Failed,
    /// The claim is gone.
    Deleted,
}

impl StatusEvent {
    /// The ledger kind.
    pub fn kind(self) -> &'static str {
        match self {
            StatusEvent::Synced => "synced",
            StatusEvent::Reconciling => "reconciling",
            StatusEvent::Ready => "ready",
            StatusEvent::Failed => "failed",
            StatusEvent::Deleted => "deleted",
        }
    }

    /// The request stage it leads to.
    fn stage(self) -> &'static str {
        match self {
            StatusEvent::Failed => "failing",
            other => other.kind(),
        }
    }
}

/// What the ledger already says about a request's life in the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusSoFar {
    /// A `synced` event exists.
    pub synced: bool,
    /// The latest of `reconciling`, `ready`, `failed` (after the commit), `deleted`.
    pub last: Option<String>,
}

/// The status events of a request so far. A `failed` before the request had a commit is the
/// Git writer's, not the cluster's, and is not counted.
pub async fn status_so_far(db: &Db, request_id: &str) -> Result<StatusSoFar> {
    status_so_far_in(db.pool(), request_id).await
}

async fn status_so_far_in<'e, E>(executor: E, request_id: &str) -> Result<StatusSoFar>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT kind, sha FROM request_events WHERE request_id = $1
         AND kind IN ('committed', 'merged', 'synced', 'reconciling', 'ready', 'failed', 'deleted')
         ORDER BY at, id",
    )
    .bind(request_id)
    .fetch_all(executor)
    .await?;
    let mut so_far = StatusSoFar::default();
    let mut in_branch = false;
    for (kind, _) in rows {
        match kind.as_str() {
            "committed" | "merged" => in_branch = true,
            "synced" => so_far.synced = true,
            "failed" if !in_branch => {}
            _ => so_far.last = Some(kind),
        }
    }
    Ok(so_far)
}

/// Appends a control-plane event unless the ledger already says it (`synced` once; the
/// others when they differ from the latest): several watchers, restarts and re-lists see the
/// same state again, and the ledger must not. Updates the request's stage. Returns whether
/// the event was written.
pub async fn record_status(
    db: &Db,
    request_id: &str,
    event: StatusEvent,
    message: Option<&str>,
) -> Result<bool> {
    let kind = event.kind();
    let mut tx = db.pool().begin().await?;
    // Serialises recorders on PostgreSQL (a lease hand-over can briefly overlap): the row
    // lock is held until commit, so the second sees the first's event.
    sqlx::query("UPDATE requests SET updated_at = updated_at WHERE id = $1")
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    let so_far = status_so_far_in(&mut *tx, request_id).await?;
    let repeat = if kind == "synced" {
        so_far.synced
    } else {
        so_far.last.as_deref() == Some(kind)
    };
    if repeat || so_far.last.as_deref() == Some("deleted") {
        tx.rollback().await?;
        return Ok(false);
    }
    let now = now_ms();
    insert_event(&mut tx, request_id, kind, now, None, None, message).await?;
    // A late `synced` (its applier seen after the claim) does not move the stage back.
    let keeps_stage = kind == "synced" && so_far.last.is_some();
    if !keeps_stage {
        sqlx::query("UPDATE requests SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(request_id)
            .bind(event.stage())
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Requests in the branch the recorder looks at without being told: by default those still
/// waiting for their applier or their claim (`committed`, `merged`, `synced`); with `all`,
/// also those whose claim it has seen (`reconciling`, `failing`, `ready`), whose later
/// changes otherwise reach it as watch events. Oldest first, up to `limit`.
pub async fn awaiting_status(db: &Db, all: bool, limit: i64) -> Result<Vec<RequestRow>> {
    let states = if all {
        "('committed', 'merged', 'synced', 'reconciling', 'failing', 'ready')"
    } else {
        "('committed', 'merged', 'synced')"
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r WHERE r.state IN {states}
         ORDER BY r.id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Requests for the same claim (environment, kind, name) still awaiting the cluster.
pub async fn for_claim(
    db: &Db,
    environment: &str,
    kind: &str,
    name: &str,
) -> Result<Vec<RequestRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r
         WHERE r.environment = $1 AND r.kind = $2 AND r.name = $3
         AND r.state IN ('committed', 'merged', 'synced', 'reconciling', 'failing', 'ready')
         ORDER BY r.id"
    )))
    .bind(environment)
    .bind(kind)
    .bind(name)
    .fetch_all(db.pool())
    .await?)
}

/// Whether a request for the claim (environment, kind, name) other than `except` reached the
/// cluster: synced, or its claim seen reconciling, Ready or deleted.
pub async fn claim_reached_cluster(
    db: &Db,
    environment: &str,
    kind: &str,
    name: &str,
    except: &str,
) -> Result<bool> {
    let found: Option<(String,)> = sqlx::query_as(
        "SELECT r.id FROM requests r JOIN request_events e ON e.request_id = r.id
         WHERE r.environment = $1 AND r.kind = $2 AND r.name = $3 AND r.id <> $4
         AND e.kind IN ('synced', 'reconciling', 'ready', 'deleted')
         LIMIT 1",
    )
    .bind(environment)
    .bind(kind)
    .bind(name)
    .bind(except)
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}
