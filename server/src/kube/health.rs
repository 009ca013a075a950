//! From a control-plane object (as JSON, the shape kube's `DynamicObject` carries) to a
//! [`Health`]: pure functions, no IO.
//!
//! The rules, most decisive first:
//! - **Crossplane** claims, composite and managed resources: `Synced=False` is a failure, never
//!   healthy (also while paused: it will not progress); a failed async operation
//!   (`LastAsyncOperation=False`) is the more specific root cause. Then a deletion timestamp
//!   means Deleting; `Ready=True` means Ready; `Ready=False` with reason `Unavailable` is a
//!   failure, any other reason (`Creating`, …) Progressing. No Ready condition: Unknown.
//! - **Argo CD** `Application`: a deletion timestamp means Deleting; an operation that
//!   `Failed`/`Error`ed, an `*Error` condition or health `Degraded` is a failure; a running
//!   operation, health `Progressing`/`Missing` or `OutOfSync` is Progressing; `Synced` and
//!   `Healthy` together are Ready; anything else (no health block, `Unknown`) is Unknown.
//! - **Flux** `Kustomization`/`HelmRelease`: a deletion timestamp means Deleting; `Ready=False`
//!   (or `Stalled=True`) is a failure whose root cause is the most specific negative
//!   condition (`Released`, `TestSuccess`, …) before `Ready` itself; `Ready=Unknown` is
//!   Progressing; `Ready=True` is Ready unless the spec changed since (`observedGeneration`
//!   behind `generation`). A suspended object keeps its last state, with reason `Suspended`.
//!
//! An object without conditions (or health) is Unknown, never Ready. Stale is not decided
//! here: it is what the status hub reports when the cluster cannot be reached.

use app::domain::{Health, HealthState};
use serde_json::Value;

/// A status condition, as all three projects write them (borrowed from the object).
#[derive(Clone, Debug)]
pub(crate) struct Condition<'a> {
    pub(crate) kind: &'a str,
    pub(crate) status: &'a str,
    pub(crate) reason: Option<&'a str>,
    pub(crate) message: Option<&'a str>,
    pub(crate) since: Option<&'a str>,
}

/// `status.conditions`; entries without a type are skipped, a missing status is `Unknown`,
/// empty reasons and messages are none.
pub(crate) fn conditions(object: &Value) -> Vec<Condition<'_>> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some(Condition {
                        kind: c.get("type")?.as_str()?,
                        status: c.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
                        reason: c
                            .get("reason")
                            .and_then(Value::as_str)
                            .filter(|r| !r.is_empty()),
                        message: c
                            .get("message")
                            .and_then(Value::as_str)
                            .filter(|m| !m.is_empty()),
                        since: c
                            .get("lastTransitionTime")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty()),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn find<'a>(conditions: &'a [Condition<'a>], kind: &str) -> Option<&'a Condition<'a>> {
    conditions.iter().find(|c| c.kind == kind)
}

fn health(state: HealthState, reason: Option<&str>, message: Option<&str>) -> Health {
    Health {
        state,
        reason: reason.map(str::to_owned),
        message: message.map(str::to_owned),
    }
}

fn from_condition(state: HealthState, condition: &Condition<'_>) -> Health {
    health(state, condition.reason, condition.message)
}

fn is_deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// Maps any supported object, chosen by its `apiVersion` group and `kind`.
pub fn classify(object: &Value) -> Health {
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if group.starts_with("argoproj.io/") && kind == "Application" {
        argocd_application(object)
    } else if group.starts_with("kustomize.toolkit.fluxcd.io/")
        || group.starts_with("helm.toolkit.fluxcd.io/")
    {
        flux(object)
    } else {
        crossplane(object)
    }
}

/// A Crossplane claim, composite resource or managed resource.
pub fn crossplane(object: &Value) -> Health {
    let conditions = conditions(object);
    if let Some(async_op) = find(&conditions, "LastAsyncOperation").filter(|c| c.status == "False")
    {
        return from_condition(HealthState::Failed, async_op);
    }
    if let Some(synced) = find(&conditions, "Synced").filter(|c| c.status == "False") {
        return from_condition(HealthState::Failed, synced);
    }
    if is_deleting(object) {
        let ready = find(&conditions, "Ready");
        return health(
            HealthState::Deleting,
            ready.and_then(|c| c.reason),
            ready.and_then(|c| c.message),
        );
    }
    match find(&conditions, "Ready") {
        Some(ready) if ready.status == "True" => from_condition(HealthState::Ready, ready),
        Some(ready) if ready.status == "False" && ready.reason == Some("Unavailable") => {
            from_condition(HealthState::Failed, ready)
        }
        Some(ready) if ready.status == "False" && ready.reason == Some("Deleting") => {
            from_condition(HealthState::Deleting, ready)
        }
        Some(ready) if ready.status == "False" => from_condition(HealthState::Progressing, ready),
        Some(ready) => from_condition(HealthState::Unknown, ready),
        None if conditions.is_empty() => health(
            HealthState::Unknown,
            None,
            Some("The object reports no conditions yet."),
        ),
        None => health(
            HealthState::Unknown,
            None,
            Some("The object reports no Ready condition."),
        ),
    }
}

/// An Argo CD `Application`.
pub fn argocd_application(object: &Value) -> Health {
    if is_deleting(object) {
        return health(HealthState::Deleting, None, None);
    }
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let sync = text("/status/sync/status");
    let health_status = text("/status/health/status");
    let health_message = text("/status/health/message");
    let operation = text("/status/operationState/phase");
    let operation_message = text("/status/operationState/message");

    if matches!(operation, Some("Failed" | "Error")) {
        return health(HealthState::Failed, operation, operation_message);
    }
    if let Some(error) = conditions(object)
        .into_iter()
        .find(|c| c.kind.ends_with("Error"))
    {
        return health(HealthState::Failed, Some(error.kind), error.message);
    }
    if health_status == Some("Degraded") {
        return health(HealthState::Failed, health_status, health_message);
    }
    if operation == Some("Running") {
        return health(HealthState::Progressing, operation, operation_message);
    }
    if matches!(health_status, Some("Progressing" | "Missing")) {
        return health(HealthState::Progressing, health_status, health_message);
    }
    if sync == Some("OutOfSync") {
        return health(HealthState::Progressing, sync, None);
    }
    if sync == Some("Synced") && health_status == Some("Healthy") {
        return health(HealthState::Ready, health_status, health_message);
    }
    let reason = health_status.or(sync);
    let message = health_message.or(Some(
        "Argo CD reports no sync and health state to judge by.",
    ));
    health(HealthState::Unknown, reason, message)
}

/// A Flux `Kustomization` or `HelmRelease`.
pub fn flux(object: &Value) -> Health {
    let conditions = conditions(object);
    if is_deleting(object) {
        return health(HealthState::Deleting, None, None);
    }
    let suspended = object
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ready = find(&conditions, "Ready");
    let stalled = find(&conditions, "Stalled").is_some_and(|c| c.status == "True");
    let mut result = match ready {
        Some(r) if r.status == "False" || stalled => {
            // The most specific negative condition is the root cause; Ready sums them up.
            let cause = ["Released", "TestSuccess", "Healthy"]
                .iter()
                .filter_map(|kind| find(&conditions, kind))
                .find(|c| c.status == "False")
                .unwrap_or(r);
            from_condition(HealthState::Failed, cause)
        }
        Some(r) if r.status == "True" => {
            let generation = object
                .pointer("/metadata/generation")
                .and_then(Value::as_i64);
            let observed = object
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64);
            match (generation, observed) {
                (Some(g), Some(o)) if o < g => health(
                    HealthState::Progressing,
                    Some("NewGeneration"),
                    Some("The spec changed since the last reconciliation."),
                ),
                _ => from_condition(HealthState::Ready, r),
            }
        }
        Some(r) => from_condition(HealthState::Progressing, r),
        None => health(
            HealthState::Unknown,
            None,
            Some("The object reports no Ready condition."),
        ),
    };
    if suspended {
        result.reason = Some("Suspended".into());
        let last = result
            .message
            .take()
            .map(|m| format!(" Last reported: {m}"))
            .unwrap_or_default();
        result.message = Some(format!(
            "Reconciliation is suspended; this is the state of the last reconciliation.{last}"
        ));
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_flux_object_whose_spec_changed_since_it_was_ready_is_progressing() {
        let ks = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"generation": 5},
            "status": {"observedGeneration": 4, "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}]}
        });
        assert_eq!(classify(&ks).state, HealthState::Progressing);
        assert_eq!(classify(&ks).reason.as_deref(), Some("NewGeneration"));
    }

    #[test]
    fn an_argo_error_condition_fails_even_when_synced_and_healthy() {
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "status": {
                "sync": {"status": "Synced"}, "health": {"status": "Healthy"},
                "conditions": [{"type": "ComparisonError", "message": "repository not accessible"}]
            }
        });
        let health = classify(&app);
        assert_eq!(health.state, HealthState::Failed);
        assert_eq!(health.reason.as_deref(), Some("ComparisonError"));
        assert_eq!(health.message.as_deref(), Some("repository not accessible"));
    }

    #[test]
    fn an_unavailable_crossplane_resource_has_failed() {
        let mr = json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "status": {"conditions": [
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"},
                {"type": "Ready", "status": "False", "reason": "Unavailable", "message": "instance is in state failed"}
            ]}
        });
        assert_eq!(classify(&mr).state, HealthState::Failed);
    }

    #[test]
    fn a_crossplane_object_being_deleted_without_errors_is_deleting() {
        let claim = json!({
            "apiVersion": "database.example.org/v1alpha1", "kind": "PostgreSQLInstance",
            "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "True", "reason": "Available"}]}
        });
        assert_eq!(classify(&claim).state, HealthState::Deleting);
    }
}
