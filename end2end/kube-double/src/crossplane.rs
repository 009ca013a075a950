//! Crossplane objects as a platform's cluster holds them, for the benches: claims, each with a
//! composite and three managed resources, shaped as Argo CD and the providers leave them.

use crate::{Kind, KubeDouble};
use serde_json::{Value, json};

/// Managed resources under each composite.
pub const MRS_PER_CLAIM: usize = 3;
/// The claim's and composite's API version.
pub const API: &str = "database.example.org/v1alpha1";
/// The managed resources' API version.
pub const MR_API: &str = "rds.aws.upbound.io/v1beta1";

/// A claim's conditions, Ready or still creating.
pub fn conditions(ready: bool) -> Value {
    json!([
        {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "lastTransitionTime": "2026-11-28T10:00:00Z"},
        {"type": "Ready", "status": if ready { "True" } else { "False" }, "reason": if ready { "Available" } else { "Creating" },
         "message": if ready { "" } else { "Unready resources: instance, subnet-group" }, "lastTransitionTime": "2026-11-28T10:00:00Z"},
    ])
}

/// Seeds the double; the objects as it stored them.
pub fn seed(double: &KubeDouble, claims: usize) -> Vec<Value> {
    let mut stored = Vec::new();
    for i in 0..claims {
        let xr = format!("db-{i:05}-x7k2p");
        let claim = double
            .apply(json!({
                "apiVersion": API, "kind": "PostgreSQLInstance",
                "metadata": {"name": format!("db-{i:05}"), "namespace": format!("team-{}", i % 50),
                    "labels": {"slipway.dev/team": format!("team-{}", i % 50), "slipway.dev/environment": "dev"},
                    "annotations": {"slipway.dev/request-id": format!("req-{i:05}"),
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"database.example.org/v1alpha1\",\"kind\":\"PostgreSQLInstance\",\"spec\":{\"parameters\":{\"storageGB\":20,\"version\":\"16\"}}}"},
                    "managedFields": [{"manager": "argocd-controller", "operation": "Apply", "apiVersion": API, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:parameters": {"f:storageGB": {}, "f:version": {}}}}}]},
                "spec": {"parameters": {"storageGB": 20, "version": "16"},
                    "resourceRef": {"apiVersion": API, "kind": "XPostgreSQLInstance", "name": xr}},
                "status": {"conditions": conditions(true)},
            }))
            .expect("claim");
        stored.push(claim);
        let refs: Vec<Value> = (0..MRS_PER_CLAIM)
            .map(|k| json!({"apiVersion": MR_API, "kind": "Instance", "name": format!("{xr}-{k}")}))
            .collect();
        let composite = double
            .apply(json!({
                "apiVersion": API, "kind": "XPostgreSQLInstance",
                "metadata": {"name": xr, "labels": {"crossplane.io/composite": xr}},
                "spec": {"resourceRefs": refs, "compositionRef": {"name": "aws-postgres"}},
                "status": {"conditions": conditions(true)},
            }))
            .expect("composite");
        stored.push(composite);
        for k in 0..MRS_PER_CLAIM {
            let managed = double
                .apply(json!({
                    "apiVersion": MR_API, "kind": "Instance",
                    "metadata": {"name": format!("{xr}-{k}"), "labels": {"crossplane.io/composite": xr}},
                    "spec": {"forProvider": {"region": "eu-north-1", "instanceClass": "db.t4g.medium", "engine": "postgres", "allocatedStorage": 20},
                        "providerConfigRef": {"name": "default"}},
                    "status": {"atProvider": {"id": format!("{xr}-{k}"), "status": "available"}, "conditions": conditions(true)},
                }))
                .expect("managed resource");
            stored.push(managed);
        }
    }
    stored
}

/// Registers the claim's, the composite's and the managed resource's kinds.
pub fn register(double: &KubeDouble) {
    double.register(Kind::new(
        "database.example.org",
        "v1alpha1",
        "PostgreSQLInstance",
        true,
    ));
    double.register(Kind::new(
        "database.example.org",
        "v1alpha1",
        "XPostgreSQLInstance",
        false,
    ));
    double.register(Kind::new(
        "rds.aws.upbound.io",
        "v1beta1",
        "Instance",
        false,
    ));
}
