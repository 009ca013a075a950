//! Offerings discovered live: every cluster's Crossplane XRDs and Kratix Promises, watched,
//! turned into offerings and handed to the catalog as its cluster feed.
//!
//! ```text
//!  per cluster × kind (XRD, Promise):
//!    discover (GET /apis, /apis/{group}/{preferred}) ── not served ──▶ note, ask again later
//!        │ served
//!        ▼
//!    watcher (list + watch, resumes, re-lists after 410, backs off on errors)
//!        │ Init…InitDone = a fresh, complete set │ Apply / Delete = one object
//!        ▼
//!    objects (trimmed) ──▶ xrd::from_object (cached per resourceVersion) ──▶ merge clusters
//!        ──▶ Catalog::replace(Feed::Cluster, offerings, notes)
//! ```
//! An unreachable cluster keeps the offerings last seen from it, with a note saying so; an
//! XRD that cannot be turned into a form is left out with its reason. Neither is an error
//! loop: discovery is retried at the configured interval, watches with kube's backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ::kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use ::kube::runtime::WatchStreamExt as _;
use ::kube::runtime::watcher::{self, Event};
use futures_util::StreamExt as _;
use serde_json::Value;

use super::cluster::Cluster;
use crate::catalog::{Catalog, Feed, Offering, xrd};
use crate::config::ControlPlaneSettings;

/// A kind offerings are generated from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// API group.
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Resource name (what RBAC rules grant; discovery finds the served one).
    pub plural: &'static str,
    /// What people call them.
    pub label: &'static str,
}

/// The kinds watched for offerings.
pub const SOURCES: [Source; 2] = [
    Source {
        group: "apiextensions.crossplane.io",
        kind: "CompositeResourceDefinition",
        plural: "compositeresourcedefinitions",
        label: "Crossplane XRDs",
    },
    Source {
        group: "platform.kratix.io",
        kind: "Promise",
        plural: "promises",
        label: "Kratix Promises",
    },
];

type Slot = (String, Source);

/// The cluster feed of the catalog.
pub struct ClusterOfferings {
    catalog: Arc<Catalog>,
    settings: ControlPlaneSettings,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Objects per cluster and kind, by name.
    objects: BTreeMap<Slot, BTreeMap<String, Value>>,
    /// Offerings built from objects, by cluster, kind, name; with the resourceVersion.
    built: HashMap<(Slot, String), (String, Result<Offering, String>)>,
    /// What is wrong or missing per cluster and kind.
    notes: BTreeMap<Slot, String>,
}

impl ClusterOfferings {
    /// A feed into `catalog`.
    pub fn new(catalog: Arc<Catalog>, settings: ControlPlaneSettings) -> Arc<Self> {
        Arc::new(ClusterOfferings {
            catalog,
            settings,
            state: Mutex::new(State::default()),
        })
    }

    /// Watches every source in every cluster until the tasks are aborted.
    pub fn spawn(self: &Arc<Self>, clusters: &[Cluster]) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for cluster in clusters {
            if self.settings.environments_of(&cluster.name).is_empty() {
                let note = format!(
                    "cluster {}: no environment reconciles there, so its XRDs and Promises are not offered (see SLIPWAY_ENVIRONMENTS)",
                    cluster.name
                );
                for source in SOURCES {
                    self.note(&cluster.name, source, Some(note.clone()));
                }
                continue;
            }
            for source in SOURCES {
                let feed = self.clone();
                let cluster = cluster.clone();
                tasks.push(tokio::spawn(async move { feed.run(cluster, source).await }));
            }
        }
        tasks
    }

    async fn run(self: Arc<Self>, cluster: Cluster, source: Source) {
        loop {
            match discover(&cluster.client, source).await {
                Ok(Some(resource)) => {
                    self.note(&cluster.name, source, None);
                    tracing::info!(cluster = %cluster.name, kind = source.kind, version = %resource.version, "watching for offerings");
                    self.watch(&cluster, source, &resource).await;
                }
                Ok(None) => {
                    self.forget(&cluster.name, source);
                    self.note(
                        &cluster.name,
                        source,
                        Some(format!(
                            "cluster {}: {} are not served ({} is not installed); asking again every {:?}",
                            cluster.name,
                            source.label,
                            source.group,
                            self.settings.rediscover
                        )),
                    );
                }
                Err(error) => {
                    self.note(
                        &cluster.name,
                        source,
                        Some(format!(
                            "cluster {}: unreachable ({error}); {} offered from it are as last seen",
                            cluster.name, source.label
                        )),
                    );
                }
            }
            tokio::time::sleep(self.settings.rediscover).await;
        }
    }

    /// Follows one kind until it stops being served.
    async fn watch(&self, cluster: &Cluster, source: Source, resource: &ApiResource) {
        let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), resource);
        let mut events = watcher::watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut fresh: Option<BTreeMap<String, Value>> = None;
        let mut failing = false;
        // A watch that resumes after a failure says nothing when nothing changed meanwhile:
        // while failing, ask the cluster now and then whether it answers again.
        let mut probe = tokio::time::interval(self.settings.rediscover);
        loop {
            let event = tokio::select! {
                event = events.next() => match event {
                    Some(event) => event,
                    None => return,
                },
                _ = probe.tick(), if failing => {
                    let answer = api.list_metadata(&ListParams::default().limit(1)).await;
                    if answer.is_ok() {
                        failing = false;
                        self.note(&cluster.name, source, None);
                    }
                    continue;
                }
            };
            match event {
                Ok(Event::Init) => fresh = Some(BTreeMap::new()),
                Ok(Event::InitApply(object)) => {
                    if let (Some(set), Some((name, object))) = (fresh.as_mut(), trimmed(object)) {
                        set.insert(name, object);
                    }
                }
                Ok(Event::InitDone) => {
                    let set = fresh.take().unwrap_or_default();
                    self.update(&cluster.name, source, |objects| *objects = set);
                    if failing {
                        failing = false;
                        self.note(&cluster.name, source, None);
                    }
                }
                Ok(Event::Apply(object)) => {
                    if let Some((name, object)) = trimmed(object) {
                        self.update(&cluster.name, source, |objects| {
                            objects.insert(name, object);
                        });
                    }
                }
                Ok(Event::Delete(object)) => {
                    if let Some(name) = object.metadata.name {
                        self.update(&cluster.name, source, |objects| {
                            objects.remove(&name);
                        });
                    }
                }
                Err(error) if not_served(&error) => {
                    tracing::info!(cluster = %cluster.name, kind = source.kind, "no longer served");
                    self.forget(&cluster.name, source);
                    return;
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(cluster = %cluster.name, kind = source.kind, %error, "watch failing; retrying with backoff");
                    }
                    failing = true;
                    self.note(
                        &cluster.name,
                        source,
                        Some(format!(
                            "cluster {}: watching {} fails ({error}); offerings from it are as last seen",
                            cluster.name, source.label
                        )),
                    );
                }
            }
        }
    }

    fn note(&self, cluster: &str, source: Source, note: Option<String>) {
        let mut state = self.state.lock().expect("lock");
        let slot = (cluster.to_owned(), source);
        let changed = match note {
            Some(note) => state.notes.insert(slot, note.clone()).as_ref() != Some(&note),
            None => state.notes.remove(&slot).is_some(),
        };
        if changed {
            self.publish(&mut state);
        }
    }

    fn forget(&self, cluster: &str, source: Source) {
        self.update(cluster, source, BTreeMap::clear);
    }

    fn update(
        &self,
        cluster: &str,
        source: Source,
        change: impl FnOnce(&mut BTreeMap<String, Value>),
    ) {
        let mut state = self.state.lock().expect("lock");
        change(
            state
                .objects
                .entry((cluster.to_owned(), source))
                .or_default(),
        );
        self.publish(&mut state);
    }

    /// Rebuilds the cluster feed from every cluster's objects.
    fn publish(&self, state: &mut State) {
        let State {
            objects,
            built,
            notes,
        } = state;
        let mut offerings: Vec<Offering> = Vec::new();
        let mut problems: Vec<String> = notes.values().cloned().collect();
        let mut from: HashMap<String, String> = HashMap::new();
        let mut live = std::collections::HashSet::new();
        for ((cluster, source), set) in objects.iter() {
            let environments = self.settings.environments_of(cluster);
            for (name, object) in set {
                let key = ((cluster.clone(), *source), name.clone());
                let version = object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let fresh = built.get(&key).is_some_and(|(v, _)| *v == version);
                if !fresh {
                    let result = xrd::from_object(object, &environments).map_err(|e| e.to_string());
                    built.insert(key.clone(), (version, result));
                }
                live.insert(key.clone());
                match &built[&key].1 {
                    Err(problem) => problems.push(format!("cluster {cluster}: {problem}")),
                    Ok(offering) => {
                        merge(&mut offerings, &mut from, &mut problems, cluster, offering)
                    }
                }
            }
        }
        built.retain(|key, _| live.contains(key));
        self.catalog.replace(Feed::Cluster, offerings, problems);
    }
}

/// Adds a cluster's offering; the same XRD in several clusters is one offering available in
/// all their environments, unless the clusters disagree on its schema.
fn merge(
    offerings: &mut Vec<Offering>,
    from: &mut HashMap<String, String>,
    problems: &mut Vec<String>,
    cluster: &str,
    offering: &Offering,
) {
    let id = &offering.summary.id;
    let Some(existing) = offerings.iter_mut().find(|o| &o.summary.id == id) else {
        from.insert(id.clone(), cluster.to_owned());
        offerings.push(offering.clone());
        return;
    };
    let same = existing.structural == offering.structural
        && existing.object_rules == offering.object_rules
        && existing.summary.api_version == offering.summary.api_version
        && existing.summary.kind == offering.summary.kind;
    if same {
        for environment in &offering.summary.environments {
            if !existing.summary.environments.contains(environment) {
                existing.summary.environments.push(environment.clone());
            }
        }
    } else {
        problems.push(format!(
            "{id}: cluster {cluster} serves a different version or schema than cluster {}; offered as cluster {}'s, in its environments only",
            from[id], from[id]
        ));
    }
}

/// Finds the preferred version of `source` in a cluster; `None` when it is not served.
pub async fn discover(
    client: &::kube::Client,
    source: Source,
) -> Result<Option<ApiResource>, ::kube::Error> {
    let groups = client.list_api_groups().await?;
    let Some(group) = groups.groups.iter().find(|g| g.name == source.group) else {
        return Ok(None);
    };
    let version = group
        .preferred_version
        .as_ref()
        .or(group.versions.first())
        .map(|v| v.version.clone());
    let Some(version) = version else {
        return Ok(None);
    };
    let resources = match client
        .list_api_group_resources(&format!("{}/{version}", source.group))
        .await
    {
        Ok(resources) => resources,
        Err(::kube::Error::Api(status)) if status.code == 404 => return Ok(None),
        Err(error) => return Err(error),
    };
    Ok(resources
        .resources
        .iter()
        .find(|r| r.kind == source.kind && !r.name.contains('/'))
        .map(|r| {
            ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(source.group, &version, source.kind),
                &r.name,
            )
        }))
}

/// Whether a watch failed because its kind is not served (404 on list or watch).
pub(crate) fn not_served(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(::kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(::kube::Error::Api(status)) => status.code == 404,
        _ => false,
    }
}

/// The object as JSON without what offerings never read (managed fields, the last-applied
/// annotation, status): XRDs carry large schemas, and these double them.
fn trimmed(object: DynamicObject) -> Option<(String, Value)> {
    let name = object.metadata.name.clone()?;
    let mut value = serde_json::to_value(object).ok()?;
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    Some((name, value))
}
