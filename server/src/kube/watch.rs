//! Status watchers: per cluster, one [`follow`](super::follow) per kind Slipway follows,
//! feeding a read model of trimmed [`Record`]s, the status hub and the ledger recorder. The
//! read side (what pages and the recorder ask) is [`super::views`].
//!
//! ```text
//!  per cluster, a manager:  wanted kinds = appliers (Argo CD Application, Flux Kustomization,
//!                                          HelmRelease)
//!                                        + offered claim kinds (catalog, this cluster's envs)
//!                                        + kinds the claims and composites reference
//!     │ one follower per kind ─▶ Served / NotServed / Complete / Upsert / Remove / Failing /
//!     ▼                            Recovered
//!  ClusterState (records by kind, claim roots, parents)
//!        Complete: what vanished meanwhile is removed
//!        changed claim trees ─▶ Hub (StatusMessage::Claim) and the recorder's dirty set
//! ```
//! Claims are watched with the `slipway.dev/team` label selector and composed resources with
//! `crossplane.io/composite`, so a cluster's unrelated Deployments or ConfigMaps never enter
//! memory. An unreachable cluster keeps its records: they are served as Stale with their age.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ::kube::api::DynamicObject;
use app::status::{KindState, LiveStatus, StatusMessage};
use tokio::sync::Notify;

use super::cluster::Cluster;
use super::follow::{self, Cause, Follow, Update};
use super::status::{self, COMPOSITE_LABEL, ObjectKey, Record, TEAM_LABEL};
use crate::catalog::Catalog;
use crate::config::ControlPlaneSettings;
use crate::db::now_ms;
use crate::environment::Environments;
use crate::hub::Hub;
use crate::metrics::prom::Telemetry;

/// Why a kind is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Argo CD / Flux objects that apply the repository.
    Applier,
    /// A kind the catalog offers (claims, or v2 composites).
    Claim,
    /// A kind a claim or composite references.
    Composed,
}

impl Role {
    pub(super) fn word(self) -> &'static str {
        match self {
            Role::Applier => "applier",
            Role::Claim => "claim",
            Role::Composed => "composed",
        }
    }
}

/// The appliers watched in every cluster: (group, preferred version, kind).
pub const APPLIERS: [(&str, &str, &str); 3] = [
    ("argoproj.io", "v1alpha1", "Application"),
    ("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
    ("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
];

/// (group, kind)
pub(super) type KindId = (String, String);

#[derive(Default)]
pub(super) struct KindSlot {
    pub api_version: String,
    pub roles: BTreeSet<Role>,
    pub state: KindState,
    pub note: Option<String>,
    pub last_event: Option<i64>,
    /// The initial list finished at least once: absence means absent.
    pub complete: bool,
    pub objects: HashMap<(String, String), Record>,
}

pub(super) struct ClusterState {
    pub reachable: bool,
    pub since: i64,
    pub error: Option<String>,
    pub lag_ms: Option<i64>,
    pub kinds: BTreeMap<KindId, KindSlot>,
    /// Request id → the claim carrying its stamp.
    pub roots: HashMap<String, ObjectKey>,
    /// Referenced object → its referrer.
    pub parents: HashMap<ObjectKey, ObjectKey>,
    /// The last status pushed per request id.
    pub published: HashMap<String, LiveStatus>,
}

/// One cluster's read model.
pub struct ClusterWatch {
    /// Configured name.
    pub name: String,
    /// Environments reconciling there.
    pub environments: Vec<String>,
    pub(super) state: RwLock<ClusterState>,
    wake: Notify,
}

/// Requests whose claims changed, for the ledger recorder.
#[derive(Default)]
pub struct Dirty {
    ids: Mutex<HashSet<String>>,
    /// An applier applied something: requests awaiting `synced` should be looked at.
    applied: std::sync::atomic::AtomicBool,
    /// Woken when ids are added.
    pub wake: Notify,
}

impl Dirty {
    fn add(&self, id: String) {
        self.ids.lock().expect("dirty lock").insert(id);
        self.wake.notify_one();
    }

    fn applier_changed(&self) {
        self.applied
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether an applier changed since the last call.
    pub fn take_applied(&self) -> bool {
        self.applied
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes every id added since the last call.
    pub fn take(&self) -> Vec<String> {
        self.ids.lock().expect("dirty lock").drain().collect()
    }
}

/// Every cluster's status watchers.
pub struct StatusWatch {
    pub(super) clusters: Vec<Arc<ClusterWatch>>,
    catalog: Arc<Catalog>,
    pub(super) environments: Arc<Environments>,
    pub(super) settings: ControlPlaneSettings,
    hub: Arc<Hub>,
    telemetry: Arc<Telemetry>,
    /// See [`Dirty`].
    pub dirty: Arc<Dirty>,
}

impl StatusWatch {
    /// Watchers for every configured cluster (not started).
    pub fn new(
        catalog: Arc<Catalog>,
        environments: Arc<Environments>,
        settings: ControlPlaneSettings,
        hub: Arc<Hub>,
        telemetry: Arc<Telemetry>,
    ) -> Arc<Self> {
        let now = now_ms();
        let clusters = settings
            .clusters
            .iter()
            .map(|c| {
                Arc::new(ClusterWatch {
                    name: c.name.clone(),
                    environments: environments.in_cluster(&c.name),
                    state: RwLock::new(ClusterState {
                        reachable: true,
                        since: now,
                        error: None,
                        lag_ms: None,
                        kinds: BTreeMap::new(),
                        roots: HashMap::new(),
                        parents: HashMap::new(),
                        published: HashMap::new(),
                    }),
                    wake: Notify::new(),
                })
            })
            .collect();
        Arc::new(StatusWatch {
            clusters,
            catalog,
            environments,
            settings,
            hub,
            telemetry,
            dirty: Arc::default(),
        })
    }

    /// The hub status changes are published to.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Starts a manager per connected cluster; they run until the tasks are aborted.
    pub fn spawn(self: &Arc<Self>, clusters: &[Cluster]) -> Vec<tokio::task::JoinHandle<()>> {
        clusters
            .iter()
            .filter_map(|cluster| {
                let watch = self
                    .clusters
                    .iter()
                    .find(|c| c.name == cluster.name)?
                    .clone();
                let this = self.clone();
                let cluster = cluster.clone();
                Some(tokio::spawn(
                    async move { this.manage(cluster, watch).await },
                ))
            })
            .collect()
    }

    /// Keeps one follower per wanted kind running.
    async fn manage(self: Arc<Self>, cluster: Cluster, watch: Arc<ClusterWatch>) {
        // Dropping the map (this task aborted) aborts every kind's task with it.
        let mut running: HashMap<KindId, (BTreeSet<Role>, AbortOnDrop)> = HashMap::new();
        let tick = self.settings.rediscover.min(Duration::from_secs(5));
        loop {
            let wanted = self.wanted(&watch);
            for (id, (version, roles)) in &wanted {
                let current = running.get(id).map(|(r, _)| r.clone());
                if current.as_ref() == Some(roles) {
                    continue;
                }
                running.remove(id);
                {
                    let mut state = watch.state.write().expect("cluster lock");
                    let slot = state.kinds.entry(id.clone()).or_default();
                    slot.roles = roles.clone();
                    if slot.api_version.is_empty() {
                        slot.api_version = format!("{}/{version}", id.0);
                    }
                }
                let task = tokio::spawn(self.clone().follow(
                    cluster.clone(),
                    watch.clone(),
                    id.clone(),
                    version.clone(),
                    roles.clone(),
                ));
                running.insert(id.clone(), (roles.clone(), AbortOnDrop(task)));
            }
            tokio::select! {
                () = watch.wake.notified() => {}
                () = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// Kinds to watch in `watch`'s cluster, with a version to prefer and their roles.
    fn wanted(&self, watch: &ClusterWatch) -> BTreeMap<KindId, (String, BTreeSet<Role>)> {
        let mut wanted: BTreeMap<KindId, (String, BTreeSet<Role>)> = BTreeMap::new();
        let mut add = |group: &str, version: &str, kind: &str, role: Role| {
            wanted
                .entry((group.to_owned(), kind.to_owned()))
                .or_insert_with(|| (version.to_owned(), BTreeSet::new()))
                .1
                .insert(role);
        };
        let version_of = |api_version: &str| -> String {
            api_version
                .rsplit_once('/')
                .map_or(api_version, |(_, v)| v)
                .to_owned()
        };
        for (group, version, kind) in APPLIERS {
            add(group, version, kind, Role::Applier);
        }
        let index = self.catalog.snapshot();
        for offering in index.all() {
            let summary = &offering.summary;
            if summary
                .environments
                .iter()
                .any(|e| watch.environments.contains(e))
            {
                add(
                    status::group_of(&summary.api_version),
                    &version_of(&summary.api_version),
                    &summary.kind,
                    Role::Claim,
                );
            }
        }
        let state = watch.state.read().expect("cluster lock");
        for slot in state.kinds.values() {
            for record in slot.objects.values() {
                for reference in &record.references {
                    add(
                        &reference.key.group,
                        &version_of(&reference.api_version),
                        &reference.key.kind,
                        Role::Composed,
                    );
                }
            }
        }
        wanted
    }

    /// Follows one kind for as long as it is wanted, keeping its slot of the read model.
    async fn follow(
        self: Arc<Self>,
        cluster: Cluster,
        watch: Arc<ClusterWatch>,
        id: KindId,
        version: String,
        roles: BTreeSet<Role>,
    ) {
        // One selector only when every role agrees on it.
        let selector = match (roles.len(), roles.first()) {
            (1, Some(Role::Claim)) => Some(TEAM_LABEL.to_owned()),
            (1, Some(Role::Composed)) => Some(COMPOSITE_LABEL.to_owned()),
            _ => None,
        };
        let kind = follow::Kind {
            group: id.0.clone(),
            version: Some(version),
            kind: id.1.clone(),
        };
        let how = Follow {
            selector,
            rediscover: self.settings.rediscover,
            probe: self.settings.rediscover.min(Duration::from_secs(5)),
        };
        let name = cluster.name.clone();
        follow::follow(cluster.client, kind, how, trimmed, |update| match update {
            Update::Served { api_version } => {
                self.set_kind(&watch, &id, |slot| {
                    slot.api_version = api_version;
                    slot.state = KindState::Listing;
                    slot.note = None;
                });
                self.reachable(&watch, None);
            }
            Update::NotServed => {
                self.replace_all(&watch, &id, Vec::new());
                self.set_kind(&watch, &id, |slot| {
                    slot.state = KindState::NotInstalled;
                    slot.note = Some(format!(
                        "{} ({}) is not served in cluster {name}; asking again every {:?}",
                        id.1, id.0, self.settings.rediscover
                    ));
                });
            }
            Update::Complete(set) => {
                self.replace_all(&watch, &id, set);
                self.set_kind(&watch, &id, |slot| slot.state = KindState::Watching);
                self.reachable(&watch, None);
            }
            Update::Upsert((key, record)) => {
                self.telemetry.watch_event(&name);
                self.upsert(&watch, key, record);
                self.reachable(&watch, None);
            }
            Update::Remove((key, _)) => {
                self.telemetry.watch_event(&name);
                self.remove(&watch, &key);
                self.reachable(&watch, None);
            }
            Update::Failing { error, cause } => {
                self.set_kind(&watch, &id, |slot| {
                    slot.state = KindState::Failing;
                    slot.note = Some(error.clone());
                });
                match cause {
                    Cause::Kind => self.reachable(&watch, None),
                    Cause::Connection => {}
                    Cause::Cluster => self.reachable(&watch, Some(error)),
                }
            }
            Update::Recovered => {
                // Back to watching (or listing, before its first list).
                self.set_kind(&watch, &id, |slot| {
                    slot.state = if slot.complete {
                        KindState::Watching
                    } else {
                        KindState::Listing
                    };
                    slot.note = None;
                });
                self.reachable(&watch, None);
            }
        })
        .await;
    }

    fn set_kind(&self, watch: &ClusterWatch, id: &KindId, change: impl FnOnce(&mut KindSlot)) {
        let mut state = watch.state.write().expect("cluster lock");
        change(state.kinds.entry(id.clone()).or_default());
    }

    /// Marks the cluster reachable (`None`) or not, telling browsers when that changes.
    fn reachable(&self, watch: &ClusterWatch, error: Option<String>) {
        let changed = {
            let mut state = watch.state.write().expect("cluster lock");
            let reachable = error.is_none();
            if reachable == state.reachable && (reachable || state.error == error) {
                false
            } else {
                let flipped = reachable != state.reachable;
                state.reachable = reachable;
                if flipped {
                    state.since = now_ms();
                }
                state.error = error.clone();
                if reachable {
                    for slot in state.kinds.values_mut() {
                        if slot.state == KindState::Failing {
                            slot.state = KindState::Watching;
                            slot.note = None;
                        }
                    }
                }
                flipped
            }
        };
        if changed {
            if error.is_some() {
                tracing::warn!(cluster = %watch.name, error = error.as_deref().unwrap_or_default(), "cluster unreachable; statuses from it are stale");
            } else {
                tracing::info!(cluster = %watch.name, "cluster reachable again");
            }
            // Every claim there is now (or no longer) stale: browsers re-read what they show.
            self.hub.publish(StatusMessage::Cluster {
                cluster: watch.name.clone(),
                reachable: error.is_none(),
                error,
            });
        }
    }

    fn upsert(&self, watch: &ClusterWatch, key: ObjectKey, record: Record) {
        if record.applied.is_some() {
            self.dirty.applier_changed();
        }
        let touched = {
            let mut state = watch.state.write().expect("cluster lock");
            let new_kinds = references_new_kinds(&state, &record);
            self.store(&mut state, key.clone(), record);
            if let Some(changed_at) = state
                .kinds
                .get(&(key.group.clone(), key.kind.clone()))
                .and_then(|s| s.objects.get(&(key.namespace.clone(), key.name.clone())))
                .and_then(|r| r.changed_at.as_deref())
                .and_then(parse_rfc3339)
            {
                state.lag_ms = Some((now_ms() - changed_at).max(0));
            }
            (super::views::root_of(&state, &key), new_kinds)
        };
        if let Some(root) = touched.0 {
            self.refresh_root(watch, &root);
        }
        if touched.1 {
            watch.wake.notify_one();
        }
    }

    fn store(&self, state: &mut ClusterState, key: ObjectKey, record: Record) {
        let id = (key.group.clone(), key.kind.clone());
        for reference in &record.references {
            state.parents.insert(reference.key.clone(), key.clone());
        }
        if let Some(request) = &record.request_id {
            state.roots.insert(request.clone(), key.clone());
        }
        let new_request = record.request_id.clone();
        let slot = state.kinds.entry(id).or_default();
        slot.last_event = Some(now_ms());
        let old = slot
            .objects
            .insert((key.namespace.clone(), key.name.clone()), record);
        if let Some(request) = old.and_then(|old| old.request_id)
            && Some(&request) != new_request.as_ref()
        {
            if state.roots.get(&request) == Some(&key) {
                state.roots.remove(&request);
            }
            state.published.remove(&request);
            self.dirty.add(request);
        }
    }

    fn remove(&self, watch: &ClusterWatch, key: &ObjectKey) {
        let touched = {
            let mut state = watch.state.write().expect("cluster lock");
            let root = super::views::root_of(&state, key);
            let removed = state
                .kinds
                .get_mut(&(key.group.clone(), key.kind.clone()))
                .and_then(|slot| {
                    slot.last_event = Some(now_ms());
                    slot.objects
                        .remove(&(key.namespace.clone(), key.name.clone()))
                });
            if let Some(removed) = removed {
                for reference in &removed.references {
                    if state.parents.get(&reference.key) == Some(key) {
                        state.parents.remove(&reference.key);
                    }
                }
                if let Some(request) = removed.request_id {
                    if state.roots.get(&request) == Some(key) {
                        state.roots.remove(&request);
                    }
                    state.published.remove(&request);
                    // The recorder decides whether the claim is gone for good.
                    self.dirty.add(request);
                }
            }
            root.filter(|r| r != key)
        };
        if let Some(root) = touched {
            self.refresh_root(watch, &root);
        }
    }

    /// Replaces every object of a kind with a complete set (after a list), removing what
    /// vanished and telling only about what changed.
    fn replace_all(&self, watch: &ClusterWatch, id: &KindId, set: Vec<(ObjectKey, Record)>) {
        let present: HashSet<(&str, &str)> = set
            .iter()
            .map(|(k, _)| (k.namespace.as_str(), k.name.as_str()))
            .collect();
        let gone: Vec<ObjectKey> = {
            let state = watch.state.read().expect("cluster lock");
            state
                .kinds
                .get(id)
                .map(|slot| {
                    slot.objects
                        .keys()
                        .filter(|(ns, n)| !present.contains(&(ns.as_str(), n.as_str())))
                        .map(|(namespace, name)| ObjectKey {
                            group: id.0.clone(),
                            kind: id.1.clone(),
                            namespace: namespace.clone(),
                            name: name.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        for key in &gone {
            self.remove(watch, key);
        }
        let mut roots = BTreeSet::new();
        let mut new_kinds = false;
        {
            let mut state = watch.state.write().expect("cluster lock");
            for (key, record) in set {
                let unchanged = state
                    .kinds
                    .get(id)
                    .and_then(|s| s.objects.get(&(key.namespace.clone(), key.name.clone())))
                    == Some(&record);
                if unchanged {
                    continue;
                }
                new_kinds |= references_new_kinds(&state, &record);
                if record.applied.is_some() {
                    self.dirty.applier_changed();
                }
                self.store(&mut state, key.clone(), record);
                if let Some(root) = super::views::root_of(&state, &key) {
                    roots.insert(root);
                }
            }
            state.kinds.entry(id.clone()).or_default().complete = true;
        }
        for root in roots {
            self.refresh_root(watch, &root);
        }
        if new_kinds {
            watch.wake.notify_one();
        }
    }

    /// Recomputes a claim's status; publishes it and marks its request dirty when it changed.
    fn refresh_root(&self, watch: &ClusterWatch, root: &ObjectKey) {
        let message = {
            let mut state = watch.state.write().expect("cluster lock");
            let Some((request_id, team, live)) = super::views::live_of(&state, root) else {
                return;
            };
            let same = state
                .published
                .get(&request_id)
                .is_some_and(|p| p.health == live.health && p.cause_in == live.cause_in);
            if same {
                return;
            }
            state.published.insert(request_id.clone(), live.clone());
            StatusMessage::Claim {
                request_id,
                team,
                live,
            }
        };
        if let StatusMessage::Claim { request_id, .. } = &message {
            self.dirty.add(request_id.clone());
        }
        self.hub.publish(message);
    }
}

/// Whether a record references a kind the cluster's model has no slot for yet.
fn references_new_kinds(state: &ClusterState, record: &Record) -> bool {
    record.references.iter().any(|r| {
        !state
            .kinds
            .contains_key(&(r.key.group.clone(), r.key.kind.clone()))
    })
}

/// A task that ends when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Keeps the record only: the object (spec, managedFields, annotations) is dropped here.
fn trimmed(object: &DynamicObject) -> Option<(ObjectKey, Record)> {
    let value = serde_json::to_value(object).ok()?;
    Some((status::key_of(&value)?, status::observe(&value)))
}
