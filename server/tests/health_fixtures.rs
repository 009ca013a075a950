//! The health mappers over every real-world object in tests/fixtures/status. Each file's
//! expected state and root-cause reason is written here, with the reason for the
//! non-obvious ones; a fixture without an entry fails the test.

use std::collections::BTreeSet;
use std::path::PathBuf;

use app::domain::HealthState::{self, Deleting, Failed, Progressing, Ready, Unknown};
use slipway::kube::health::classify;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/status")
}

/// (file, expected state, expected reason, why — for the non-obvious ones).
const EXPECTED: &[(&str, HealthState, Option<&str>, &str)] = &[
    (
        "argocd-app-degraded-being-deleted.yaml",
        Deleting,
        None,
        "deletion wins over Degraded",
    ),
    (
        "argocd-app-health-unknown-unreachable-cluster.yaml",
        Unknown,
        Some("Unknown"),
        "Argo CD itself cannot tell",
    ),
    (
        "argocd-app-healthy-synced-automated-kustomize.yaml",
        Ready,
        Some("Healthy"),
        "",
    ),
    (
        "argocd-app-healthy-synced-succeeded-plugin.yaml",
        Ready,
        Some("Healthy"),
        "",
    ),
    (
        "argocd-app-multisource-succeeded-revisions.yaml",
        Unknown,
        None,
        "a succeeded operation without health is no proof of Ready",
    ),
    (
        "argocd-app-outofsync-degraded-warning-conditions.yaml",
        Failed,
        Some("Degraded"),
        "warnings are not errors; Degraded is",
    ),
    (
        "argocd-app-outofsync-no-health.yaml",
        Progressing,
        Some("OutOfSync"),
        "the desired state is not applied yet",
    ),
    (
        "argocd-app-outofsync-progressing-operation-running.yaml",
        Progressing,
        Some("Running"),
        "",
    ),
    (
        "argocd-app-synced-no-health-minimal.yaml",
        Unknown,
        Some("Synced"),
        "Synced without health is not Ready",
    ),
    (
        "crossplane-mr-cloudfront-ready-but-reconcileerror.yaml",
        Failed,
        Some("ReconcileError"),
        "Synced=False is a failure even with Ready=True",
    ),
    (
        "crossplane-mr-ec2-vpc-drift.yaml",
        Ready,
        Some("Available"),
        "conditions say Ready; drift is detected elsewhere, not by the mapper",
    ),
    (
        "crossplane-mr-ec2-vpc-observeonly-synced-only.yaml",
        Unknown,
        None,
        "Synced alone says nothing about readiness",
    ),
    (
        "crossplane-mr-gcp-databaseinstance-observe-only-imported.yaml",
        Ready,
        Some("Available"),
        "",
    ),
    (
        "crossplane-mr-iam-role-providerconfig-not-found.yaml",
        Failed,
        Some("ReconcileError"),
        "Ready=True is stale while Synced=False",
    ),
    (
        "crossplane-mr-openstack-project-nonstandard-reason.yaml",
        Ready,
        Some("foo"),
        "any reason counts when Ready=True",
    ),
    (
        "crossplane-mr-rds-dbcluster-create-failed.yaml",
        Failed,
        Some("ReconcileError"),
        "create failed outranks Creating",
    ),
    (
        "crossplane-mr-rds-dbcluster-paused-while-creating.yaml",
        Failed,
        Some("ReconcilePaused"),
        "paused: it will not become Ready until resumed",
    ),
    (
        "crossplane-mr-rds-dbinstance-creating.yaml",
        Progressing,
        Some("Creating"),
        "",
    ),
    (
        "crossplane-mr-rds-dbinstance-update-failed.yaml",
        Failed,
        Some("ReconcileError"),
        "",
    ),
    (
        "crossplane-mr-route53-create-failed.yaml",
        Failed,
        Some("ReconcileError"),
        "",
    ),
    (
        "crossplane-mr-route53-creating.yaml",
        Progressing,
        Some("Creating"),
        "",
    ),
    (
        "crossplane-mr-route53-no-status.yaml",
        Unknown,
        None,
        "no conditions: never Ready",
    ),
    (
        "crossplane-mr-route53-reconcilepaused-synced-only.yaml",
        Failed,
        Some("ReconcilePaused"),
        "Synced=False, paused",
    ),
    (
        "crossplane-mr-s3-bucket-deleting-delete-failed.yaml",
        Failed,
        Some("ReconcileError"),
        "a deletion that fails is stuck: the failure is the news",
    ),
    (
        "crossplane-mr-s3-bucket-observe-lateinit-ready.yaml",
        Ready,
        Some("Available"),
        "",
    ),
    (
        "crossplane-mr-upbound-resourcegroup-update-failed-async.yaml",
        Failed,
        Some("AsyncUpdateFailure"),
        "the failed async operation is the deepest cause",
    ),
    (
        "crossplane-xr-nonstandard-reason-ready.yaml",
        Ready,
        Some("xr foo"),
        "",
    ),
    (
        "crossplane-xr-v2-cluster-scoped-creating-responsive.yaml",
        Progressing,
        Some("Creating"),
        "message names the unready resources",
    ),
    (
        "crossplane-xr-v2-namespaced-creating-responsive.yaml",
        Progressing,
        Some("Creating"),
        "",
    ),
    (
        "crossplane-xr-v2-nested-downstream-creating.yaml",
        Progressing,
        Some("Creating"),
        "",
    ),
    (
        "flux-helmrelease-install-succeeded.yaml",
        Ready,
        Some("InstallSucceeded"),
        "",
    ),
    (
        "flux-helmrelease-legacy-status-fields.yaml",
        Ready,
        Some("ReconciliationSucceeded"),
        "",
    ),
    (
        "flux-helmrelease-progressing-ready-unknown.yaml",
        Progressing,
        Some("Progressing"),
        "Ready=Unknown while an upgrade runs",
    ),
    (
        "flux-helmrelease-rollback-retrying-kyverno-denied.yaml",
        Failed,
        Some("UpgradeFailed"),
        "the rollback succeeded, the upgrade (root cause) failed",
    ),
    (
        "flux-helmrelease-suspended-oci.yaml",
        Ready,
        Some("Suspended"),
        "last state kept, marked suspended",
    ),
    (
        "flux-helmrelease-test-failed-stalled-retries-exceeded.yaml",
        Failed,
        Some("TestFailed"),
        "the failed test, not the retry count, is the cause",
    ),
    (
        "flux-helmrelease-upgrade-failed-flapping-history.yaml",
        Failed,
        Some("UpgradeFailed"),
        "",
    ),
    (
        "flux-helmrelease-upgrade-failed-rolled-back.yaml",
        Failed,
        Some("UpgradeFailed"),
        "rolled back still means the change failed",
    ),
    (
        "flux-helmrelease-upgrade-succeeded-drift-detection.yaml",
        Ready,
        Some("UpgradeSucceeded"),
        "",
    ),
    (
        "flux-kustomization-artifactfailed-remote-cluster.yaml",
        Failed,
        Some("ArtifactFailed"),
        "retrying, but failing now",
    ),
    (
        "flux-kustomization-artifactfailed-retrying-legacy-revision.yaml",
        Failed,
        Some("ArtifactFailed"),
        "",
    ),
    (
        "flux-kustomization-artifactfailed-source-missing.yaml",
        Failed,
        Some("ArtifactFailed"),
        "",
    ),
    (
        "flux-kustomization-buildfailed-stalled.yaml",
        Failed,
        Some("BuildFailed"),
        "",
    ),
    (
        "flux-kustomization-progressing-ready-unknown-odd-released.yaml",
        Progressing,
        Some("Progressing"),
        "",
    ),
    (
        "flux-kustomization-ready-impersonated-force.yaml",
        Ready,
        Some("ReconciliationSucceeded"),
        "",
    ),
    (
        "flux-kustomization-ready-succeeded.yaml",
        Ready,
        Some("ReconciliationSucceeded"),
        "",
    ),
    (
        "flux-kustomization-reconcile-requested.yaml",
        Ready,
        Some("ReconciliationSucceeded"),
        "a requested reconcile does not undo Ready",
    ),
];

fn load(file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures_dir().join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_status_fixture_has_an_expectation() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_dir())
        .expect("../shared/fixtures/status beside the repository")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    let expected: BTreeSet<String> = EXPECTED.iter().map(|(f, ..)| (*f).to_owned()).collect();
    assert_eq!(on_disk, expected, "fixtures and expectations differ");
}

#[test]
fn each_fixture_maps_to_its_expected_health_and_reason() {
    let mut wrong = Vec::new();
    for (file, state, reason, why) in EXPECTED {
        let health = classify(&load(file));
        if health.state != *state || health.reason.as_deref() != *reason {
            wrong.push(format!(
                "{file}: expected {state:?}/{reason:?} ({why}), got {health:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn failures_carry_the_root_cause_message() {
    let health = classify(&load(
        "crossplane-mr-upbound-resourcegroup-update-failed-async.yaml",
    ));
    assert!(
        health
            .message
            .unwrap()
            .starts_with("async update failed: refuse to update the external resource")
    );
    let health = classify(&load(
        "crossplane-xr-v2-namespaced-creating-responsive.yaml",
    ));
    assert_eq!(
        health.message.as_deref(),
        Some("Unready resources: blocked-workload, config")
    );
    let health = classify(&load(
        "flux-helmrelease-test-failed-stalled-retries-exceeded.yaml",
    ));
    assert!(
        health
            .message
            .unwrap()
            .starts_with("Helm test failed for release podinfo/podinfo.v1")
    );
}
