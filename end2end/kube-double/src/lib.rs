//! A Kubernetes API server for tests.
//!
//! No kube-apiserver, k3s or envtest can be installed on the machines Slipway is built on, so
//! the tests talk to this instead: a real HTTP server on loopback that speaks the parts of the
//! API protocol a controller uses, to kube-rs's real client and watcher.
//!
//! ```text
//!  kube::Client ──HTTP──▶ discovery   /api, /api/v1, /apis, /apis/{g}, /apis/{g}/{v}, /version
//!                         collection  list (limit/continue, 410 when the token is too old),
//!                                     watch (JSON lines: ADDED/MODIFIED/DELETED/BOOKMARK/ERROR,
//!                                     resume from a resourceVersion, sendInitialEvents,
//!                                     timeoutSeconds, ERROR 410 Expired below the log's floor)
//!                         object      get, create, update, merge-patch, delete (finalizers)
//!                         /status     get, update, merge-patch (the status subresource)
//!  test code ─────────▶ KubeDouble    apply / patch_status / delete / seed YAML,
//!                                     expire_watches (410), drop_watches (connection cut),
//!                                     set_reachable(false) (503), compact, request log
//! ```
//! Kinds are registered at run time, like custom resources: creating a
//! `CustomResourceDefinition` serves its kind, deleting it removes the kind and its objects.
//! Objects are stored once per group and resource and served at every version the kind has,
//! with `apiVersion` set to the version asked for (the CRD "None" conversion strategy).
//!
//! Not implemented, answered with a clear error rather than a wrong success: server-side apply,
//! JSON patch, strategic merge patch, set-based label selectors, field selectors other than
//! `metadata.name`/`metadata.namespace`, protobuf. Admission (schema validation, namespaces
//! existing) is not modelled: the double stores what it is given.

pub mod crossplane;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc, watch};

/// The bearer token the double's kubeconfig carries and every request must present.
pub const TOKEN: &str = "kube-double-token";

/// Events kept for watches to resume from, unless configured otherwise.
const DEFAULT_LOG_CAPACITY: usize = 10_000;

/// A kind the double serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    /// API group; empty for the core group.
    pub group: String,
    /// Served versions, in the order the definition lists them.
    pub versions: Vec<String>,
    /// `kind`, e.g. `CompositeResourceDefinition`.
    pub kind: String,
    /// Resource name, e.g. `compositeresourcedefinitions`.
    pub plural: String,
    /// Singular resource name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether `status` is a subresource (written only through `/status`).
    pub status_subresource: bool,
    /// Short names, e.g. `xrd`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `crossplane`.
    pub categories: Vec<String>,
}

impl Kind {
    /// A kind with the usual defaults: plural = lower-case kind + "s", status subresource on.
    pub fn new(group: &str, version: &str, kind: &str, namespaced: bool) -> Self {
        let singular = kind.to_lowercase();
        Kind {
            group: group.to_owned(),
            versions: vec![version.to_owned()],
            kind: kind.to_owned(),
            plural: format!("{singular}s"),
            singular,
            namespaced,
            status_subresource: true,
            short_names: Vec::new(),
            categories: Vec::new(),
        }
    }

    /// The kind a `CustomResourceDefinition` object defines.
    pub fn from_crd(crd: &Value) -> Result<Self, String> {
        let text = |pointer: &str| {
            crd.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("the CustomResourceDefinition has no {pointer}"))
        };
        let list = |pointer: &str| -> Vec<String> {
            crd.pointer(pointer)
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let kind = text("/spec/names/kind")?;
        let versions: Vec<&Value> = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
                    .collect()
            })
            .unwrap_or_default();
        if versions.is_empty() {
            return Err("the CustomResourceDefinition serves no version".into());
        }
        Ok(Kind {
            group: text("/spec/group")?,
            versions: versions
                .iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            plural: text("/spec/names/plural")?,
            singular: text("/spec/names/singular").unwrap_or_else(|_| kind.to_lowercase()),
            namespaced: crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster"),
            status_subresource: versions
                .iter()
                .any(|v| v.pointer("/subresources/status").is_some()),
            short_names: list("/spec/names/shortNames"),
            categories: list("/spec/names/categories"),
            kind,
        })
    }

    fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }
}

/// Where an object lives: group, resource, namespace ("" when cluster-scoped), name.
type Key = (String, String, String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as the event log and open watches see it.
#[derive(Debug)]
struct Change {
    rv: u64,
    group: String,
    plural: String,
    namespace: String,
    event: EventType,
    object: Value,
    /// The object before the change (selectors decide ADDED/DELETED by both).
    previous: Option<Value>,
}

/// The remainder of a paged list, consistent at the resourceVersion of its first page.
struct Snapshot {
    rv: u64,
    items: Vec<Value>,
}

struct Store {
    rv: u64,
    kinds: Vec<Kind>,
    objects: BTreeMap<Key, Value>,
    log: VecDeque<Arc<Change>>,
    /// Watches may resume from any resourceVersion ≥ this.
    floor: u64,
    capacity: usize,
    snapshots: HashMap<String, Snapshot>,
    next_id: u64,
}

/// How open watches are ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    None,
    /// An ERROR event with a 410 Expired status, then the end of the stream.
    Expire,
    /// The connection is aborted mid-stream.
    Drop,
}

struct Shared {
    store: Mutex<Store>,
    changes: broadcast::Sender<Arc<Change>>,
    cut: watch::Sender<(u64, Cut)>,
    reachable: AtomicBool,
    bookmark_every: Mutex<Duration>,
    requests: Mutex<Vec<String>>,
    open_watches: AtomicU64,
    addr: SocketAddr,
}

/// A running double. Dropping it stops the server.
pub struct KubeDouble {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KubeDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A failure the API reports as a `Status` object.
#[derive(Debug)]
pub struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }

    fn not_found(what: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{what} \"{name}\" not found"),
        )
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn status_object(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.code.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code, axum::Json(self.status_object())).into_response()
    }
}

impl KubeDouble {
    /// Starts a double on a free loopback port, serving `CustomResourceDefinition`s and
    /// `Namespace`s.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("address")).await
    }

    /// Starts a double on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut crd = Kind::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            false,
        );
        crd.short_names = vec!["crd".into(), "crds".into()];
        let namespace = Kind::new("", "v1", "Namespace", false);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store {
                rv: 1,
                kinds: vec![crd, namespace],
                objects: BTreeMap::new(),
                log: VecDeque::new(),
                floor: 1,
                capacity: DEFAULT_LOG_CAPACITY,
                snapshots: HashMap::new(),
                next_id: 0,
            }),
            changes: broadcast::channel(4096).0,
            cut: watch::channel((0, Cut::None)).0,
            reachable: AtomicBool::new(true),
            bookmark_every: Mutex::new(Duration::from_secs(60)),
            requests: Mutex::new(Vec::new()),
            open_watches: AtomicU64::new(0),
            addr,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let gate = Gate {
            listener,
            shared: shared.clone(),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(gate, app).await;
        });
        Ok(KubeDouble { shared, task })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The server's URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A kubeconfig with one cluster, user and context, all named `context`.
    pub fn kubeconfig(&self, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: {context}\n  cluster:\n    server: {url}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\nusers:\n- name: {context}\n  user:\n    token: {TOKEN}\n",
            url = self.url()
        )
    }

    /// Serves `kind` (replacing a kind with the same group and resource).
    pub fn register(&self, kind: Kind) {
        let mut store = self.shared.store.lock().expect("store");
        store
            .kinds
            .retain(|k| !(k.group == kind.group && k.plural == kind.plural));
        store.kinds.push(kind);
    }

    /// Creates `object`, or replaces it if it exists (status included, whatever the kind's
    /// subresources). Returns it as stored.
    pub fn apply(&self, object: Value) -> Result<Value, ApiError> {
        let kind = self.kind_of(&object)?;
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned();
        let namespace = if kind.namespaced {
            namespace
        } else {
            String::new()
        };
        let mut store = self.shared.store.lock().expect("store");
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad("metadata.name is required"))?
            .to_owned();
        let key = (kind.group.clone(), kind.plural.clone(), namespace, name);
        let mut object = object;
        if let Some(old) = store.objects.get(&key) {
            let rv = old.pointer("/metadata/resourceVersion").cloned();
            if let (Some(rv), Some(meta)) = (rv, object.get_mut("metadata")) {
                meta["resourceVersion"] = rv;
            }
            store.replace(&self.shared, &kind, key, object, Write::Whole)
        } else {
            strip_server_fields(&mut object);
            store.create(&self.shared, &kind, key, object)
        }
    }

    /// Seeds every document of a YAML text (`---`-separated), as [`Self::apply`] does.
    pub fn seed_yaml(&self, text: &str) -> Result<Vec<Value>, String> {
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(text).map_err(|e| format!("reading YAML: {e}"))?;
        documents
            .into_iter()
            .filter(|d| !d.is_null())
            .map(|d| self.apply(d).map_err(|e| e.to_string()))
            .collect()
    }

    /// Replaces an object's status, as a controller's status update would.
    pub fn patch_status(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, ApiError> {
        let kind = self.find_kind(api_version, kind)?;
        let mut store = self.shared.store.lock().expect("store");
        let key = key_for(&kind, namespace, name);
        let mut object = store
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&kind.plural, name))?;
        object["status"] = status;
        store.replace(&self.shared, &kind, key, object, Write::Status)
    }

    /// Deletes an object (or marks it deleting when it has finalizers).
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let kind = self.find_kind(api_version, kind)?;
        let mut store = self.shared.store.lock().expect("store");
        store.delete(&self.shared, &kind, key_for(&kind, namespace, name))
    }

    /// The stored object, if any.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let kind = self.find_kind(api_version, kind).ok()?;
        let store = self.shared.store.lock().expect("store");
        store.objects.get(&key_for(&kind, namespace, name)).cloned()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().expect("store").rv
    }

    /// Forgets the event log: watches resuming from an older resourceVersion, and list
    /// continue tokens, get 410 Gone.
    pub fn compact(&self) {
        let mut store = self.shared.store.lock().expect("store");
        store.floor = store.rv;
        store.log.clear();
        store.snapshots.clear();
    }

    /// Keeps at most `events` events for watches to resume from.
    pub fn set_log_capacity(&self, events: usize) {
        let mut store = self.shared.store.lock().expect("store");
        store.capacity = events.max(1);
        store.trim();
    }

    /// Sends a BOOKMARK on every open watch that asked for them at this interval.
    pub fn set_bookmark_interval(&self, every: Duration) {
        *self.shared.bookmark_every.lock().expect("lock") = every;
    }

    /// Compacts the log and ends every open watch with ERROR 410 Expired, as an API server
    /// does when etcd has compacted past a watch's resourceVersion: clients must re-list.
    pub fn expire_watches(&self) {
        self.compact();
        self.shared
            .cut
            .send_modify(|(generation, cut)| (*generation, *cut) = (*generation + 1, Cut::Expire));
    }

    /// Aborts every open watch connection mid-stream (a proxy or API server restart).
    pub fn drop_watches(&self) {
        self.shared
            .cut
            .send_modify(|(generation, cut)| (*generation, *cut) = (*generation + 1, Cut::Drop));
    }

    /// While unreachable, connections are reset: new ones as soon as they are accepted, open
    /// ones (pooled keep-alive connections, watches) at their next read or write — what a
    /// client sees when the API server or the network path to it goes away.
    pub fn set_reachable(&self, reachable: bool) {
        self.shared.reachable.store(reachable, Ordering::SeqCst);
        if !reachable {
            self.drop_watches();
        }
    }

    /// Watches open right now.
    pub fn open_watches(&self) -> u64 {
        self.shared.open_watches.load(Ordering::SeqCst)
    }

    /// Every request so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().expect("lock").clone()
    }

    fn kind_of(&self, object: &Value) -> Result<Kind, ApiError> {
        let api_version = object.get("apiVersion").and_then(Value::as_str);
        let kind = object.get("kind").and_then(Value::as_str);
        match (api_version, kind) {
            (Some(a), Some(k)) => self.find_kind(a, k),
            _ => Err(ApiError::bad("apiVersion and kind are required")),
        }
    }

    fn find_kind(&self, api_version: &str, kind: &str) -> Result<Kind, ApiError> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let store = self.shared.store.lock().expect("store");
        store
            .kinds
            .iter()
            .find(|k| k.group == group && k.kind == kind && k.versions.iter().any(|v| v == version))
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("no kind \"{kind}\" is registered for version \"{api_version}\""),
                )
            })
    }
}

fn key_for(kind: &Kind, namespace: &str, name: &str) -> Key {
    let namespace = if kind.namespaced { namespace } else { "" };
    (
        kind.group.clone(),
        kind.plural.clone(),
        namespace.to_owned(),
        name.to_owned(),
    )
}

/// Which part of an object an update may change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Everything but status when status is a subresource.
    Main,
    /// Only status.
    Status,
    /// Everything (the test API).
    Whole,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn strip_server_fields(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "managedFields",
        ] {
            meta.remove(field);
        }
    }
}

/// Everything but metadata and status: a change here bumps `metadata.generation`.
fn desired(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

impl Store {
    fn kind(&self, group: &str, version: &str, plural: &str) -> Option<Kind> {
        self.kinds
            .iter()
            .find(|k| {
                k.group == group && k.plural == plural && k.versions.iter().any(|v| v == version)
            })
            .cloned()
    }

    fn record(
        &mut self,
        shared: &Shared,
        kind: &Kind,
        key: &Key,
        event: EventType,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Arc::new(Change {
            rv: self.rv,
            group: kind.group.clone(),
            plural: kind.plural.clone(),
            namespace: key.2.clone(),
            event,
            object,
            previous,
        });
        self.log.push_back(change.clone());
        self.trim();
        let _ = shared.changes.send(change);
    }

    fn trim(&mut self) {
        while self.log.len() > self.capacity {
            if let Some(old) = self.log.pop_front() {
                self.floor = old.rv;
            }
        }
        let floor = self.floor;
        self.snapshots.retain(|_, s| s.rv >= floor);
    }

    fn create(
        &mut self,
        shared: &Shared,
        kind: &Kind,
        key: Key,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        if self.objects.contains_key(&key) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "AlreadyExists",
                format!(
                    "{}.{} \"{}\" already exists",
                    kind.plural, kind.group, key.3
                ),
            ));
        }
        let crd_kind =
            if kind.group == "apiextensions.k8s.io" && kind.kind == "CustomResourceDefinition" {
                Some(Kind::from_crd(&object).map_err(ApiError::bad)?)
            } else {
                None
            };
        self.rv += 1;
        self.next_id += 1;
        let meta = object
            .as_object_mut()
            .ok_or_else(|| ApiError::bad("the body is not an object"))?
            .entry("metadata")
            .or_insert_with(|| json!({}));
        let Some(meta) = meta.as_object_mut() else {
            return Err(ApiError::bad("metadata is not an object"));
        };
        meta.insert("name".into(), json!(key.3));
        if kind.namespaced {
            meta.insert("namespace".into(), json!(key.2));
        } else {
            meta.remove("namespace");
        }
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012x}", self.next_id)),
        );
        meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        if let Some(crd_kind) = crd_kind {
            object["status"] = json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                ],
                "acceptedNames": object.pointer("/spec/names").cloned().unwrap_or(Value::Null),
                "storedVersions": [crd_kind.versions.last().cloned().unwrap_or_default()],
            });
            self.kinds
                .retain(|k| !(k.group == crd_kind.group && k.plural == crd_kind.plural));
            self.kinds.push(crd_kind);
        }
        self.objects.insert(key.clone(), object.clone());
        self.record(shared, kind, &key, EventType::Added, object.clone(), None);
        Ok(object)
    }

    fn replace(
        &mut self,
        shared: &Shared,
        kind: &Kind,
        key: Key,
        mut object: Value,
        write: Write,
    ) -> Result<Value, ApiError> {
        let Some(old) = self.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(&kind.plural, &key.3));
        };
        let sent_rv = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let old_rv = old
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if sent_rv.as_deref().is_some_and(|rv| rv != old_rv) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {}.{} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    kind.plural, kind.group, key.3
                ),
            ));
        }
        if !object.is_object() {
            return Err(ApiError::bad("the body is not an object"));
        }
        match write {
            Write::Status => {
                let status = object.get("status").cloned();
                object = old.clone();
                match status {
                    Some(status) => object["status"] = status,
                    None => {
                        object.as_object_mut().map(|m| m.remove("status"));
                    }
                }
            }
            Write::Main if kind.status_subresource => match old.get("status") {
                Some(status) => object["status"] = status.clone(),
                None => {
                    object.as_object_mut().map(|m| m.remove("status"));
                }
            },
            Write::Main | Write::Whole => {}
        }
        // Server-owned metadata stays as it was.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "name",
            "namespace",
        ] {
            match old.pointer(&format!("/metadata/{field}")) {
                Some(value) => object["metadata"][field] = value.clone(),
                None => {
                    object["metadata"].as_object_mut().map(|m| m.remove(field));
                }
            }
        }
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let generation = if desired(&old) == desired(&object) {
            generation
        } else {
            generation + 1
        };
        object["metadata"]["generation"] = json!(generation);
        object["metadata"]["resourceVersion"] = json!(old_rv);
        if object == old {
            return Ok(old);
        }
        let finalizers_done = object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if old.pointer("/metadata/deletionTimestamp").is_some() && finalizers_done {
            self.objects.insert(key.clone(), object);
            return self.remove(shared, kind, key);
        }
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if kind.group == "apiextensions.k8s.io" && kind.kind == "CustomResourceDefinition" {
            let crd_kind = Kind::from_crd(&object).map_err(ApiError::bad)?;
            self.kinds
                .retain(|k| !(k.group == crd_kind.group && k.plural == crd_kind.plural));
            self.kinds.push(crd_kind);
        }
        self.objects.insert(key.clone(), object.clone());
        self.record(
            shared,
            kind,
            &key,
            EventType::Modified,
            object.clone(),
            Some(old),
        );
        Ok(object)
    }

    fn delete(&mut self, shared: &Shared, kind: &Kind, key: Key) -> Result<Value, ApiError> {
        let Some(object) = self.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(&kind.plural, &key.3));
        };
        let has_finalizers = object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if !has_finalizers {
            return self.remove(shared, kind, key);
        }
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(object);
        }
        let old = object.clone();
        let mut object = object;
        self.rv += 1;
        object["metadata"]["deletionTimestamp"] = json!(now());
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.objects.insert(key.clone(), object.clone());
        self.record(
            shared,
            kind,
            &key,
            EventType::Modified,
            object.clone(),
            Some(old),
        );
        Ok(object)
    }

    fn remove(&mut self, shared: &Shared, kind: &Kind, key: Key) -> Result<Value, ApiError> {
        let Some(mut object) = self.objects.remove(&key) else {
            return Err(ApiError::not_found(&kind.plural, &key.3));
        };
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(shared, kind, &key, EventType::Deleted, object.clone(), None);
        if kind.group == "apiextensions.k8s.io"
            && kind.kind == "CustomResourceDefinition"
            && let Ok(defined) = Kind::from_crd(&object)
        {
            let doomed: Vec<Key> = self
                .objects
                .keys()
                .filter(|k| k.0 == defined.group && k.1 == defined.plural)
                .cloned()
                .collect();
            for key in doomed {
                let _ = self.remove(shared, &defined, key);
            }
            self.kinds
                .retain(|k| !(k.group == defined.group && k.plural == defined.plural));
        }
        Ok(object)
    }
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first, then
/// anything else alphabetically.
fn version_priority(version: &str) -> (u8, u32, u32, String) {
    let parse = |rest: &str| -> Option<(u8, u32, u32)> {
        let (major, rest) = rest.split_at(
            rest.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len()),
        );
        let major: u32 = major.parse().ok()?;
        if rest.is_empty() {
            return Some((0, major, 0));
        }
        for (label, rank) in [("beta", 1u8), ("alpha", 2u8)] {
            if let Some(minor) = rest.strip_prefix(label) {
                return Some((rank, major, minor.parse().ok()?));
            }
        }
        None
    };
    match version.strip_prefix('v').and_then(parse) {
        Some((rank, major, minor)) => (rank, u32::MAX - major, u32::MAX - minor, String::new()),
        None => (3, 0, 0, version.to_owned()),
    }
}

/// Parsed query parameters of a collection or object request.
#[derive(Default)]
struct Query {
    params: HashMap<String, String>,
}

impl Query {
    fn parse(uri: &Uri) -> Self {
        let params = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Query { params }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

/// Label and field selectors a list or watch filters by.
struct Selector {
    labels: Vec<(String, Option<String>, bool)>,
    name: Option<String>,
    namespace: Option<String>,
}

impl Selector {
    fn parse(query: &Query) -> Result<Self, ApiError> {
        let mut labels = Vec::new();
        for term in query.get("labelSelector").unwrap_or_default().split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            if term.contains(" in ") || term.contains(" notin ") || term.contains('(') {
                return Err(ApiError::bad(format!(
                    "set-based label selectors are not supported by the test double: {term}"
                )));
            }
            if let Some((k, v)) = term.split_once("!=") {
                labels.push((k.trim().to_owned(), Some(v.trim().to_owned()), false));
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                labels.push((k.trim().to_owned(), Some(v.trim().to_owned()), true));
            } else if let Some(k) = term.strip_prefix('!') {
                labels.push((k.trim().to_owned(), None, false));
            } else {
                labels.push((term.to_owned(), None, true));
            }
        }
        let mut selector = Selector {
            labels,
            name: None,
            namespace: None,
        };
        for term in query.get("fieldSelector").unwrap_or_default().split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            match term.split_once('=') {
                Some(("metadata.name", v)) => {
                    selector.name = Some(v.trim_start_matches('=').to_owned())
                }
                Some(("metadata.namespace", v)) => {
                    selector.namespace = Some(v.trim_start_matches('=').to_owned());
                }
                _ => {
                    return Err(ApiError::bad(format!(
                        "field selector not supported by the test double: {term}"
                    )));
                }
            }
        }
        Ok(selector)
    }

    fn matches(&self, object: &Value) -> bool {
        let meta = |field: &str| {
            object
                .pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_str)
        };
        if self
            .name
            .as_deref()
            .is_some_and(|n| meta("name") != Some(n))
        {
            return false;
        }
        if self
            .namespace
            .as_deref()
            .is_some_and(|n| meta("namespace").unwrap_or_default() != n)
        {
            return false;
        }
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        self.labels.iter().all(|(key, value, equal)| {
            let actual = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
            match (value, equal) {
                (Some(v), true) => actual == Some(v.as_str()),
                (Some(v), false) => actual != Some(v.as_str()),
                (None, true) => actual.is_some(),
                (None, false) => actual.is_none(),
            }
        })
    }
}

/// What a request path names.
enum Target {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    Resources {
        group: String,
        version: String,
    },
    Collection {
        kind: Kind,
        version: String,
        namespace: Option<String>,
    },
    Object {
        kind: Kind,
        version: String,
        namespace: String,
        name: String,
        status: bool,
    },
}

fn route(store: &Store, path: &str) -> Result<Target, ApiError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Ok(Target::Version),
        ["api"] => return Ok(Target::CoreVersions),
        ["apis"] => return Ok(Target::Groups),
        ["apis", group] => return Ok(Target::Group((*group).to_owned())),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::not_found("path", path)),
    };
    if rest.is_empty() {
        let served = store
            .kinds
            .iter()
            .any(|k| k.group == group && k.versions.iter().any(|v| v == version));
        if !served {
            return Err(ApiError::not_found(
                "the server could not find the requested resource",
                path,
            ));
        }
        return Ok(Target::Resources {
            group: group.to_owned(),
            version: version.to_owned(),
        });
    }
    let (namespace, rest) = match rest {
        ["namespaces", namespace, plural, more @ ..] if *plural != "status" => (
            Some((*namespace).to_owned()),
            [&[*plural][..], more].concat(),
        ),
        _ => (None, rest.to_vec()),
    };
    let plural = rest[0];
    let kind = store.kind(group, version, plural).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    })?;
    if namespace.is_some() && !kind.namespaced {
        return Err(ApiError::not_found(
            "the server could not find the requested resource",
            path,
        ));
    }
    match rest.as_slice() {
        [_] => Ok(Target::Collection {
            kind,
            version: version.to_owned(),
            namespace,
        }),
        [_, name] | [_, name, "status"] => {
            if kind.namespaced && namespace.is_none() {
                return Err(ApiError::not_found(
                    "the server could not find the requested resource",
                    path,
                ));
            }
            Ok(Target::Object {
                status: rest.len() == 3,
                kind,
                version: version.to_owned(),
                namespace: namespace.unwrap_or_default(),
                name: (*name).to_owned(),
            })
        }
        _ => Err(ApiError::not_found(
            "the server could not find the requested resource",
            path,
        )),
    }
}

fn served(object: &Value, kind: &Kind, version: &str) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(kind.api_version(version));
    object["kind"] = json!(kind.kind);
    object
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.lock().expect("lock").push(format!(
        "{method} {}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    ));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(TOKEN) {
        return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
            .into_response();
    }
    match serve(&shared, &method, &uri, &headers, &body) {
        Ok(Reply::Json(code, value)) => (code, axum::Json(value)).into_response(),
        Ok(Reply::Watch(body)) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-cache, private")
            .body(body)
            .expect("response"),
        Err(error) => error.into_response(),
    }
}

enum Reply {
    Json(StatusCode, Value),
    Watch(Body),
}

fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let query = Query::parse(uri);
    let mut store = shared.store.lock().expect("store");
    let target = route(&store, uri.path())?;
    let ok = |value: Value| Ok(Reply::Json(StatusCode::OK, value));
    let read_body = || -> Result<Value, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad(format!("the body is not JSON: {e}")))
    };
    match (method, target) {
        (&Method::GET, Target::Version) => ok(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-double",
            "platform": "linux/amd64",
        })),
        (&Method::GET, Target::CoreVersions) => ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}],
        })),
        (&Method::GET, Target::Groups) => {
            let mut names: Vec<&str> = store
                .kinds
                .iter()
                .filter(|k| !k.group.is_empty())
                .map(|k| k.group.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            let groups: Vec<Value> = names.iter().map(|g| api_group(&store, g)).collect();
            ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        (&Method::GET, Target::Group(group)) => {
            if store.kinds.iter().any(|k| k.group == group) {
                let mut value = api_group(&store, &group);
                value["kind"] = json!("APIGroup");
                value["apiVersion"] = json!("v1");
                ok(value)
            } else {
                Err(ApiError::not_found(
                    "the server could not find the requested resource",
                    &group,
                ))
            }
        }
        (&Method::GET, Target::Resources { group, version }) => {
            let mut resources = Vec::new();
            for kind in store
                .kinds
                .iter()
                .filter(|k| k.group == group && k.versions.contains(&version))
            {
                let mut resource = json!({
                    "name": kind.plural,
                    "singularName": kind.singular,
                    "namespaced": kind.namespaced,
                    "kind": kind.kind,
                    "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                });
                if !kind.short_names.is_empty() {
                    resource["shortNames"] = json!(kind.short_names);
                }
                if !kind.categories.is_empty() {
                    resource["categories"] = json!(kind.categories);
                }
                resources.push(resource);
                if kind.status_subresource {
                    resources.push(json!({
                        "name": format!("{}/status", kind.plural),
                        "singularName": "",
                        "namespaced": kind.namespaced,
                        "kind": kind.kind,
                        "verbs": ["get", "patch", "update"],
                    }));
                }
            }
            let group_version = if group.is_empty() {
                version
            } else {
                format!("{group}/{version}")
            };
            ok(json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": resources,
            }))
        }
        (
            &Method::GET,
            Target::Collection {
                kind,
                version,
                namespace,
            },
        ) => {
            let selector = Selector::parse(&query)?;
            if query.flag("watch") {
                drop(store);
                return open_watch(shared, kind, version, namespace, selector, &query)
                    .map(Reply::Watch);
            }
            list(
                &mut store,
                &kind,
                &version,
                namespace.as_deref(),
                &selector,
                &query,
            )
            .map(|v| Reply::Json(StatusCode::OK, v))
        }
        (
            &Method::POST,
            Target::Collection {
                kind,
                version,
                namespace,
            },
        ) => {
            let mut object = read_body()?;
            check_type(&object, &kind, &version)?;
            strip_server_fields(&mut object);
            let name = match object.pointer("/metadata/name").and_then(Value::as_str) {
                Some(name) => name.to_owned(),
                None => match object
                    .pointer("/metadata/generateName")
                    .and_then(Value::as_str)
                {
                    Some(prefix) => format!("{prefix}{:05x}", store.next_id + 1),
                    None => {
                        return Err(ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "Invalid",
                            format!(
                                "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                                kind.kind
                            ),
                        ));
                    }
                },
            };
            let namespace = match (kind.namespaced, namespace) {
                (true, Some(ns)) => ns,
                (true, None) => {
                    return Err(ApiError::bad(
                        "a namespaced object must be created in a namespace",
                    ));
                }
                (false, _) => String::new(),
            };
            if let Some(body_ns) = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                && kind.namespaced
                && body_ns != namespace
            {
                return Err(ApiError::bad(
                    "the namespace of the object does not match the namespace on the request",
                ));
            }
            let key = (kind.group.clone(), kind.plural.clone(), namespace, name);
            let created = store.create(shared, &kind, key, object)?;
            Ok(Reply::Json(
                StatusCode::CREATED,
                served(&created, &kind, &version),
            ))
        }
        (
            method,
            Target::Object {
                kind,
                version,
                namespace,
                name,
                status,
            },
        ) => {
            let key = key_for(&kind, &namespace, &name);
            let write = if status { Write::Status } else { Write::Main };
            let current = || {
                store.objects.get(&key).cloned().ok_or_else(|| {
                    ApiError::not_found(&format!("{}.{}", kind.plural, kind.group), &name)
                })
            };
            match *method {
                Method::GET => {
                    let object = current()?;
                    ok(served(&object, &kind, &version))
                }
                Method::PUT => {
                    let object = read_body()?;
                    check_type(&object, &kind, &version)?;
                    if object.pointer("/metadata/name").and_then(Value::as_str)
                        != Some(name.as_str())
                    {
                        return Err(ApiError::bad(
                            "the name of the object does not match the name on the URL",
                        ));
                    }
                    current()?;
                    let updated = store.replace(shared, &kind, key, object, write)?;
                    ok(served(&updated, &kind, &version))
                }
                Method::PATCH => {
                    let content_type = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if !content_type.starts_with("application/merge-patch+json") {
                        return Err(ApiError::new(
                            StatusCode::UNSUPPORTED_MEDIA_TYPE,
                            "UnsupportedMediaType",
                            format!(
                                "the test double supports merge patches only, not {content_type:?}"
                            ),
                        ));
                    }
                    let patch = read_body()?;
                    let mut object = current()?;
                    merge_patch(&mut object, &patch);
                    if patch.pointer("/metadata/resourceVersion").is_none() {
                        object["metadata"]["resourceVersion"] =
                            current()?["metadata"]["resourceVersion"].clone();
                    }
                    let updated = store.replace(shared, &kind, key, object, write)?;
                    ok(served(&updated, &kind, &version))
                }
                Method::DELETE if !status => {
                    let deleted = store.delete(shared, &kind, key)?;
                    ok(served(&deleted, &kind, &version))
                }
                _ => Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )),
            }
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn check_type(object: &Value, kind: &Kind, version: &str) -> Result<(), ApiError> {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let object_kind = object.get("kind").and_then(Value::as_str);
    if api_version != Some(kind.api_version(version).as_str())
        || object_kind != Some(kind.kind.as_str())
    {
        return Err(ApiError::bad(format!(
            "the API version in the data ({}) does not match the expected API version ({}), or the kind ({}) is not {}",
            api_version.unwrap_or("none"),
            kind.api_version(version),
            object_kind.unwrap_or("none"),
            kind.kind
        )));
    }
    Ok(())
}

fn api_group(store: &Store, group: &str) -> Value {
    let mut versions: Vec<String> = store
        .kinds
        .iter()
        .filter(|k| k.group == group)
        .flat_map(|k| k.versions.iter().cloned())
        .collect();
    versions.sort_by_key(|v| version_priority(v));
    versions.dedup();
    let entry = |v: &String| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(entry).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(entry).unwrap_or(Value::Null),
    })
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("object");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn list(
    store: &mut Store,
    kind: &Kind,
    version: &str,
    namespace: Option<&str>,
    selector: &Selector,
    query: &Query,
) -> Result<Value, ApiError> {
    let limit: Option<usize> = match query.get("limit") {
        Some(l) => Some(
            l.parse()
                .map_err(|_| ApiError::bad("limit is not a number"))?,
        )
        .filter(|&l| l > 0),
        None => None,
    };
    let (rv, mut items) = if let Some(token) = query.get("continue") {
        let snapshot = store.snapshots.remove(token).ok_or_else(|| {
            ApiError::new(
                StatusCode::GONE,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            )
        })?;
        (snapshot.rv, snapshot.items)
    } else {
        if let Some(asked) = query
            .get("resourceVersion")
            .and_then(|v| v.parse::<u64>().ok())
            && asked > store.rv
        {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "Timeout",
                format!("Too large resource version: {asked}, current: {}", store.rv),
            ));
        }
        let items = store
            .objects
            .iter()
            .filter(|(k, _)| k.0 == kind.group && k.1 == kind.plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.2 == ns))
            .filter(|(_, o)| selector.matches(o))
            .map(|(_, o)| served(o, kind, version))
            .collect();
        (store.rv, items)
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(limit) = limit
        && items.len() > limit
    {
        let rest = items.split_off(limit);
        store.next_id += 1;
        let token = format!("c{}-{}", rv, store.next_id);
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(rest.len());
        store.snapshots.insert(token, Snapshot { rv, items: rest });
    }
    Ok(json!({
        "kind": format!("{}List", kind.kind),
        "apiVersion": kind.api_version(version),
        "metadata": metadata,
        "items": items,
    }))
}

fn line(event: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": event, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn gone(rv: u64, floor: u64) -> Value {
    ApiError::new(
        StatusCode::GONE,
        "Expired",
        format!("too old resource version: {rv} ({floor})"),
    )
    .status_object()
}

struct WatchGuard(Arc<Shared>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

fn open_watch(
    shared: &Arc<Shared>,
    kind: Kind,
    version: String,
    namespace: Option<String>,
    selector: Selector,
    query: &Query,
) -> Result<Body, ApiError> {
    let bookmarks = query.flag("allowWatchBookmarks");
    let initial_events = query.flag("sendInitialEvents");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let from = query.get("resourceVersion").map(str::to_owned);
    let relevant = {
        let kind = kind.clone();
        let namespace = namespace.clone();
        move |change: &Change| {
            change.group == kind.group
                && change.plural == kind.plural
                && namespace.as_deref().is_none_or(|ns| change.namespace == ns)
        }
    };

    // Under the store lock: subscribe, then take the backlog, so no change is missed or sent
    // twice.
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let store = shared.store.lock().expect("store");
    let mut changes = shared.changes.subscribe();
    let mut cut = shared.cut.subscribe();
    cut.mark_unchanged();
    let mut backlog: Vec<Bytes> = Vec::new();
    let start_rv = store.rv;
    let mut expired = false;
    match from.as_deref() {
        None | Some("0") => {
            for (k, object) in &store.objects {
                if k.0 == kind.group
                    && k.1 == kind.plural
                    && namespace.as_deref().is_none_or(|ns| k.2 == ns)
                    && selector.matches(object)
                {
                    backlog.push(line("ADDED", &served(object, &kind, &version)));
                }
            }
            if initial_events && bookmarks {
                backlog.push(line(
                    "BOOKMARK",
                    &json!({
                        "kind": kind.kind,
                        "apiVersion": kind.api_version(&version),
                        "metadata": {
                            "resourceVersion": start_rv.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    }),
                ));
            }
        }
        Some(rv) => {
            let rv: u64 = rv
                .parse()
                .map_err(|_| ApiError::bad(format!("invalid resourceVersion {rv:?}")))?;
            if rv < store.floor {
                backlog.push(line("ERROR", &gone(rv, store.floor)));
                expired = true;
            } else {
                for change in store.log.iter().filter(|c| c.rv > rv && relevant(c)) {
                    backlog.extend(event_line(change, &kind, &version, &selector));
                }
            }
        }
    }
    drop(store);
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    let guard = WatchGuard(shared.clone());
    let bookmark_every = *shared.bookmark_every.lock().expect("lock");
    let api_version = kind.api_version(&version);
    tokio::spawn(async move {
        let _guard = guard;
        for bytes in backlog {
            if tx.send(Ok(bytes)).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let mut seen = start_rv;
        let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(3600)));
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        loop {
            tokio::select! {
                received = changes.recv() => match received {
                    Ok(change) => {
                        seen = change.rv;
                        let event = relevant(&change)
                            .then(|| event_line(&change, &kind, &version, &selector))
                            .flatten();
                        if let Some(event) = event
                            && tx.send(Ok(event)).await.is_err()
                        {
                            return;
                        }
                    }
                    // Too slow to keep up: end the watch; the client resumes from its last
                    // resourceVersion, as with a real API server.
                    Err(_) => return,
                },
                _ = tick.tick(), if bookmarks => {
                    let bookmark = json!({
                        "kind": kind.kind,
                        "apiVersion": api_version,
                        "metadata": {"resourceVersion": seen.to_string()},
                    });
                    if tx.send(Ok(line("BOOKMARK", &bookmark))).await.is_err() {
                        return;
                    }
                }
                changed = cut.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let how = cut.borrow_and_update().1;
                    match how {
                        Cut::Expire => {
                            let _ = tx.send(Ok(line("ERROR", &gone(seen, seen)))).await;
                        }
                        Cut::Drop => {
                            let _ = tx
                                .send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "watch cut by the test")))
                                .await;
                        }
                        Cut::None => continue,
                    }
                    return;
                }
                () = &mut deadline => return,
            }
        }
    });
    Ok(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ))
}

/// A change as its watch event for a watch with `selector`, if that watch sees it: an object
/// that starts matching is ADDED, one that stops matching is DELETED, as the API server's
/// watch cache does.
fn event_line(change: &Change, kind: &Kind, version: &str, selector: &Selector) -> Option<Bytes> {
    let now = change.event != EventType::Deleted && selector.matches(&change.object);
    let before = match (&change.event, &change.previous) {
        (EventType::Deleted, _) => selector.matches(&change.object),
        (_, Some(previous)) => selector.matches(previous),
        (_, None) => false,
    };
    let event = match (before, now) {
        (_, true) if change.event == EventType::Added => "ADDED",
        (true, true) => "MODIFIED",
        (false, true) => "ADDED",
        (true, false) => "DELETED",
        (false, false) => return None,
    };
    Some(line(event, &served(&change.object, kind, version)))
}

/// The listener: hands out connections that reset while the double is unreachable.
struct Gate {
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for Gate {
    type Io = GatedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    return (
                        GatedStream {
                            stream,
                            shared: self.shared.clone(),
                        },
                        addr,
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A TCP stream that fails with "connection reset" while the double is unreachable.
struct GatedStream {
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
}

impl GatedStream {
    fn check(&self) -> std::io::Result<()> {
        if self.shared.reachable.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the test double is unreachable",
            ))
        }
    }
}

impl tokio::io::AsyncRead for GatedStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Err(error) = self.check() {
            return std::task::Poll::Ready(Err(error));
        }
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for GatedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let Err(error) = self.check() {
            return std::task::Poll::Ready(Err(error));
        }
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
