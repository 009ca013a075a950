//! Following one kind in one cluster: the one list-and-watch loop both the offerings feed and
//! the status watchers run, each keeping only what it does with the objects.
//!
//! ```text
//!  discover (GET /apis, /apis/{group}/{version}) ── not served ─▶ NotServed, ask again later
//!      │ served                                     ── refused (4xx) ─▶ Failing(Kind)
//!      ▼                                            ── no answer ─────▶ Failing(Cluster)
//!  kube watcher (list + watch, resumes, re-lists after 410 Gone, backs off on errors)
//!      │ Init…InitDone ─▶ Complete(set)    Apply ─▶ Upsert    Delete ─▶ Remove
//!      │ 410 Gone: the protocol at work (the watcher re-lists), not a fault
//!      │ error ─▶ Failing(Kind | Connection | Cluster); while failing, a one-object list
//!      │          now and then asks whether the cluster answers again ─▶ Recovered
//!      └ 404 on list or watch: the kind is gone ─▶ NotServed, discover again later
//! ```

use std::time::Duration;

use ::kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use ::kube::runtime::WatchStreamExt as _;
use ::kube::runtime::watcher::{self, Event};
use futures_util::StreamExt as _;

/// A kind to follow.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version to prefer when served; `None`: the group's preferred version.
    pub version: Option<String>,
    /// Kind.
    pub kind: String,
}

/// Whose problem a failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The cluster answers but refuses this kind (RBAC, usually).
    Kind,
    /// A watch connection broke mid-stream; it is reopened at once.
    Connection,
    /// The cluster does not answer (or answers with server errors).
    Cluster,
}

/// What a follower reports.
#[derive(Debug)]
pub enum Update<T> {
    /// The kind is served at this `group/version`; listing starts.
    Served {
        /// `group/version`.
        api_version: String,
    },
    /// The cluster does not serve the kind (not installed, or no longer).
    NotServed,
    /// A complete, fresh set of the kind's objects (after a list or re-list).
    Complete(Vec<T>),
    /// An object was added or changed.
    Upsert(T),
    /// An object was deleted.
    Remove(T),
    /// Following fails; the watcher retries with backoff.
    Failing {
        /// What failed.
        error: String,
        /// Whose problem it is.
        cause: Cause,
    },
    /// It works again after failing.
    Recovered,
}

/// How a follower behaves.
#[derive(Clone, Debug)]
pub struct Follow {
    /// Only objects matching this label selector.
    pub selector: Option<String>,
    /// How long to wait before asking again for a kind not served (or after discovery
    /// failed).
    pub rediscover: Duration,
    /// How often a failing watch asks whether the cluster answers again.
    pub probe: Duration,
}

/// Follows `kind` until the task is dropped: discovers it, lists and watches it while it is
/// served, and reports every change through `sink` with objects mapped by `map` (those it
/// maps to `None` are skipped).
pub async fn follow<T>(
    client: ::kube::Client,
    kind: Kind,
    how: Follow,
    map: impl Fn(&DynamicObject) -> Option<T>,
    mut sink: impl FnMut(Update<T>),
) {
    loop {
        match find_kind(&client, &kind.group, kind.version.as_deref(), &kind.kind).await {
            Ok(Some(resource)) => {
                sink(Update::Served {
                    api_version: resource.api_version.clone(),
                });
                watch(&client, &kind, &resource, &how, &map, &mut sink).await;
                sink(Update::NotServed);
            }
            Ok(None) => sink(Update::NotServed),
            Err(::kube::Error::Api(status)) if status.code < 500 => sink(Update::Failing {
                error: format!("discovery refused: {} {}", status.code, status.message),
                cause: Cause::Kind,
            }),
            Err(error) => sink(Update::Failing {
                error: error.to_string(),
                cause: Cause::Cluster,
            }),
        }
        tokio::time::sleep(how.rediscover).await;
    }
}

/// Watches a served kind until it stops being served.
async fn watch<T>(
    client: &::kube::Client,
    kind: &Kind,
    resource: &ApiResource,
    how: &Follow,
    map: &impl Fn(&DynamicObject) -> Option<T>,
    sink: &mut impl FnMut(Update<T>),
) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let mut config = watcher::Config::default();
    if let Some(selector) = &how.selector {
        config = config.labels(selector);
    }
    let mut events = watcher::watcher(api.clone(), config)
        .default_backoff()
        .boxed();
    let mut fresh: Option<Vec<T>> = None;
    let mut failing = false;
    // A watch that resumes after a failure says nothing when nothing changed meanwhile:
    // while failing, ask the cluster now and then whether it answers again.
    let mut probe = tokio::time::interval(how.probe);
    loop {
        let event = tokio::select! {
            event = events.next() => match event {
                Some(event) => event,
                None => return,
            },
            _ = probe.tick(), if failing => {
                let mut params = ListParams::default().limit(1);
                if let Some(selector) = &how.selector {
                    params = params.labels(selector);
                }
                if api.list_metadata(&params).await.is_ok() {
                    failing = false;
                    sink(Update::Recovered);
                }
                continue;
            }
        };
        if event.is_ok() && failing {
            failing = false;
            sink(Update::Recovered);
        }
        match event {
            Ok(Event::Init) => fresh = Some(Vec::new()),
            Ok(Event::InitApply(object)) => {
                if let (Some(set), Some(item)) = (fresh.as_mut(), map(&object)) {
                    set.push(item);
                }
            }
            Ok(Event::InitDone) => sink(Update::Complete(fresh.take().unwrap_or_default())),
            Ok(Event::Apply(object)) => {
                if let Some(item) = map(&object) {
                    sink(Update::Upsert(item));
                }
            }
            Ok(Event::Delete(object)) => {
                if let Some(item) = map(&object) {
                    sink(Update::Remove(item));
                }
            }
            Err(error) if not_served(&error) => {
                tracing::info!(kind = %kind.kind, group = %kind.group, "no longer served");
                return;
            }
            // 410 Gone: the watcher re-lists on its own; the protocol at work, not a fault.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                tracing::debug!(kind = %kind.kind, "watch expired; re-listing");
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(kind = %kind.kind, group = %kind.group, %error, "watch failing; retrying with backoff");
                }
                failing = true;
                sink(Update::Failing {
                    error: error.to_string(),
                    cause: cause(&error),
                });
            }
        }
    }
}

/// A refusal (403 without RBAC for this kind) is this kind's problem; a watch connection that
/// broke mid-stream is reopened at once; only no answer (or a server error) on a list or a
/// new watch is the cluster's.
fn cause(error: &watcher::Error) -> Cause {
    match error {
        watcher::Error::InitialListFailed(::kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(::kube::Error::Api(status))
        | watcher::Error::WatchError(status)
            if (400..500).contains(&status.code) =>
        {
            Cause::Kind
        }
        watcher::Error::WatchFailed(_) => Cause::Connection,
        _ => Cause::Cluster,
    }
}

/// Whether a watch failed because its kind is not served (404 on list or watch).
fn not_served(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(::kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(::kube::Error::Api(status)) => status.code == 404,
        _ => false,
    }
}

/// Finds `kind` of `group` in a cluster: at `version` when served, else the group's
/// preferred version, else any it serves; `None` when the cluster does not serve it.
pub async fn find_kind(
    client: &::kube::Client,
    group: &str,
    version: Option<&str>,
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
        if let Some(version) = version
            && found.versions.iter().any(|v| v.version == version)
        {
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
