//! The ledger: append-only events per request (`request_events`). Every append goes through
//! [`append`], inside its caller's transaction, which also refreshes the request's derived
//! metrics rows and reports what it wrote, so the caller can announce it (hub, telemetry).
//!
//! ```text
//!  submit / settle / postpone / finish_pull / record_status ──▶ append(tx, …) ──▶ Appended
//!                                                                   │ metrics::refresh (facts, incidents)
//!                                                  crate::ledger ◀──┘ (after commit: hub + telemetry)
//! ```

use app::requests::{EventKind, Stage};

use super::leases::{self, Fence};
use super::metrics::{self, Refreshed};
use super::{Db, Result, new_id, now_ms};

/// One event a transaction appended, for the caller to announce after commit.
#[derive(Clone, Debug)]
pub struct Appended {
    /// The event's id.
    pub id: String,
    /// When (Unix ms).
    pub at: i64,
    /// What was recorded.
    pub kind: EventKind,
    /// The request's derived facts before and after (and the request's team, offering …).
    pub refreshed: Refreshed,
}

impl Appended {
    /// The request's id.
    pub fn request_id(&self) -> &str {
        &self.refreshed.key.id
    }

    /// The request's team.
    pub fn team(&self) -> &str {
        &self.refreshed.key.team
    }
}

/// A ledger event as pages read it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    /// Kind.
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
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

/// What an event carries besides its kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Detail<'a> {
    /// Who acted (a user id; `None`: the portal).
    pub actor: Option<&'a str>,
    /// A commit.
    pub sha: Option<&'a str>,
    /// A link (pull request).
    pub url: Option<&'a str>,
    /// Words.
    pub message: Option<&'a str>,
}

/// Appends an event inside `tx` and refreshes the request's metrics rows. `None` when the
/// request does not exist (nothing to refresh).
pub(crate) async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    request_id: &str,
    kind: EventKind,
    at: i64,
    detail: Detail<'_>,
) -> Result<Option<Appended>> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO request_events (id, request_id, kind, at, actor, sha, url, message)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(request_id)
    .bind(kind.as_str())
    .bind(at)
    .bind(detail.actor)
    .bind(detail.sha)
    .bind(detail.url)
    .bind(detail.message)
    .execute(&mut **tx)
    .await?;
    Ok(metrics::refresh(tx, request_id)
        .await?
        .map(|refreshed| Appended {
            id,
            at,
            kind,
            refreshed,
        }))
}

/// An event as the other replicas learn of it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Recent {
    /// The event's id.
    pub id: String,
    /// When (Unix ms).
    pub at: i64,
    /// The request.
    pub request_id: String,
    /// The request's team.
    pub team: String,
    /// What was recorded.
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
}

/// Events appended at `since` (Unix ms) or later, by any replica (`request_events_at`).
pub async fn appended_since(db: &Db, since: i64) -> Result<Vec<Recent>> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.at, e.request_id, r.team, e.kind
         FROM request_events e JOIN requests r ON r.id = e.request_id
         WHERE e.at >= $1 ORDER BY e.at, e.id",
    )
    .bind(since)
    .fetch_all(db.pool())
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

/// A ledger event the control plane writes (through the recorder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusEvent {
    /// The applier applied a revision containing the request's commit.
    Synced,
    /// The applier tried to apply a revision containing the commit and failed.
    ApplyFailed,
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
    pub fn kind(self) -> EventKind {
        match self {
            StatusEvent::Synced => EventKind::Synced,
            StatusEvent::ApplyFailed => EventKind::ApplyFailed,
            StatusEvent::Reconciling => EventKind::Reconciling,
            StatusEvent::Ready => EventKind::Ready,
            StatusEvent::Failed => EventKind::Failed,
            StatusEvent::Deleted => EventKind::Deleted,
        }
    }

    /// The request stage it leads to.
    fn stage(self) -> Stage {
        match self {
            StatusEvent::Synced => Stage::Synced,
            StatusEvent::ApplyFailed => Stage::ApplyFailed,
            StatusEvent::Reconciling => Stage::Reconciling,
            StatusEvent::Ready => Stage::Ready,
            StatusEvent::Failed => Stage::Failing,
            StatusEvent::Deleted => Stage::Deleted,
        }
    }
}

/// What the ledger already says about a request's life in the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusSoFar {
    /// A `synced` event exists.
    pub synced: bool,
    /// An `apply_failed` was recorded and no `synced` since.
    pub apply_failed: bool,
    /// The latest of `reconciling`, `ready`, `failed` (after the commit), `deleted`.
    pub last: Option<EventKind>,
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
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT kind FROM request_events WHERE request_id = $1
         AND kind IN ('committed', 'merged', 'synced', 'apply_failed', 'reconciling', 'ready', 'failed', 'deleted')
         ORDER BY at, id",
    )
    .bind(request_id)
    .fetch_all(executor)
    .await?;
    let mut so_far = StatusSoFar::default();
    let mut in_branch = false;
    for (word,) in rows {
        match EventKind::parse(&word) {
            Some(EventKind::Committed | EventKind::Merged) => in_branch = true,
            Some(EventKind::Synced) => {
                so_far.synced = true;
                so_far.apply_failed = false;
            }
            Some(EventKind::ApplyFailed) => so_far.apply_failed = !so_far.synced,
            Some(EventKind::Failed) if !in_branch => {}
            Some(kind) => so_far.last = Some(kind),
            None => {}
        }
    }
    Ok(so_far)
}

/// Appends a control-plane event unless the ledger already says it (`synced` once;
/// `apply_failed` once until a sync; the others when they differ from the latest): several
/// watchers, restarts and re-lists see the same state again, and the ledger must not. Updates
/// the request's stage. Fenced by the recorder's lease. Returns what was written.
pub async fn record_status(
    db: &Db,
    fence: &Fence,
    request_id: &str,
    event: StatusEvent,
    message: Option<&str>,
) -> Result<Option<Appended>> {
    let kind = event.kind();
    let mut tx = db.pool().begin().await?;
    leases::check(&mut tx, fence).await?;
    // Serialises recorders on PostgreSQL (a lease hand-over can briefly overlap): the row
    // lock is held until commit, so the second sees the first's event.
    sqlx::query("UPDATE requests SET updated_at = updated_at WHERE id = $1")
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    let so_far = status_so_far_in(&mut *tx, request_id).await?;
    let repeat = match event {
        StatusEvent::Synced => so_far.synced,
        StatusEvent::ApplyFailed => so_far.synced || so_far.apply_failed,
        _ => so_far.last == Some(kind),
    };
    if repeat || so_far.last == Some(EventKind::Deleted) {
        tx.rollback().await?;
        return Ok(None);
    }
    let now = now_ms();
    let appended = append(
        &mut tx,
        request_id,
        kind,
        now,
        Detail {
            message,
            ..Detail::default()
        },
    )
    .await?;
    // The applier's verdict (synced, apply failed) does not move the stage back once the
    // claim itself has been seen.
    let keeps_stage =
        matches!(event, StatusEvent::Synced | StatusEvent::ApplyFailed) && so_far.last.is_some();
    if !keeps_stage {
        sqlx::query("UPDATE requests SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(request_id)
            .bind(event.stage().as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(appended)
}
