//! The ledger recorder: turns what the status watchers see into ledger events (`synced`,
//! `apply_failed`, `reconciling`, `ready`, `failed`, `deleted`), once, from one replica.
//!
//! ```text
//!  StatusWatch.dirty (claims that changed) ─┐
//!  every sweep: requests awaiting the cluster ┼─▶ Sighting (ledger so far, claim, appliers'
//!                                             │   successes and failures, ancestry in the
//!                                             ▼   environment's shared clone)
//!              decide() (pure) ─▶ db::ledger::record_status (idempotent, fenced) ─▶ announce
//! ```
//! Only the holder of the `status-ledger` lease writes (renewed while it works; its writes
//! are fenced by the lease's generation); every replica watches and serves the live status.
//! The database check in `record_status` makes a repeated sighting (a re-list after 410, a
//! reconnect, a lease hand-over) a no-op, so nothing is written twice. *Synced* means the
//! applier applied a revision containing the commit successfully; a failed attempt at such
//! a revision is `apply_failed` with the applier's words, until a later sync succeeds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use app::domain::HealthState;
use app::requests::{Action, EventKind, Stage};
use app::status::LiveStatus;

use super::watch::StatusWatch;
use crate::db::Db;
use crate::db::ledger::{self, StatusEvent, StatusSoFar};
use crate::db::requests::{self as store, ClaimKey, RequestRow};
use crate::environment::Environments;
use crate::lease::{Held, Lease};
use crate::ledger::Ledger;
use crate::shutdown::Stopping;

const LEASE: &str = "status-ledger";

/// What is known about a request when deciding its next ledger events.
#[derive(Clone, Debug)]
pub struct Sighting {
    /// Create, update or delete.
    pub action: Action,
    /// The request's change is in the branch.
    pub in_branch: bool,
    /// The ledger so far.
    pub so_far: StatusSoFar,
    /// An applier whose applied revision contains the commit (its name).
    pub applied_by: Option<String>,
    /// An applier that failed to apply a revision containing the commit: its name, the
    /// reason and its words.
    pub apply_failed: Option<(String, String, String)>,
    /// The claim carrying this request's id, with its status.
    pub claim: Option<LiveStatus>,
    /// Whether the claim is known to be absent from the cluster (`None`: cannot tell now).
    pub absent: Option<bool>,
    /// For a delete: an earlier request for the same claim reached the cluster (its claim
    /// was seen, or its applier synced it). Without that, an absent claim says nothing.
    pub existed: bool,
    /// The cluster, for messages.
    pub cluster: String,
}

/// The events to append, in order, with their messages. Pure.
pub fn decide(facts: &Sighting) -> Vec<(StatusEvent, String)> {
    let mut events = Vec::new();
    if !facts.in_branch || facts.so_far.last == Some(EventKind::Deleted) {
        return events;
    }
    let claim = facts
        .claim
        .as_ref()
        .filter(|c| c.health.state != HealthState::Stale);
    if !facts.so_far.synced {
        if let Some(applier) = &facts.applied_by {
            events.push((
                StatusEvent::Synced,
                format!("{applier} applied a revision containing this request's commit."),
            ));
        } else if claim.is_some() {
            events.push((
                StatusEvent::Synced,
                format!(
                    "The claim in cluster {} carries this request's id: its commit was applied.",
                    facts.cluster
                ),
            ));
        } else if let Some((applier, reason, words)) = &facts.apply_failed
            && !facts.so_far.apply_failed
        {
            // `Kind/namespace/name: Reason: words`, the form failure reasons are keyed by.
            let (kind, name) = applier.split_once(' ').unwrap_or((applier, ""));
            events.push((
                StatusEvent::ApplyFailed,
                format!("{kind}/{name}: {reason}: {words}"),
            ));
        }
    }
    if let Some(claim) = claim {
        let next = match claim.health.state {
            HealthState::Ready => Some(StatusEvent::Ready),
            HealthState::Failed => Some(StatusEvent::Failed),
            HealthState::Progressing | HealthState::Unknown => Some(StatusEvent::Reconciling),
            HealthState::Deleting | HealthState::Stale => None,
        };
        if let Some(next) = next
            && facts.so_far.last != Some(next.kind())
        {
            events.push((next, message(claim, next)));
        }
        return events;
    }
    if facts.absent == Some(true) {
        let was_there = matches!(
            facts.so_far.last,
            Some(EventKind::Reconciling | EventKind::Ready | EventKind::Failed)
        );
        let delete_done = facts.action == Action::Delete
            && (facts.so_far.synced || facts.applied_by.is_some() || facts.existed);
        if delete_done || was_there {
            events.push((
                StatusEvent::Deleted,
                format!("The claim is no longer in cluster {}.", facts.cluster),
            ));
        }
    }
    events
}

fn message(claim: &LiveStatus, event: StatusEvent) -> String {
    let health = &claim.health;
    let mut text = match event {
        StatusEvent::Ready => "The claim is Ready.".to_owned(),
        StatusEvent::Reconciling => "The claim is being reconciled.".to_owned(),
        _ => String::new(),
    };
    let mut detail = Vec::new();
    if let Some(place) = &claim.cause_in {
        detail.push(place.clone());
    }
    if let Some(reason) = &health.reason {
        detail.push(reason.clone());
    }
    if let Some(message) = &health.message {
        detail.push(message.clone());
    }
    if !detail.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&detail.join(": "));
    }
    text
}

/// The recorder's timing.
#[derive(Clone, Debug)]
pub struct RecorderSettings {
    /// How often requests awaiting the cluster are looked at without a change.
    pub sweep: Duration,
    /// The leader lease's lifetime.
    pub lease_ttl: Duration,
}

/// See the module documentation.
pub struct Recorder {
    db: Db,
    watch: Arc<StatusWatch>,
    environments: Arc<Environments>,
    lease: Lease,
    ledger: Ledger,
    settings: RecorderSettings,
}

impl Recorder {
    /// A recorder writing as `holder`.
    pub fn new(
        db: Db,
        watch: Arc<StatusWatch>,
        environments: Arc<Environments>,
        ledger: Ledger,
        holder: String,
        settings: RecorderSettings,
    ) -> Self {
        Recorder {
            lease: Lease::new(db.clone(), LEASE, holder, settings.lease_ttl),
            db,
            watch,
            environments,
            ledger,
            settings,
        }
    }

    /// The lease it records under.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Runs until the task is aborted or the process stops; then it finishes the round in
    /// hand and releases the lease, so another replica records from now on.
    pub fn spawn(self, stopping: Stopping) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut held: Option<Held> = None;
            let mut full_sweep_done = false;
            let mut ancestry: HashMap<(String, String), bool> = HashMap::new();
            let mut last_sweep: Option<tokio::time::Instant> = None;
            while !stopping.is_stopping() {
                if held.as_ref().is_some_and(Held::is_lost) {
                    held = None;
                }
                if held.is_none() {
                    match self.lease.hold().await {
                        Ok(Some(taken)) => {
                            tracing::info!("recording control-plane status in the ledger (leader)");
                            full_sweep_done = false;
                            held = Some(taken);
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(%error, "status recorder cannot take its lease");
                        }
                    }
                }
                if stopping.is_stopping() {
                    // Stopping while the lease was being taken: no round, release it below.
                    break;
                }
                if let Some(lease) = &held {
                    let sweep = self.watch.dirty.take_applied()
                        || last_sweep.is_none_or(|at| at.elapsed() >= self.settings.sweep);
                    if sweep {
                        last_sweep = Some(tokio::time::Instant::now());
                    }
                    // Once per leadership, when the watchers have seen everything, every
                    // request with a claim too: what changed while no replica recorded.
                    // After that, claim changes arrive as watch events (the dirty set).
                    let all = sweep && !full_sweep_done && self.watch.settled();
                    full_sweep_done |= self.round(lease, sweep, all, &mut ancestry).await && all;
                }
                if held.is_none() {
                    // Another replica records; claim changes are its business. Taking over
                    // starts with a full sweep, so nothing seen meanwhile is lost.
                    tokio::select! {
                        () = tokio::time::sleep(self.lease.standby()) => {}
                        () = stopping.wait() => {}
                    }
                    continue;
                }
                tokio::select! {
                    () = self.watch.dirty.wake.notified() => {}
                    () = tokio::time::sleep(self.settings.sweep.min(self.lease.standby())) => {}
                    () = stopping.wait() => {}
                }
            }
            if let Some(lease) = held.take() {
                lease.release().await;
                tracing::info!("stopping: status recorder lease released");
            }
        })
    }

    /// One round under the lease: the requests whose claims changed, and with `sweep` those
    /// awaiting the cluster (`all`: every request with a claim). False when the sweep's list
    /// could not be read.
    async fn round(
        &self,
        lease: &Held,
        sweep: bool,
        all: bool,
        ancestry: &mut HashMap<(String, String), bool>,
    ) -> bool {
        let mut ids = self.watch.dirty.take();
        let mut rows: BTreeMap<String, RequestRow> = BTreeMap::new();
        let mut listed = true;
        if sweep {
            match store::awaiting_status(&self.db, all, 10_000).await {
                Ok(found) => rows.extend(found.into_iter().map(|r| (r.id.clone(), r))),
                Err(error) => {
                    listed = false;
                    tracing::warn!(%error, "listing requests awaiting the cluster failed");
                }
            }
        }
        ids.retain(|id| !rows.contains_key(id));
        for id in ids {
            match store::get(&self.db, &id).await {
                Ok(Some(row)) => {
                    // Deletes of the same claim never carry their id on it.
                    if let Ok(related) = store::for_claim(&self.db, ClaimKey::of(&row)).await {
                        rows.extend(related.into_iter().map(|r| (r.id.clone(), r)));
                    }
                    rows.insert(row.id.clone(), row);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "reading a request failed"),
            }
        }
        for row in rows.values() {
            if lease.is_lost() {
                return false;
            }
            if let Err(error) = self.record(lease, row, ancestry).await {
                tracing::warn!(request = %row.id, error = %format!("{error:#}"), "recording status failed; will retry");
            }
        }
        listed
    }

    /// Decides and writes one request's events.
    async fn record(
        &self,
        lease: &Held,
        row: &RequestRow,
        ancestry: &mut HashMap<(String, String), bool>,
    ) -> anyhow::Result<()> {
        let Some(cluster) = self.watch.cluster_of(&row.environment) else {
            return Ok(());
        };
        let so_far = ledger::status_so_far(&self.db, &row.id).await?;
        let mut applied_by = None;
        let mut apply_failed = None;
        if !so_far.synced
            && let Some(commit) = &row.commit_sha
        {
            'appliers: for applier in self.watch.appliers_of(&row.environment, &row.path) {
                for revision in &applier.revisions {
                    if self.contains(row, commit, revision, ancestry).await? == Some(true) {
                        applied_by = Some(applier.name.clone());
                        break 'appliers;
                    }
                }
                if let Some(failed) = &applier.failed
                    && apply_failed.is_none()
                    && self
                        .contains(row, commit, &failed.revision, ancestry)
                        .await?
                        == Some(true)
                {
                    apply_failed = Some((
                        applier.name.clone(),
                        failed.reason.clone(),
                        failed.message.clone(),
                    ));
                }
            }
        }
        let claim = self.watch.claim_status(&row.environment, &row.id);
        let absent = if claim.is_none() {
            self.watch.claim_absent(ClaimKey::of(row))
        } else {
            Some(false)
        };
        let existed = row.action == Action::Delete
            && store::claim_reached_cluster(&self.db, ClaimKey::of(row), &row.id).await?;
        let facts = Sighting {
            existed,
            action: row.action,
            in_branch: row.commit_sha.is_some()
                && matches!(
                    row.state,
                    Stage::Committed
                        | Stage::Merged
                        | Stage::Synced
                        | Stage::ApplyFailed
                        | Stage::Reconciling
                        | Stage::Ready
                        | Stage::Failing
                ),
            so_far,
            applied_by,
            apply_failed,
            claim,
            absent,
            cluster: cluster.name.clone(),
        };
        for (event, message) in decide(&facts) {
            let appended =
                ledger::record_status(&self.db, lease.fence(), &row.id, event, Some(&message))
                    .await?;
            if appended.is_some() {
                tracing::info!(request = %row.id, event = event.kind().as_str(), "ledger");
            }
            self.ledger.announce(appended);
        }
        Ok(())
    }

    async fn contains(
        &self,
        row: &RequestRow,
        commit: &str,
        revision: &str,
        cache: &mut HashMap<(String, String), bool>,
    ) -> anyhow::Result<Option<bool>> {
        let key = (commit.to_owned(), revision.to_owned());
        if let Some(known) = cache.get(&key) {
            return Ok(Some(*known));
        }
        let Some(environment) = self.environments.get(&row.environment) else {
            return Ok(None);
        };
        let (clone, branch) = (environment.clone.clone(), environment.branch.clone());
        let (c, r) = key.clone();
        let answer = tokio::task::spawn_blocking(move || clone.contains(&branch, &c, &r)).await??;
        if let Some(answer) = answer {
            cache.insert(key, answer);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use app::domain::Health;

    use super::*;

    fn live(state: HealthState, reason: &str) -> LiveStatus {
        LiveStatus {
            health: Health {
                state,
                reason: Some(reason.into()),
                message: Some("details".into()),
            },
            cause_in: None,
            last_known: None,
            since: "t".into(),
        }
    }

    fn facts() -> Sighting {
        Sighting {
            action: Action::Create,
            in_branch: true,
            so_far: StatusSoFar::default(),
            applied_by: None,
            apply_failed: None,
            claim: None,
            absent: None,
            existed: true,
            cluster: "prod".into(),
        }
    }

    fn kinds(events: &[(StatusEvent, String)]) -> Vec<&'static str> {
        events.iter().map(|(e, _)| e.kind().as_str()).collect()
    }

    #[test]
    fn nothing_is_recorded_before_the_change_is_in_the_branch() {
        let mut f = facts();
        f.in_branch = false;
        f.claim = Some(live(HealthState::Ready, "Available"));
        assert!(decide(&f).is_empty());
    }

    #[test]
    fn a_claim_seen_ready_first_records_synced_then_ready() {
        let mut f = facts();
        f.claim = Some(live(HealthState::Ready, "Available"));
        assert_eq!(kinds(&decide(&f)), ["synced", "ready"]);
    }

    #[test]
    fn the_applier_alone_records_synced() {
        let mut f = facts();
        f.applied_by = Some("Application argocd/dev".into());
        let events = decide(&f);
        assert_eq!(kinds(&events), ["synced"]);
        assert!(events[0].1.contains("Application argocd/dev"));
    }

    #[test]
    fn the_same_state_seen_again_records_nothing() {
        let mut f = facts();
        f.so_far = StatusSoFar {
            synced: true,
            last: Some(EventKind::Reconciling),
            ..StatusSoFar::default()
        };
        f.claim = Some(live(HealthState::Progressing, "Creating"));
        assert!(decide(&f).is_empty());
        f.claim = Some(live(HealthState::Unknown, "NoConditions"));
        assert!(decide(&f).is_empty(), "Unknown is still reconciling");
    }

    #[test]
    fn a_failure_carries_its_root_cause() {
        let mut f = facts();
        f.so_far.synced = true;
        let mut claim = live(HealthState::Failed, "ReconcileError");
        claim.cause_in = Some("Instance/db-1".into());
        f.claim = Some(claim);
        let events = decide(&f);
        assert_eq!(kinds(&events), ["failed"]);
        assert_eq!(events[0].1, "Instance/db-1: ReconcileError: details");
    }

    #[test]
    fn a_stale_claim_records_nothing() {
        let mut f = facts();
        f.so_far.synced = true;
        f.claim = Some(live(HealthState::Stale, "ClusterUnreachable"));
        assert!(decide(&f).is_empty());
    }

    #[test]
    fn a_claim_that_was_there_and_is_gone_is_deleted_once() {
        let mut f = facts();
        f.so_far = StatusSoFar {
            synced: true,
            last: Some(EventKind::Ready),
            ..StatusSoFar::default()
        };
        f.absent = Some(true);
        assert_eq!(kinds(&decide(&f)), ["deleted"]);
        f.so_far.last = Some(EventKind::Deleted);
        assert!(decide(&f).is_empty());
    }

    #[test]
    fn a_create_not_applied_yet_is_not_deleted() {
        let mut f = facts();
        f.absent = Some(true);
        assert!(decide(&f).is_empty());
    }

    #[test]
    fn a_delete_of_a_claim_that_never_reached_the_cluster_is_not_called_done() {
        let mut f = facts();
        f.action = Action::Delete;
        f.existed = false;
        f.absent = Some(true);
        assert!(
            decide(&f).is_empty(),
            "nothing proves the delete was applied"
        );
        f.applied_by = Some("Kustomization flux-system/dev".into());
        assert_eq!(kinds(&decide(&f)), ["synced", "deleted"]);
    }

    #[test]
    fn a_delete_request_ends_when_the_claim_is_gone() {
        let mut f = facts();
        f.action = Action::Delete;
        f.absent = Some(false);
        assert!(decide(&f).is_empty(), "still there");
        f.absent = None;
        assert!(decide(&f).is_empty(), "cannot tell");
        f.absent = Some(true);
        assert_eq!(kinds(&decide(&f)), ["deleted"]);
    }
}
