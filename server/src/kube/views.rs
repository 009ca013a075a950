//! The read side of the status watchers: what pages, the status stream and the ledger
//! recorder ask of the read model [`super::watch`] keeps. Every answer is computed from the
//! records under a read lock; a cluster that does not answer makes its answers Stale.

use app::status::{ClaimRow, ClusterView, KindState, LiveStatus, RequestStatus, WatchedKind};

use super::status::{self, ObjectKey, Record};
use super::watch::{ClusterState, ClusterWatch, Role, StatusWatch};
use crate::db::now_ms;
use crate::db::requests::ClaimKey;
use crate::time::rfc3339;

/// An applier that applied (or tried to apply) revisions over a path.
#[derive(Clone, Debug)]
pub struct ApplierSight {
    /// `Kind namespace/name`.
    pub name: String,
    /// Commits it applied successfully.
    pub revisions: Vec<String>,
    /// Its latest attempt, when it failed.
    pub failed: Option<status::FailedAttempt>,
}

impl StatusWatch {
    /// The cluster an environment reconciles in.
    pub fn cluster_of(&self, environment: &str) -> Option<&std::sync::Arc<ClusterWatch>> {
        let cluster = self.environments.get(environment)?.cluster.as_deref()?;
        self.clusters.iter().find(|c| c.name == cluster)
    }

    /// A request's live status and resource tree.
    pub fn request_status(&self, environment: &str, request_id: &str) -> RequestStatus {
        let Some(watch) = self.cluster_of(environment) else {
            return RequestStatus {
                cluster: None,
                live: None,
                tree: None,
                note: Some(format!(
                    "environment {environment} reconciles in no configured cluster, so its live status is not followed"
                )),
            };
        };
        let state = watch.state.read().expect("cluster lock");
        let Some(key) = state.roots.get(request_id) else {
            return RequestStatus {
                cluster: Some(watch.name.clone()),
                live: None,
                tree: None,
                note: Some(format!(
                    "no claim in cluster {} carries this request's id yet",
                    watch.name
                )),
            };
        };
        let Some(record) = lookup(&state, key) else {
            return RequestStatus {
                cluster: Some(watch.name.clone()),
                live: None,
                tree: None,
                note: None,
            };
        };
        let tree = status::tree(key, record, &|k| lookup(&state, k));
        let live = view(&state, status::summarize(&tree, since_of(record)));
        RequestStatus {
            cluster: Some(watch.name.clone()),
            live: Some(live),
            tree: Some(tree),
            note: None,
        }
    }

    /// The status of the claim carrying `request_id` in the environment's cluster (Stale
    /// while that cluster is unreachable); `None` when no such claim is seen.
    pub fn claim_status(&self, environment: &str, request_id: &str) -> Option<LiveStatus> {
        let watch = self.cluster_of(environment)?;
        let state = watch.state.read().expect("cluster lock");
        let (_, _, live) = live_of(&state, state.roots.get(request_id)?)?;
        Some(view(&state, live))
    }

    /// Whether the claim is known to be absent: the cluster answers, its kind was listed
    /// completely, and no object of that name carries the environment's and the team's
    /// labels. `None` when that cannot be known now.
    pub fn claim_absent(&self, claim: ClaimKey<'_>) -> Option<bool> {
        let watch = self.cluster_of(claim.environment)?;
        let state = watch.state.read().expect("cluster lock");
        if !state.reachable {
            return None;
        }
        let group = status::group_of(claim.api_version);
        let slot = state
            .kinds
            .get(&(group.to_owned(), claim.kind.to_owned()))?;
        if !slot.complete || slot.state != KindState::Watching {
            return None;
        }
        Some(!slot.objects.iter().any(|((_, n), record)| {
            n == claim.name
                && record.environment.as_deref() == Some(claim.environment)
                && record.team.as_deref() == Some(claim.team)
        }))
    }

    /// The appliers in the environment's cluster that apply `path`.
    pub fn appliers_of(&self, environment: &str, path: &str) -> Vec<ApplierSight> {
        let Some(watch) = self.cluster_of(environment) else {
            return Vec::new();
        };
        let state = watch.state.read().expect("cluster lock");
        if !state.reachable {
            return Vec::new();
        }
        let mut found = Vec::new();
        // Only the applier kinds: a claim kind may hold tens of thousands of objects.
        for ((_, kind), slot) in state
            .kinds
            .iter()
            .filter(|(_, s)| s.roles.contains(&Role::Applier))
        {
            for ((namespace, name), record) in &slot.objects {
                if let Some(applied) = &record.applied
                    && applied.paths.iter().any(|p| status::covers(p, path))
                    && (!applied.revisions.is_empty() || applied.failed.is_some())
                {
                    found.push(ApplierSight {
                        name: format!("{kind} {namespace}/{name}"),
                        revisions: applied.revisions.clone(),
                        failed: applied.failed.clone(),
                    });
                }
            }
        }
        found
    }

    /// Claims of `teams` (every claim when `None`), in every cluster.
    pub fn claims(&self, teams: Option<&[String]>) -> Vec<ClaimRow> {
        let mut rows = Vec::new();
        for watch in &self.clusters {
            let state = watch.state.read().expect("cluster lock");
            for (request_id, key) in &state.roots {
                let Some(record) = lookup(&state, key) else {
                    continue;
                };
                let team = record.team.clone().unwrap_or_default();
                if teams.is_some_and(|t| !t.contains(&team)) {
                    continue;
                }
                let Some((_, _, live)) = live_of(&state, key) else {
                    continue;
                };
                rows.push(ClaimRow {
                    request_id: request_id.clone(),
                    team,
                    environment: record.environment.clone().unwrap_or_default(),
                    cluster: watch.name.clone(),
                    kind: key.kind.clone(),
                    namespace: (!key.namespace.is_empty()).then(|| key.namespace.clone()),
                    name: key.name.clone(),
                    live: view(&state, live),
                    promotes_to: Vec::new(),
                });
            }
        }
        rows.sort_by(|a, b| {
            (&a.environment, &a.kind, &a.name).cmp(&(&b.environment, &b.kind, &b.name))
        });
        rows
    }

    /// Every cluster, its kinds and counts.
    pub fn clusters(&self) -> Vec<ClusterView> {
        self.clusters
            .iter()
            .map(|watch| {
                let state = watch.state.read().expect("cluster lock");
                ClusterView {
                    name: watch.name.clone(),
                    environments: watch.environments.clone(),
                    reachable: state.reachable,
                    since: rfc3339(state.since),
                    error: state.error.clone(),
                    lag_ms: state.lag_ms,
                    kinds: state
                        .kinds
                        .iter()
                        .map(|((group, kind), slot)| WatchedKind {
                            api_version: if slot.api_version.is_empty() {
                                group.clone()
                            } else {
                                slot.api_version.clone()
                            },
                            kind: kind.clone(),
                            role: slot
                                .roles
                                .iter()
                                .map(|r| r.word())
                                .collect::<Vec<_>>()
                                .join(", "),
                            objects: slot.objects.len(),
                            state: slot.state,
                            note: slot.note.clone(),
                            last_event: slot.last_event.map(rfc3339),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// Objects held in all clusters.
    pub fn object_count(&self) -> usize {
        self.clusters
            .iter()
            .map(|w| {
                w.state
                    .read()
                    .expect("cluster lock")
                    .kinds
                    .values()
                    .map(|s| s.objects.len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// Whether every cluster answers and has listed every kind it serves at least once.
    pub fn settled(&self) -> bool {
        self.clusters.iter().all(|w| {
            let state = w.state.read().expect("cluster lock");
            state.reachable
                && state
                    .kinds
                    .values()
                    .all(|s| s.complete || s.state == KindState::NotInstalled)
        })
    }
}

pub(super) fn lookup<'a>(state: &'a ClusterState, key: &ObjectKey) -> Option<&'a Record> {
    state
        .kinds
        .get(&(key.group.clone(), key.kind.clone()))?
        .objects
        .get(&(key.namespace.clone(), key.name.clone()))
}

/// The claim whose tree `key` is in (itself when it is one).
pub(super) fn root_of(state: &ClusterState, key: &ObjectKey) -> Option<ObjectKey> {
    let mut current = key.clone();
    for _ in 0..8 {
        if lookup(state, &current).is_some_and(|r| r.request_id.is_some()) {
            return Some(current);
        }
        current = state.parents.get(&current)?.clone();
    }
    None
}

fn since_of(record: &Record) -> String {
    record
        .changed_at
        .clone()
        .unwrap_or_else(|| rfc3339(now_ms()))
}

/// The claim at `key`: its request id, team and status (computed over its tree).
pub(super) fn live_of(
    state: &ClusterState,
    key: &ObjectKey,
) -> Option<(String, String, LiveStatus)> {
    let record = lookup(state, key)?;
    let request_id = record.request_id.clone()?;
    let tree = status::tree(key, record, &|k| lookup(state, k));
    Some((
        request_id,
        record.team.clone().unwrap_or_default(),
        status::summarize(&tree, since_of(record)),
    ))
}

/// A status as served: Stale while the cluster is unreachable.
fn view(state: &ClusterState, live: LiveStatus) -> LiveStatus {
    if state.reachable {
        live
    } else {
        status::stale(
            live,
            state.error.as_deref().unwrap_or("no answer"),
            rfc3339(state.since),
        )
    }
}
