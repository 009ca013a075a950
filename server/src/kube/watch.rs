//! Status watchers: per cluster, one kube-rs watcher per kind Slipway follows, feeding a read
//! model of trimmed [`Record`]s, the status hub and the ledger recorder.
//!
//! ```text
//!  per cluster, a manager:  wanted kinds = appliers (Argo CD Application, Flux Kustomization,
//!                                          HelmRelease)
//!                                        + offered claim kinds (catalog, this cluster's envs)
//!                                        + kinds the claims and composites reference
//!     │ spawns one task per kind ─▶ discover ── not served ─▶ note "not installed", ask later
//!     ▼                                 │ served
//!  watcher (list+watch, resume, re-list after 410, backoff) ─▶ observe() ─▶ ClusterState
//!        Init…InitDone: a complete set (what vanished meanwhile is removed)     │
//!                                                                              ▼
//!        changed claim trees ─▶ Hub (StatusMessage::Claim) and the recorder's dirty set
//! ```
//! Claims are watched with the `slipway.dev/team` label selector and composed resources with
//! `crossplane.io/composite`, so a cluster's unrelated Deployments or ConfigMaps never enter
//! memory. An unreachable cluster keeps its records: they are served as Stale with their age.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ::kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use ::kube::runtime::WatchStreamExt as _;
use ::kube::runtime::watcher::{self, Event};
use app::status::{ClaimRow, ClusterView, LiveStatus, RequestStatus, StatusMessage, WatchedKind};
use futures_util::StreamExt as _;
use tokio::sync::Notify;

use super::cluster::Cluster;
use super::hub::Hub;
use super::offerings::not_served;
use super::status::{self, COMPOSITE_LABEL, ObjectKey, Record, TEAM_LABEL};
use crate::catalog::Catalog;
use crate::config::ControlPlaneSettings;
use crate::db::now_ms;
use crate::services::audit::rfc3339;

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
    fn word(self) -> &'static str {
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
type KindId = (String, String);

#[derive(Default)]
struct KindSlot {
    api_version: String,
    roles: BTreeSet<Role>,
    state: &'static str,
    note: Option<String>,
    last_event: Option<i64>,
    /// The initial list finished at least once: absence means absent.
    complete: bool,
    objects: HashMap<(String, String), Record>,
}

struct ClusterState {
    reachable: bool,
    since: i64,
    error: Option<String>,
    lag_ms: Option<i64>,
    kinds: BTreeMap<KindId, KindSlot>,
    /// Request id → the claim carrying its stamp.
    roots: HashMap<String, ObjectKey>,
    /// Referenced object → its referrer.
    parents: HashMap<ObjectKey, ObjectKey>,
    /// The last status pushed per request id.
    published: HashMap<String, LiveStatus>,
}

/// One cluster's read model.
pub struct ClusterWatch {
    /// Configured name.
    pub name: String,
    /// Environments reconciling there.
    pub environments: Vec<String>,
    state: RwLock<ClusterState>,
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
    clusters: Vec<Arc<ClusterWatch>>,
    catalog: Arc<Catalog>,
    settings: ControlPlaneSettings,
    hub: Arc<Hub>,
    /// See [`Dirty`].
    pub dirty: Arc<Dirty>,
}

/// An applier that applied a commit over a path.
#[derive(Clone, Debug)]
pub struct ApplierSight {
    /// `Kind namespace/name`.
    pub name: String,
    /// Applied commits.
    pub revisions: Vec<String>,
}

impl StatusWatch {
    /// Watchers for every configured cluster (not started).
    pub fn new(catalog: Arc<Catalog>, settings: ControlPlaneSettings, hub: Arc<Hub>) -> Arc<Self> {
        let now = now_ms();
        let clusters = settings
            .clusters
            .iter()
            .map(|c| {
                Arc::new(ClusterWatch {
                    name: c.name.clone(),
                    environments: settings.environments_of(&c.name),
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
            settings,
            hub,
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
                let watch = self.cluster(&cluster.name)?.clone();
                let this = self.clone();
                let cluster = cluster.clone();
                Some(tokio::spawn(
                    async move { this.manage(cluster, watch).await },
                ))
            })
            .collect()
    }

    fn cluster(&self, name: &str) -> Option<&Arc<ClusterWatch>> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The cluster an environment reconciles in.
    pub fn cluster_of(&self, environment: &str) -> Option<&Arc<ClusterWatch>> {
        self.clusters
            .iter()
            .find(|c| c.environments.iter().any(|e| e == environment))
    }

    /// Keeps one watcher per wanted kind running.
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
                    if slot.state.is_empty() {
                        slot.state = "discovering";
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
                let version = summary
                    .api_version
                    .rsplit_once('/')
                    .map(|(_, v)| v)
                    .unwrap_or(&summary.api_version);
                add(
                    status::group_of(&summary.api_version),
                    version,
                    &summary.kind,
                    Role::Claim,
                );
            }
        }
        let state = watch.state.read().expect("cluster lock");
        for slot in state.kinds.values() {
            for record in slot.objects.values() {
                for reference in &record.references {
                    let version = reference
                        .api_version
                        .rsplit_once('/')
                        .map(|(_, v)| v)
                        .unwrap_or(&reference.api_version);
                    add(
                        &reference.key.group,
                        version,
                        &reference.key.kind,
                        Role::Composed,
                    );
                }
            }
        }
        wanted
    }

    /// Discovers and watches one kind, for as long as it is wanted.
    async fn follow(
        self: Arc<Self>,
        cluster: Cluster,
        watch: Arc<ClusterWatch>,
        id: KindId,
        version: String,
        roles: BTreeSet<Role>,
    ) {
        loop {
            match find_kind(&cluster.client, &id.0, &version, &id.1).await {
                Ok(Some(resource)) => {
                    self.set_kind(&watch, &id, |slot| {
                        slot.api_version = resource.api_version.clone();
                        slot.state = "listing";
                        slot.note = None;
                    });
                    self.reachable(&watch, None);
                    self.watch_kind(&cluster, &watch, &id, &resource, &roles)
                        .await;
                }
                Ok(None) => {
                    self.replace_all(&watch, &id, HashMap::new());
                    self.set_kind(&watch, &id, |slot| {
                        slot.state = "not installed";
                        slot.note = Some(format!(
                            "{} ({}) is not served in cluster {}; asking again every {:?}",
                            id.1, id.0, cluster.name, self.settings.rediscover
                        ));
                    });
                }
                Err(::kube::Error::Api(status)) if status.code < 500 => {
                    // The cluster answers; this kind is refused (RBAC, usually).
                    self.reachable(&watch, None);
                    self.set_kind(&watch, &id, |slot| {
                        slot.state = "failing";
                        slot.note = Some(format!(
                            "discovery refused: {} {}",
                            status.code, status.message
                        ));
                    });
                }
                Err(error) => {
                    self.reachable(&watch, Some(error.to_string()));
                }
            }
            tokio::time::sleep(self.settings.rediscover).await;
        }
    }

    async fn watch_kind(
        &self,
        cluster: &Cluster,
        watch: &ClusterWatch,
        id: &KindId,
        resource: &ApiResource,
        roles: &BTreeSet<Role>,
    ) {
        let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), resource);
        let mut config = watcher::Config::default();
        // One selector only when every role agrees on it.
        if roles.len() == 1 {
            match roles.first() {
                Some(Role::Claim) => config = config.labels(TEAM_LABEL),
                Some(Role::Composed) => config = config.labels(COMPOSITE_LABEL),
                _ => {}
            }
        }
        let mut events = watcher::watcher(api.clone(), config.clone())
            .default_backoff()
            .boxed();
        let mut fresh: Option<HashMap<(String, String), Record>> = None;
        let mut failing = false;
        let mut probe = tokio::time::interval(self.settings.rediscover.min(Duration::from_secs(5)));
        loop {
            let event = tokio::select! {
                event = events.next() => match event {
                    Some(event) => event,
                    None => return,
                },
                _ = probe.tick(), if failing => {
                    let mut params = ListParams::default().limit(1);
                    if let Some(selector) = &config.label_selector {
                        params = params.labels(selector);
                    }
                    if api.list_metadata(&params).await.is_ok() {
                        failing = false;
                        self.recovered(watch, id);
                        self.reachable(watch, None);
                    }
                    continue;
                }
            };
            if event.is_ok() && failing {
                failing = false;
                self.recovered(watch, id);
            }
            match event {
                Ok(Event::Init) => fresh = Some(HashMap::new()),
                Ok(Event::InitApply(object)) => {
                    if let (Some(set), Some((key, record))) = (fresh.as_mut(), trimmed(&object)) {
                        set.insert((key.namespace, key.name), record);
                    }
                }
                Ok(Event::InitDone) => {
                    let set = fresh.take().unwrap_or_default();
                    self.replace_all(watch, id, set);
                    self.set_kind(watch, id, |slot| slot.state = "watching");
                    self.reachable(watch, None);
                }
                Ok(Event::Apply(object)) => {
                    crate::metrics::prom::global().watch_event(&cluster.name);
                    if let Some((key, record)) = trimmed(&object) {
                        self.upsert(watch, key, record);
                    }
                    self.reachable(watch, None);
                }
                Ok(Event::Delete(object)) => {
                    crate::metrics::prom::global().watch_event(&cluster.name);
                    if let Some((key, _)) = trimmed(&object) {
                        self.remove(watch, &key);
                    }
                    self.reachable(watch, None);
                }
                Err(error) if not_served(&error) => {
                    tracing::info!(cluster = %cluster.name, kind = %id.1, "no longer served");
                    return;
                }
                // 410 Gone: the watcher re-lists on its own; the protocol at work, not a fault.
                Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                    tracing::debug!(cluster = %cluster.name, kind = %id.1, "watch expired; re-listing");
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(cluster = %cluster.name, kind = %id.1, %error, "status watch failing; retrying with backoff");
                    }
                    failing = true;
                    self.set_kind(watch, id, |slot| {
                        slot.state = "failing";
                        slot.note = Some(error.to_string());
                    });
                    // A refusal (403 without RBAC for this kind) is this kind's problem; a
                    // watch connection that broke mid-stream is re-opened at once; only no
                    // answer (or a server error) on a list or a new watch is the cluster's.
                    if refused(&error) {
                        self.reachable(watch, None);
                    } else if !matches!(error, watcher::Error::WatchFailed(_)) {
                        self.reachable(watch, Some(error.to_string()));
                    }
                }
            }
        }
    }

    /// A failing kind answers again: back to watching (or listing, before its first list).
    fn recovered(&self, watch: &ClusterWatch, id: &KindId) {
        self.set_kind(watch, id, |slot| {
            slot.state = if slot.complete { "watching" } else { "listing" };
            slot.note = None;
        });
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
                        if slot.state == "failing" {
                            slot.state = "watching";
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
            self.hub.publish(StatusMessage::Cluster {
                cluster: watch.name.clone(),
                reachable: error.is_none(),
                error,
            });
            // Every claim there is now (or no longer) stale: the recorder must not take a
            // stale status for a change, and need not look again until it is fresh.
        }
    }

    fn upsert(&self, watch: &ClusterWatch, key: ObjectKey, record: Record) {
        if record.applied.is_some() {
            self.dirty.applier_changed();
        }
        let mut new_kinds = false;
        let touched = {
            let mut state = watch.state.write().expect("cluster lock");
            new_kinds |= record.references.iter().any(|r| {
                !state
                    .kinds
                    .contains_key(&(r.key.group.clone(), r.key.kind.clone()))
            });
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
            root_of(&state, &key)
        };
        if let Some(root) = touched {
            self.refresh_root(watch, &root);
        }
        if new_kinds {
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
        let slot = state.kinds.entry(id).or_default();
        slot.last_event = Some(now_ms());
        let old = slot
            .objects
            .insert((key.namespace.clone(), key.name.clone()), record);
        if let Some(old) = old {
            let new_request = slot
                .objects
                .get(&(key.namespace.clone(), key.name.clone()))
                .and_then(|r| r.request_id.clone());
            if let Some(request) = old.request_id
                && Some(&request) != new_request.as_ref()
            {
                if state.roots.get(&request) == Some(&key) {
                    state.roots.remove(&request);
                }
                state.published.remove(&request);
                self.dirty.add(request);
            }
        }
    }

    fn remove(&self, watch: &ClusterWatch, key: &ObjectKey) {
        let touched = {
            let mut state = watch.state.write().expect("cluster lock");
            let root = root_of(&state, key);
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
    fn replace_all(
        &self,
        watch: &ClusterWatch,
        id: &KindId,
        set: HashMap<(String, String), Record>,
    ) {
        let gone: Vec<ObjectKey> = {
            let state = watch.state.read().expect("cluster lock");
            state
                .kinds
                .get(id)
                .map(|slot| {
                    slot.objects
                        .keys()
                        .filter(|k| !set.contains_key(*k))
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
            for ((namespace, name), record) in set {
                let key = ObjectKey {
                    group: id.0.clone(),
                    kind: id.1.clone(),
                    namespace,
                    name,
                };
                let unchanged = state
                    .kinds
                    .get(id)
                    .and_then(|s| s.objects.get(&(key.namespace.clone(), key.name.clone())))
                    == Some(&record);
                if unchanged {
                    continue;
                }
                new_kinds |= record.references.iter().any(|r| {
                    !state
                        .kinds
                        .contains_key(&(r.key.group.clone(), r.key.kind.clone()))
                });
                if record.applied.is_some() {
                    self.dirty.applier_changed();
                }
                self.store(&mut state, key.clone(), record);
                if let Some(root) = root_of(&state, &key) {
                    roots.insert(root);
                }
            }
            let slot = state.kinds.entry(id.clone()).or_default();
            slot.complete = true;
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
            let Some((request_id, team, live)) = live_of(&state, root) else {
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

    /// Whether the claim `(group, kind, name)` for `environment` is known to be absent: the
    /// cluster answers, its kind was listed completely, and no object of that name carries
    /// the environment's label. `None` when that cannot be known now.
    pub fn claim_absent(
        &self,
        environment: &str,
        group: &str,
        kind: &str,
        name: &str,
    ) -> Option<bool> {
        let watch = self.cluster_of(environment)?;
        let state = watch.state.read().expect("cluster lock");
        if !state.reachable {
            return None;
        }
        let slot = state.kinds.get(&(group.to_owned(), kind.to_owned()))?;
        if !slot.complete || slot.state != "watching" {
            return None;
        }
        Some(!slot.objects.iter().any(|((_, n), record)| {
            n == name && record.environment.as_deref() == Some(environment)
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
                    && !applied.revisions.is_empty()
                {
                    found.push(ApplierSight {
                        name: format!("{kind} {namespace}/{name}"),
                        revisions: applied.revisions.clone(),
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
                            state: if slot.state.is_empty() {
                                "discovering".into()
                            } else {
                                slot.state.into()
                            },
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
                    .all(|s| s.complete || s.state == "not installed")
        })
    }
}

/// A task that ends when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lookup<'a>(state: &'a ClusterState, key: &ObjectKey) -> Option<&'a Record> {
    state
        .kinds
        .get(&(key.group.clone(), key.kind.clone()))?
        .objects
        .get(&(key.namespace.clone(), key.name.clone()))
}

/// The claim whose tree `key` is in (itself when it is one).
fn root_of(state: &ClusterState, key: &ObjectKey) -> Option<ObjectKey> {
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

fn live_of(state: &ClusterState, key: &ObjectKey) -> Option<(String, String, LiveStatus)> {
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

fn refused(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(::kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(::kube::Error::Api(status))
        | watcher::Error::WatchError(status) => (400..500).contains(&status.code),
        _ => false,
    }
}

/// Finds `kind` of `group` in a cluster, at `version` when served, else the group's
/// preferred version; `None` when the cluster does not serve it.
pub async fn find_kind(
    client: &::kube::Client,
    group: &str,
    version: &str,
    kind: &str,
) -> Result<Option<ApiResource>, ::kube::Error> {
    let versions: Vec<String> = if group.is_empty() {
        vec!["v1".to_owned()]
    } else {
        let groups = client.list_api_groups().await?;
        let Some(found) = groups.groups.iter().find(|g| g.name == group) else {
            return Ok(None);
        };
        let mut versions: Vec<String> = Vec::new();
        if found.versions.iter().any(|v| v.version == version) {
            versions.push(version.to_owned());
        }
        if let Some(preferred) = &found.preferred_version {
            versions.push(preferred.version.clone());
        }
        versions.extend(found.versions.iter().map(|v| v.version.clone()));
        versions.dedup();
        versions
    };
    for candidate in versions {
        let resources = if group.is_empty() {
            client.list_core_api_resources(&candidate).await
        } else {
            client
                .list_api_group_resources(&format!("{group}/{candidate}"))
                .await
        };
        let resources = match resources {
            Ok(resources) => resources,
            Err(::kube::Error::Api(status)) if status.code == 404 => continue,
            Err(error) => return Err(error),
        };
        if let Some(resource) = resources
            .resources
            .iter()
            .find(|r| r.kind == kind && !r.name.contains('/'))
        {
            return Ok(Some(ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, &candidate, kind),
                &resource.name,
            )));
        }
    }
    Ok(None)
}
