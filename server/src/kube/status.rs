//! From watched objects to what the status views and the ledger need: pure functions, no IO.
//!
//! ```text
//!  object JSON ──observe──▶ Record (health, conditions, references, stamp, applied revision)
//!                              │ what a 50k-object read model keeps: no spec, no managedFields,
//!                              ▼ no last-applied annotation, no status beyond the conditions
//!  Records by key ──tree──▶ ResourceNode (claim → composite → managed resources)
//!                 ──summarize──▶ LiveStatus (deepest failing object is the root cause)
//! ```

use std::collections::HashSet;

use app::domain::{Health, HealthState};
use app::status::{Condition, LiveStatus, ResourceNode};
use serde_json::Value;

use super::health;

/// The annotation every rendered claim carries (see `catalog::render`).
pub const REQUEST_ANNOTATION: &str = "slipway.dev/request-id";
/// Labels every rendered claim carries.
pub const TEAM_LABEL: &str = "slipway.dev/team";
/// See [`TEAM_LABEL`].
pub const ENVIRONMENT_LABEL: &str = "slipway.dev/environment";
/// The label Crossplane puts on every composed resource (its composite's name).
pub const COMPOSITE_LABEL: &str = "crossplane.io/composite";

/// Names an object within one cluster. The group, not the version: references may name
/// another served version of the same kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// API group (empty for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// `Kind/name` (with the namespace when there is one), for people.
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// A reference from one object to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `group/version` as the reference writes it.
    pub api_version: String,
    /// Whom it names.
    pub key: ObjectKey,
}

/// What a GitOps applier (Argo CD Application, Flux Kustomization) has applied, and what it
/// tried to apply and could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Commit ids it applied successfully (several for multi-source applications).
    pub revisions: Vec<String>,
    /// Repository paths it applies (`spec.path`, `spec.source.path`), without `./`.
    pub paths: Vec<String>,
    /// The latest attempt, when it failed.
    pub failed: Option<FailedAttempt>,
}

/// An applier's failed attempt to apply a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAttempt {
    /// The commit it tried to apply.
    pub revision: String,
    /// A one-word reason (`SyncFailed`, `SyncError`, Flux's `BuildFailed`, …).
    pub reason: String,
    /// The applier's words.
    pub message: String,
}

/// What the read model keeps of one object.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// `group/version` as served.
    pub api_version: String,
    /// The request stamp, on claims Slipway rendered.
    pub request_id: Option<String>,
    /// The team label.
    pub team: Option<String>,
    /// The environment label.
    pub environment: Option<String>,
    /// Its own health.
    pub health: Health,
    /// Its conditions.
    pub conditions: Vec<Condition>,
    /// What it references (claim → composite, composite → composed).
    pub references: Vec<Reference>,
    /// For appliers: what they applied.
    pub applied: Option<Applied>,
    /// RFC 3339: the newest condition transition, if any.
    pub changed_at: Option<String>,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The group of an `apiVersion` (`""` for `v1`).
pub fn group_of(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map(|(group, _)| group)
        .unwrap_or("")
}

/// The key of an object as served.
pub fn key_of(object: &Value) -> Option<ObjectKey> {
    Some(ObjectKey {
        group: group_of(text(object, "/apiVersion")?).to_owned(),
        kind: text(object, "/kind")?.to_owned(),
        namespace: text(object, "/metadata/namespace")
            .unwrap_or_default()
            .to_owned(),
        name: text(object, "/metadata/name")?.to_owned(),
    })
}

/// Keeps what the status views need of `object`.
pub fn observe(object: &Value) -> Record {
    let conditions: Vec<Condition> = health::conditions(object)
        .into_iter()
        .map(|c| Condition {
            kind: c.kind.to_owned(),
            status: c.status.to_owned(),
            reason: c.reason.map(str::to_owned),
            message: c.message.map(str::to_owned),
            since: c.since.map(str::to_owned),
        })
        .collect();
    // RFC 3339 in UTC with the same precision compares as text.
    let changed_at = conditions.iter().filter_map(|c| c.since.clone()).max();
    let namespace = text(object, "/metadata/namespace").unwrap_or_default();
    Record {
        api_version: text(object, "/apiVersion").unwrap_or_default().to_owned(),
        request_id: object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REQUEST_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_owned),
        team: label(object, TEAM_LABEL),
        environment: label(object, ENVIRONMENT_LABEL),
        health: health::classify(object),
        conditions,
        references: references(object, namespace),
        applied: applied(object),
        changed_at,
    }
}

fn label(object: &Value, key: &str) -> Option<String> {
    object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Crossplane's references: a claim's `spec.resourceRef` (v1) names its composite; a
/// composite's `spec.resourceRefs` (v1) or `spec.crossplane.resourceRefs` (v2) name what it
/// composes. A v2 namespaced composite composes in its own namespace unless a reference
/// says otherwise; v1 composites and what they compose are cluster-scoped.
fn references(object: &Value, namespace: &str) -> Vec<Reference> {
    let one = |r: &Value, default_namespace: &str| -> Option<Reference> {
        let api_version = text(r, "/apiVersion")?;
        Some(Reference {
            api_version: api_version.to_owned(),
            key: ObjectKey {
                group: group_of(api_version).to_owned(),
                kind: text(r, "/kind")?.to_owned(),
                namespace: text(r, "/namespace")
                    .unwrap_or(default_namespace)
                    .to_owned(),
                name: text(r, "/name")?.to_owned(),
            },
        })
    };
    let mut found = Vec::new();
    if let Some(r) = object.pointer("/spec/resourceRef") {
        found.extend(one(r, ""));
    }
    for (pointer, default_namespace) in [
        ("/spec/resourceRefs", ""),
        ("/spec/crossplane/resourceRefs", namespace),
    ] {
        if let Some(list) = object.pointer(pointer).and_then(Value::as_array) {
            found.extend(list.iter().filter_map(|r| one(r, default_namespace)));
        }
    }
    found
}

/// What an Argo CD Application or a Flux Kustomization applied; `None` for other objects.
///
/// Applied means applied *successfully*:
/// - Argo CD: `status.sync.revision(s)` while `status.sync.status` is `Synced`; the revision
///   of an operation whose phase is `Succeeded`; the revisions of `status.history` (Argo CD
///   records successful syncs only). An operation that `Failed` or ended in `Error` is a
///   failed attempt at its revision, with its message (or a `SyncError` condition's).
/// - Flux: `status.lastAppliedRevision` while the `Ready` condition is `True`. `Ready=False`
///   is a failed attempt at `status.lastAttemptedRevision` with the condition's message;
///   `lastAttemptedRevision` alone is never applied.
fn applied(object: &Value) -> Option<Applied> {
    let api_version = text(object, "/apiVersion").unwrap_or_default();
    let kind = text(object, "/kind").unwrap_or_default();
    let clean = |p: &str| p.trim_start_matches("./").trim_matches('/').to_owned();
    let revisions_at = |value: &Value, one: &str, many: &str| -> Vec<String> {
        let mut found: Vec<String> = text(value, one).and_then(commit_of).into_iter().collect();
        if let Some(list) = value.pointer(many).and_then(Value::as_array) {
            found.extend(list.iter().filter_map(Value::as_str).filter_map(commit_of));
        }
        found
    };
    if api_version.starts_with("argoproj.io/") && kind == "Application" {
        let mut revisions = Vec::new();
        if text(object, "/status/sync/status") == Some("Synced") {
            revisions.extend(revisions_at(
                object,
                "/status/sync/revision",
                "/status/sync/revisions",
            ));
        }
        let operation = object.pointer("/status/operationState");
        let phase = operation.and_then(|o| text(o, "/phase"));
        let attempted = operation
            .map(|o| {
                let mut found = revisions_at(o, "/syncResult/revision", "/syncResult/revisions");
                found.extend(revisions_at(
                    o,
                    "/operation/sync/revision",
                    "/operation/sync/revisions",
                ));
                found
            })
            .unwrap_or_default();
        if phase == Some("Succeeded") {
            revisions.extend(attempted.iter().cloned());
        }
        // The newest history entry: the last successful sync (older ones add nothing once
        // it contains them, and each unknown revision costs a fetch to check).
        if let Some(last) = object
            .pointer("/status/history")
            .and_then(Value::as_array)
            .and_then(|h| h.last())
        {
            revisions.extend(revisions_at(last, "/revision", "/revisions"));
        }
        revisions.sort();
        revisions.dedup();
        let failed = match phase {
            Some(phase @ ("Failed" | "Error")) => attempted.first().map(|revision| FailedAttempt {
                revision: revision.clone(),
                reason: format!("Sync{phase}"),
                message: operation
                    .and_then(|o| text(o, "/message"))
                    .map(str::to_owned)
                    .or_else(|| condition_message(object, "SyncError"))
                    .unwrap_or_else(|| "the sync failed".to_owned()),
            }),
            _ => None,
        };
        let mut paths: Vec<String> = text(object, "/spec/source/path")
            .map(clean)
            .into_iter()
            .collect();
        if let Some(list) = object.pointer("/spec/sources").and_then(Value::as_array) {
            paths.extend(list.iter().filter_map(|s| text(s, "/path")).map(clean));
        }
        return Some(Applied {
            revisions,
            paths,
            failed,
        });
    }
    if api_version.starts_with("kustomize.toolkit.fluxcd.io/") && kind == "Kustomization" {
        let ready = health::conditions(object)
            .into_iter()
            .find(|c| c.kind == "Ready");
        let (revisions, failed) = match ready {
            Some(c) if c.status == "True" => (
                text(object, "/status/lastAppliedRevision")
                    .and_then(commit_of)
                    .into_iter()
                    .collect(),
                None,
            ),
            Some(c) if c.status == "False" => (
                Vec::new(),
                text(object, "/status/lastAttemptedRevision")
                    .and_then(commit_of)
                    .map(|revision| FailedAttempt {
                        revision,
                        reason: c.reason.unwrap_or("ReconciliationFailed").to_owned(),
                        message: c.message.unwrap_or("not applied").to_owned(),
                    }),
            ),
            _ => (Vec::new(), None),
        };
        return Some(Applied {
            revisions,
            paths: vec![clean(text(object, "/spec/path").unwrap_or_default())],
            failed,
        });
    }
    None
}

/// The message of the condition of type `kind`, if the object has one.
fn condition_message(object: &Value, kind: &str) -> Option<String> {
    health::conditions(object)
        .into_iter()
        .find(|c| c.kind == kind)
        .and_then(|c| c.message.map(str::to_owned))
}

/// The commit id in an applied revision: a bare id (Argo CD), `main@sha1:<id>` (Flux ≥ 2.0)
/// or `main/<id>` (older Flux). Anything else (a chart version, an OCI digest) is not a
/// commit and gives `None`.
pub fn commit_of(revision: &str) -> Option<String> {
    let candidate = revision
        .rsplit_once("sha1:")
        .map(|(_, id)| id)
        .or_else(|| revision.rsplit_once('/').map(|(_, id)| id))
        .unwrap_or(revision);
    let is_commit = matches!(candidate.len(), 40 | 64)
        && candidate.bytes().all(|b| b.is_ascii_hexdigit())
        && !revision.contains("sha256:");
    is_commit.then(|| candidate.to_ascii_lowercase())
}

/// Whether an applier applying `applier_path` (a folder of the repository, `""` for the
/// root) applies the file at `file`.
pub fn covers(applier_path: &str, file: &str) -> bool {
    applier_path.is_empty()
        || applier_path == "."
        || file
            .strip_prefix(applier_path)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Builds the resource tree under `root` with `lookup` finding referenced objects. Cycles
/// and references deeper than a few levels are cut (a composite of composites of …).
pub fn tree<'a>(
    key: &ObjectKey,
    record: &'a Record,
    lookup: &dyn Fn(&ObjectKey) -> Option<&'a Record>,
) -> ResourceNode {
    let mut seen = HashSet::new();
    seen.insert(key.clone());
    node(key, record, lookup, &mut seen, 0)
}

const MAX_DEPTH: usize = 6;

fn node<'a>(
    key: &ObjectKey,
    record: &'a Record,
    lookup: &dyn Fn(&ObjectKey) -> Option<&'a Record>,
    seen: &mut HashSet<ObjectKey>,
    depth: usize,
) -> ResourceNode {
    let mut children = Vec::new();
    if depth < MAX_DEPTH {
        for reference in &record.references {
            if !seen.insert(reference.key.clone()) {
                continue;
            }
            children.push(match lookup(&reference.key) {
                Some(child) => node(&reference.key, child, lookup, seen, depth + 1),
                None => ResourceNode {
                    api_version: reference.api_version.clone(),
                    kind: reference.key.kind.clone(),
                    namespace: none_if_empty(&reference.key.namespace),
                    name: reference.key.name.clone(),
                    health: Health {
                        state: HealthState::Unknown,
                        reason: Some("NotObserved".into()),
                        message: Some(
                            "referenced, but not seen in the cluster (not created yet, or its kind is not watched)"
                                .into(),
                        ),
                    },
                    conditions: Vec::new(),
                    children: Vec::new(),
                    missing: true,
                },
            });
        }
    }
    ResourceNode {
        api_version: record.api_version.clone(),
        kind: key.kind.clone(),
        namespace: none_if_empty(&key.namespace),
        name: key.name.clone(),
        health: record.health.clone(),
        conditions: record.conditions.clone(),
        children,
        missing: false,
    }
}

fn none_if_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The status of a whole tree: Failed as soon as anything in it failed, with the deepest
/// failing object's reason and message as the root cause (a claim only says "composite not
/// ready"; the managed resource says why). A claim being deleted stays Deleting. Otherwise
/// the root's own health.
pub fn summarize(root: &ResourceNode, since: String) -> LiveStatus {
    if root.health.state == HealthState::Deleting {
        return LiveStatus {
            health: root.health.clone(),
            cause_in: None,
            last_known: None,
            since,
        };
    }
    let mut deepest: Option<(usize, &ResourceNode)> = None;
    deepest_failure(root, 0, &mut deepest);
    match deepest {
        Some((depth, failing)) => LiveStatus {
            health: Health {
                state: HealthState::Failed,
                ..failing.health.clone()
            },
            cause_in: (depth > 0).then(|| {
                let key = ObjectKey {
                    group: String::new(),
                    kind: failing.kind.clone(),
                    namespace: failing.namespace.clone().unwrap_or_default(),
                    name: failing.name.clone(),
                };
                key.label()
            }),
            last_known: None,
            since,
        },
        None => LiveStatus {
            health: root.health.clone(),
            cause_in: None,
            last_known: None,
            since,
        },
    }
}

fn deepest_failure<'a>(
    node: &'a ResourceNode,
    depth: usize,
    best: &mut Option<(usize, &'a ResourceNode)>,
) {
    if node.health.state == HealthState::Failed && best.is_none_or(|(d, _)| depth > d) {
        *best = Some((depth, node));
    }
    for child in &node.children {
        deepest_failure(child, depth + 1, best);
    }
}

/// The same status seen through an unreachable cluster: Stale, with the last known state.
pub fn stale(mut live: LiveStatus, error: &str, since: String) -> LiveStatus {
    live.last_known = Some(live.health.state);
    live.health = Health {
        state: HealthState::Stale,
        reason: Some("ClusterUnreachable".into()),
        message: Some(format!(
            "the cluster cannot be reached ({error}); this is the last known status"
        )),
    };
    live.since = since;
    live
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastTransitionTime": "2026-11-01T10:00:00Z"})
    }

    fn claim(conditions: Vec<Value>) -> Value {
        json!({
            "apiVersion": "platform.example.org/v1alpha1", "kind": "PostgreSQLInstance",
            "metadata": {"name": "db", "namespace": "team-a",
                "labels": {"slipway.dev/team": "a", "slipway.dev/environment": "dev"},
                "annotations": {"slipway.dev/request-id": "r1",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"parameters": {"storageGB": 20},
                "resourceRef": {"apiVersion": "platform.example.org/v1alpha1", "kind": "XPostgreSQLInstance", "name": "db-x7k2p"}},
            "status": {"conditions": conditions},
        })
    }

    #[test]
    fn a_claim_keeps_its_stamp_labels_conditions_and_composite_reference() {
        let record = observe(&claim(vec![
            condition("Synced", "True", "ReconcileSuccess", ""),
            condition("Ready", "False", "Creating", "composite not ready"),
        ]));
        assert_eq!(record.request_id.as_deref(), Some("r1"));
        assert_eq!(record.team.as_deref(), Some("a"));
        assert_eq!(record.environment.as_deref(), Some("dev"));
        assert_eq!(record.health.state, HealthState::Progressing);
        assert_eq!(record.conditions.len(), 2);
        assert_eq!(
            record.references,
            vec![Reference {
                api_version: "platform.example.org/v1alpha1".into(),
                key: ObjectKey {
                    group: "platform.example.org".into(),
                    kind: "XPostgreSQLInstance".into(),
                    namespace: String::new(),
                    name: "db-x7k2p".into(),
                },
            }]
        );
        assert_eq!(record.changed_at.as_deref(), Some("2026-11-01T10:00:00Z"));
    }

    #[test]
    fn a_v2_namespaced_composite_composes_in_its_own_namespace() {
        let xr = json!({"apiVersion": "x.example.org/v1", "kind": "XApp",
            "metadata": {"name": "a", "namespace": "ns1"},
            "spec": {"crossplane": {"resourceRefs": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "a-web"},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "a-config", "namespace": "other"}]}}});
        let keys: Vec<(String, String, String)> = observe(&xr)
            .references
            .into_iter()
            .map(|r| (r.key.group, r.key.kind, r.key.namespace))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("apps".into(), "Deployment".into(), "ns1".into()),
                (String::new(), "ConfigMap".into(), "other".into())
            ]
        );
    }

    #[test]
    fn revisions_are_read_from_argo_cd_and_both_flux_formats() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(commit_of(sha).as_deref(), Some(sha));
        assert_eq!(commit_of(&format!("main@sha1:{sha}")).as_deref(), Some(sha));
        assert_eq!(commit_of(&format!("main/{sha}")).as_deref(), Some(sha));
        assert_eq!(commit_of("6.5.1"), None, "a chart version is not a commit");
        assert_eq!(
            commit_of(
                "latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            None,
            "an OCI digest is not a commit"
        );
        let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "dev", "namespace": "argocd"},
            "spec": {"source": {"path": "./envs/dev"}},
            "status": {"sync": {"status": "Synced", "revision": sha}}});
        assert_eq!(
            observe(&app).applied,
            Some(Applied {
                revisions: vec![sha.into()],
                paths: vec!["envs/dev".into()],
                failed: None,
            })
        );
    }

    #[test]
    fn an_argo_cd_sync_that_failed_at_a_revision_is_a_failed_attempt_never_an_application() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        // As Argo CD reports it: the comparison targets the revision, the sync of it failed.
        let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "dev", "namespace": "argocd"},
            "spec": {"source": {"path": "envs/dev"}},
            "status": {
                "sync": {"status": "OutOfSync", "revision": sha},
                "health": {"status": "Degraded"},
                "conditions": [{"type": "SyncError", "message": "one or more objects failed to apply"}],
                "operationState": {"phase": "Failed",
                    "message": "one or more objects failed to apply, reason: admission webhook denied",
                    "operation": {"sync": {"revision": sha}},
                    "syncResult": {"revision": sha}}}});
        let applied = observe(&app).applied.unwrap();
        assert!(applied.revisions.is_empty(), "{applied:?}");
        let failed = applied.failed.expect("a failed attempt");
        assert_eq!(
            (failed.revision.as_str(), failed.reason.as_str()),
            (sha, "SyncFailed")
        );
        assert!(
            failed.message.contains("admission webhook denied"),
            "{failed:?}"
        );

        // A successful operation is an application, whatever the comparison says now.
        let mut succeeded = app.clone();
        succeeded["status"]["operationState"]["phase"] = json!("Succeeded");
        let applied = observe(&succeeded).applied.unwrap();
        assert_eq!(
            (applied.revisions, applied.failed),
            (vec![sha.to_owned()], None)
        );
    }

    #[test]
    fn a_flux_kustomization_applied_only_while_ready_and_failed_at_its_attempted_revision() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let older = "fedcba9876543210fedcba9876543210fedcba98";
        let kustomization = |ready: &str, reason: &str| {
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "dev", "namespace": "flux-system"},
                "spec": {"path": "./envs/dev"},
                "status": {
                    "lastAppliedRevision": format!("main@sha1:{older}"),
                    "lastAttemptedRevision": format!("main@sha1:{sha}"),
                    "conditions": [{"type": "Ready", "status": ready, "reason": reason,
                        "message": "kustomize build failed: accumulating resources"}]}})
        };
        let failed = observe(&kustomization("False", "BuildFailed"))
            .applied
            .unwrap();
        assert!(
            failed.revisions.is_empty(),
            "lastAttemptedRevision alone is not applied"
        );
        let attempt = failed.failed.unwrap();
        assert_eq!(
            (attempt.revision.as_str(), attempt.reason.as_str()),
            (sha, "BuildFailed")
        );
        let ready = observe(&kustomization("True", "ReconciliationSucceeded"))
            .applied
            .unwrap();
        assert_eq!(
            (ready.revisions, ready.failed),
            (vec![older.to_owned()], None)
        );
        let progressing = observe(&kustomization("Unknown", "Progressing"))
            .applied
            .unwrap();
        assert_eq!((progressing.revisions.len(), progressing.failed), (0, None));
    }

    #[test]
    fn an_applier_path_covers_files_below_it_only() {
        assert!(covers("envs/dev", "envs/dev/team-a/db.yaml"));
        assert!(!covers("envs/dev", "envs/development/db.yaml"));
        assert!(covers("", "anything.yaml"));
    }

    fn record(health: HealthState, reason: &str, references: Vec<Reference>) -> Record {
        Record {
            api_version: "x/v1".into(),
            request_id: None,
            team: None,
            environment: None,
            health: Health {
                state: health,
                reason: Some(reason.into()),
                message: Some(format!("{reason} message")),
            },
            conditions: Vec::new(),
            references,
            applied: None,
            changed_at: None,
        }
    }

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: "x".into(),
            kind: kind.into(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    fn reference(kind: &str, name: &str) -> Reference {
        Reference {
            api_version: "x/v1".into(),
            key: key(kind, name),
        }
    }

    #[test]
    fn the_deepest_failing_object_is_the_root_cause() {
        let claim = record(
            HealthState::Progressing,
            "Creating",
            vec![reference("XDb", "db-1")],
        );
        let xr = record(
            HealthState::Failed,
            "ComposeResources",
            vec![
                reference("Instance", "db-1-a"),
                reference("Subnet", "db-1-b"),
            ],
        );
        let instance = record(HealthState::Failed, "ReconcileError", vec![]);
        let subnet = record(HealthState::Ready, "Available", vec![]);
        let lookup = |k: &ObjectKey| match k.kind.as_str() {
            "XDb" => Some(&xr),
            "Instance" => Some(&instance),
            "Subnet" => Some(&subnet),
            _ => None,
        };
        let root = tree(&key("Db", "db"), &claim, &lookup);
        assert_eq!(root.children[0].children.len(), 2);
        let live = summarize(&root, "t".into());
        assert_eq!(live.health.state, HealthState::Failed);
        assert_eq!(live.health.reason.as_deref(), Some("ReconcileError"));
        assert_eq!(live.cause_in.as_deref(), Some("Instance/db-1-a"));
    }

    #[test]
    fn unseen_references_are_shown_missing_and_never_ready() {
        let claim = record(
            HealthState::Ready,
            "Available",
            vec![reference("XDb", "gone")],
        );
        let root = tree(&key("Db", "db"), &claim, &|_| None);
        assert!(root.children[0].missing);
        assert_eq!(root.children[0].health.state, HealthState::Unknown);
        assert_eq!(
            summarize(&root, "t".into()).health.state,
            HealthState::Ready
        );
    }

    #[test]
    fn reference_cycles_are_cut() {
        let a = record(HealthState::Progressing, "A", vec![reference("B", "b")]);
        let b = record(HealthState::Progressing, "B", vec![reference("A", "a")]);
        let lookup = |k: &ObjectKey| if k.kind == "A" { Some(&a) } else { Some(&b) };
        let root = tree(&key("A", "a"), &a, &lookup);
        assert_eq!(root.children.len(), 1);
        assert!(root.children[0].children.is_empty());
    }

    #[test]
    fn a_stale_status_keeps_the_last_known_state() {
        let live = LiveStatus {
            health: Health {
                state: HealthState::Ready,
                reason: None,
                message: None,
            },
            cause_in: None,
            last_known: None,
            since: "a".into(),
        };
        let stale = stale(live, "connection refused", "b".into());
        assert_eq!(stale.health.state, HealthState::Stale);
        assert_eq!(stale.last_known, Some(HealthState::Ready));
        assert!(
            stale
                .health
                .message
                .as_deref()
                .is_some_and(|m| m.contains("connection refused"))
        );
    }
}
