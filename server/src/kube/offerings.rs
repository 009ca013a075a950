//! Offerings discovered live: every cluster's Crossplane XRDs and Kratix Promises, watched,
//! turned into offerings and handed to the catalog as its cluster feed.
//!
//! ```text
//!  per cluster × kind (XRD, Promise): follow::follow (discover, list, watch, probe)
//!        │ Served / NotServed / Failing / Recovered ─▶ a note per cluster and kind
//!        │ Complete (a fresh set) / Upsert / Remove (one object)
//!        ▼
//!    objects (trimmed) ──▶ xrd::from_object (cached per resourceVersion) ──▶ merge clusters
//!        ──▶ Catalog::replace(Feed::Cluster, offerings, notes)
//! ```
//! An unreachable cluster keeps the offerings last seen from it, with a note saying so; an
//! XRD that cannot be turned into a form is left out with its reason. Neither is an error
//! loop: discovery is retried at the configured interval, watches with kube's backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ::kube::api::DynamicObject;
use serde_json::Value;

use super::cluster::Cluster;
use super::follow::{self, Cause, Follow, Update};
use crate::catalog::{Catalog, Feed, Offering, xrd};
use crate::config::ControlPlaneSettings;
use crate::environment::Environments;

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
    environments: Arc<Environments>,
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
    pub fn new(
        catalog: Arc<Catalog>,
        settings: ControlPlaneSettings,
        environments: Arc<Environments>,
    ) -> Arc<Self> {
        Arc::new(ClusterOfferings {
            catalog,
            settings,
            environments,
            state: Mutex::new(State::default()),
        })
    }

    /// Watches every source in every cluster until the tasks are aborted.
    pub fn spawn(self: &Arc<Self>, clusters: &[Cluster]) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for cluster in clusters {
            if self.environments.in_cluster(&cluster.name).is_empty() {
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
        let kind = follow::Kind {
            group: source.group.to_owned(),
            version: None,
            kind: source.kind.to_owned(),
        };
        let how = Follow {
            selector: None,
            rediscover: self.settings.rediscover,
            probe: self.settings.rediscover,
        };
        let name = cluster.name.clone();
        follow::follow(cluster.client, kind, how, trimmed, |update| match update {
            Update::Served { api_version } => {
                self.note(&name, source, None);
                tracing::info!(cluster = %name, kind = source.kind, %api_version, "watching for offerings");
            }
            Update::NotServed => {
                self.forget(&name, source);
                self.note(
                    &name,
                    source,
                    Some(format!(
                        "cluster {name}: {} are not served ({} is not installed); asking again every {:?}",
                        source.label, source.group, self.settings.rediscover
                    )),
                );
            }
            Update::Complete(set) => {
                self.update(&name, source, |objects| *objects = set.into_iter().collect());
            }
            Update::Upsert((object_name, object)) => self.update(&name, source, |objects| {
                objects.insert(object_name, object);
            }),
            Update::Remove((object_name, _)) => self.update(&name, source, |objects| {
                objects.remove(&object_name);
            }),
            Update::Failing { error, cause } => {
                let note = match cause {
                    Cause::Cluster => format!(
                        "cluster {name}: unreachable ({error}); {} offered from it are as last seen",
                        source.label
                    ),
                    Cause::Kind | Cause::Connection => format!(
                        "cluster {name}: watching {} fails ({error}); offerings from it are as last seen",
                        source.label
                    ),
                };
                self.note(&name, source, Some(note));
            }
            Update::Recovered => self.note(&name, source, None),
        })
        .await;
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
            let environments = self.environments.in_cluster(cluster);
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

/// The object as JSON without what offerings never read (managed fields, the last-applied
/// annotation, status): XRDs carry large schemas, and these double them.
fn trimmed(object: &DynamicObject) -> Option<(String, Value)> {
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
