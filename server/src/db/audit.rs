//! The audit log: who did what, to what, with which outcome. Append-only.

use app::domain::{AuditFilter, CurrentUser};

use super::{Db, Result, new_id, now_ms};

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    /// Done.
    Ok,
    /// Refused by authorization or validation.
    Denied,
    /// Failed.
    Error,
}

impl AuditOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Error => "error",
        }
    }
}

/// One entry to append.
#[derive(Clone, Debug)]
pub struct NewAuditEntry<'a> {
    /// Who acted; `None` for anonymous visitors and the system.
    pub actor: Option<&'a CurrentUser>,
    /// What was done, e.g. `login`, `logout`, `request.create`.
    pub action: &'a str,
    /// What it was done to.
    pub target: Option<&'a str>,
    /// The request it belongs to, if any.
    pub request_id: Option<&'a str>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Extra facts (never secrets).
    pub detail: Option<&'a str>,
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    /// Entry id.
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// Actor's user id.
    pub actor_id: Option<String>,
    /// Actor's name at the time.
    pub actor_name: String,
    /// Action.
    pub action: String,
    /// Target.
    pub target: Option<String>,
    /// The request it belongs to.
    pub request_id: Option<String>,
    /// AuditOutcome (`ok`, `denied`, `error`).
    pub outcome: String,
    /// Extra facts.
    pub detail: Option<String>,
}

/// Appends an entry.
pub async fn record(db: &Db, entry: NewAuditEntry<'_>) -> Result<()> {
    insert_entry(db.pool(), entry).await
}

/// Appends an entry through `executor` (a pool, or a transaction the entry belongs to).
pub async fn insert_entry<'e, E>(executor: E, entry: NewAuditEntry<'_>) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_id, actor_name, action, target, request_id, outcome, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(now_ms())
    .bind(entry.actor.map(|a| a.id.clone()))
    .bind(entry.actor.map_or_else(|| "anonymous".to_owned(), |a| a.name.clone()))
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.request_id)
    .bind(entry.outcome.as_str())
    .bind(entry.detail)
    .execute(executor)
    .await?;
    Ok(())
}

/// Entries matching `filter`, newest first, at most `limit`.
pub async fn list(db: &Db, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>> {
    let blank_is_none = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(sqlx::query_as(
        "SELECT id, at, actor_id, actor_name, action, target, request_id, outcome, detail FROM audit_log
         WHERE ($1 IS NULL OR LOWER(actor_name) LIKE '%' || LOWER($1) || '%')
           AND ($2 IS NULL OR action = $2)
           AND ($3 IS NULL OR outcome = $3)
           AND ($4 IS NULL OR id < $4)
         ORDER BY id DESC
         LIMIT $5",
    )
    .bind(blank_is_none(&filter.actor))
    .bind(blank_is_none(&filter.action))
    .bind(blank_is_none(&filter.outcome))
    .bind(blank_is_none(&filter.before))
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// The newest entries first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<AuditRow>> {
    list(db, &AuditFilter::default(), limit).await
}

/// Removes the entries recorded before `before` (Unix ms); how many.
pub async fn purge_before(db: &Db, before: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
        .bind(before)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
