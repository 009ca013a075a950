//! Live status end to end, through kube-rs's real client against the Kubernetes API test
//! double: a request committed by the real Git writer, its claim created in the double as
//! Argo CD would, statuses patched through the status subresource with real-world object
//! shapes (tests/fixtures/status) → the watchers → the ledger (once) → the SSE stream.

mod common;

use std::time::Duration;

use axum::http::{Request, StatusCode};
use common::TestApp;
use common::kube::{kubeconfig, register_kinds};
use common::repo::Repo;
use common::requests::{draft_in, event_kinds, request, submit};
use common::sse::{SseEvent, SseStream};
use kube_double::{Kind, KubeDouble};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const CLAIM_API: &str = "database.example.org/v1alpha1";
const XR_NAME: &str = "orders-db-x7k2p";
const MR_API: &str = "rds.aws.crossplane.io/v1alpha1";
const MR_NAME: &str = "orders-db-x7k2p-0";

/// A real-world object from tests/fixtures/status (its first document).
fn fixture(file: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/status/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap()
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-11-28T10:00:00Z"})
}

struct World {
    repo: Repo,
    double: KubeDouble,
    /// `prod`'s cluster, when the world has two.
    prod: Option<KubeDouble>,
    app: TestApp,
    /// What the portal was built from (a second replica is built from the same).
    settings: slipway::config::Settings,
    _background: slipway::http::serve::Background,
    _kubeconfig: tempfile::NamedTempFile,
    alice: String,
}

/// A portal whose `dev` environment reconciles in the double (`dev-cp`), which serves the
/// sample catalog's claim kind, its composite, an RDS managed resource and Argo CD
/// Applications, but no Flux.
async fn world() -> World {
    world_of(false).await
}

/// `dev` reconciles in `dev-cp`; with `two_clusters`, `prod` in `prod-cp`, a second double.
async fn world_of(two_clusters: bool) -> World {
    let repo = Repo::new();
    let double = KubeDouble::start().await.unwrap();
    register_kinds(&double);
    let prod = if two_clusters {
        let prod = KubeDouble::start().await.unwrap();
        register_kinds(&prod);
        Some(prod)
    } else {
        None
    };
    // One kubeconfig, a context per cluster, as a platform team would mount it.
    let mut contexts = vec![("dev", double.url())];
    if let Some(prod) = &prod {
        contexts.push(("prod", prod.url()));
    }
    let kubeconfig = kubeconfig(&contexts);
    let (clusters, environments) = if prod.is_some() {
        ("dev-cp=dev,prod-cp=prod", "dev@dev-cp,staging,prod@prod-cp")
    } else {
        ("dev-cp=dev", "dev@dev-cp,staging,prod")
    };
    let mut settings = repo.settings_with(&[
        "--clusters",
        clusters,
        "--environments",
        environments,
        "--kubeconfig",
        kubeconfig.path().to_str().unwrap(),
    ]);
    settings.control_plane.rediscover = Duration::from_millis(300);
    // Only the environments named with a cluster reconcile somewhere.
    for environment in &mut settings.environments {
        if !environments.contains(&format!("{}@", environment.name)) {
            environment.cluster = None;
        }
    }
    let app = repo.app_with(settings.clone()).await;
    let background = slipway::http::serve::start_background(&app.state)
        .await
        .unwrap();
    let alice = app.login_as("alice").await;
    World {
        repo,
        double,
        prod,
        app,
        settings,
        _background: background,
        _kubeconfig: kubeconfig,
        alice,
    }
}

impl World {
    /// Submits a request and waits for the writer to commit it; (id, commit, manifest).
    async fn committed_request(&self, name: &str) -> (String, String, Value) {
        let id = submit(&self.app, &self.alice, &draft_in("dev", "team-a", name, 20)).await;
        let detail = self
            .until(&id, "committed", |d| d["commit"].is_string())
            .await;
        let manifest: Value = serde_yaml::from_str(detail["content"].as_str().unwrap()).unwrap();
        (id, detail["commit"].as_str().unwrap().to_owned(), manifest)
    }

    /// Polls the request until `done` holds.
    async fn until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (status, detail) = request(&self.app, &self.alice, id).await;
            assert_eq!(status, StatusCode::OK);
            if done(&detail) {
                return detail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {WAIT:?}; ledger {:?}",
                event_kinds(&detail)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ledger_until(&self, id: &str, kinds: &[&str]) -> Vec<String> {
        let detail = self
            .until(id, &format!("ledger {kinds:?}"), |d| {
                event_kinds(d) == kinds
            })
            .await;
        event_kinds(&detail)
    }

    /// Waits until the ledger's last event is `last`; the whole ledger.
    async fn ledger_ending(&self, id: &str, last: &str) -> Vec<String> {
        let detail = self
            .until(id, &format!("ledger ending with {last}"), |d| {
                event_kinds(d).last().map(String::as_str) == Some(last)
            })
            .await;
        event_kinds(&detail)
    }

    /// Sets the managed resource's conditions.
    fn patch_mr(&self, conditions: Vec<Value>) {
        self.double
            .patch_status(
                MR_API,
                "DBInstance",
                "",
                MR_NAME,
                json!({"conditions": conditions}),
            )
            .unwrap();
    }

    /// Creates the claim as the GitOps applier would (the committed manifest), with its
    /// composite and managed resource as Crossplane would.
    fn apply_claim(&self, manifest: &Value) -> (String, String) {
        let mut claim = manifest.clone();
        claim["spec"]["resourceRef"] =
            json!({"apiVersion": CLAIM_API, "kind": "XPostgreSQLInstance", "name": XR_NAME});
        let created = self.double.apply(claim).unwrap();
        let namespace = created["metadata"]["namespace"]
            .as_str()
            .unwrap()
            .to_owned();
        let name = created["metadata"]["name"].as_str().unwrap().to_owned();
        self.double
            .apply(json!({
                "apiVersion": CLAIM_API, "kind": "XPostgreSQLInstance",
                "metadata": {"name": XR_NAME, "labels": {"crossplane.io/composite": XR_NAME,
                    "crossplane.io/claim-name": name, "crossplane.io/claim-namespace": namespace}},
                "spec": {"resourceRefs": [{"apiVersion": MR_API, "kind": "DBInstance", "name": MR_NAME}]},
            }))
            .unwrap();
        // The managed resource is the fixture's RDS instance, renamed and labelled as composed.
        let mut mr = fixture("crossplane-mr-rds-dbinstance-creating.yaml");
        mr["metadata"] = json!({"name": MR_NAME, "labels": {"crossplane.io/composite": XR_NAME}});
        self.double.apply(mr).unwrap();
        (namespace, name)
    }

    fn patch_claim(&self, namespace: &str, name: &str, conditions: Vec<Value>) {
        self.double
            .patch_status(
                CLAIM_API,
                "PostgreSQLInstance",
                namespace,
                name,
                json!({"conditions": conditions}),
            )
            .unwrap();
    }

    fn patch_xr(&self, conditions: Vec<Value>) {
        self.double
            .patch_status(
                CLAIM_API,
                "XPostgreSQLInstance",
                "",
                XR_NAME,
                json!({"conditions": conditions}),
            )
            .unwrap();
    }

    /// Gives the managed resource the status of a fixture.
    fn mr_status_from(&self, file: &str) {
        let status = fixture(file)["status"].clone();
        self.double
            .patch_status(MR_API, "DBInstance", "", MR_NAME, status)
            .unwrap();
    }

    async fn request_status(&self, id: &str) -> Value {
        let res = self
            .app
            .server_fn("status/request", Some(&self.alice), &format!("id={id}"))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        serde_json::from_str(&res.body).unwrap()
    }
}

fn is_claim(id: &str, state: &str) -> impl Fn(&SseEvent) -> bool {
    let id = id.to_owned();
    let state = state.to_owned();
    move |e| {
        e.event == "claim"
            && e.data["request_id"] == id.as_str()
            && e.data["live"]["health"]["state"] == state.as_str()
    }
}

#[tokio::test]
async fn a_claim_is_followed_to_ready_with_its_root_cause_through_the_ledger_and_the_stream() {
    let w = world().await;
    let (id, _commit, manifest) = w.committed_request("orders-db").await;
    let mut stream = SseStream::open(&w.app, &w.alice, None).await;

    let (namespace, name) = w.apply_claim(&manifest);
    // A new claim without conditions is Unknown: reconciling, never Ready.
    stream.until(WAIT, is_claim(&id, "unknown")).await;
    w.ledger_until(&id, &["submitted", "committed", "synced", "reconciling"])
        .await;

    // The managed resource fails to update: the claim only says "not ready", the RDS
    // instance says why, and that is the root cause shown and recorded.
    w.patch_claim(
        &namespace,
        &name,
        vec![
            condition("Synced", "True", "ReconcileSuccess", ""),
            condition(
                "Ready",
                "False",
                "Creating",
                "Composite resource is not yet Ready",
            ),
        ],
    );
    w.patch_xr(vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition("Ready", "False", "Creating", "Unready resources: instance"),
    ]);
    w.mr_status_from("crossplane-mr-rds-dbinstance-update-failed.yaml");
    let events = stream.until(WAIT, is_claim(&id, "failed")).await;
    let failed = events.last().unwrap();
    assert_eq!(
        failed.data["live"]["cause_in"],
        format!("DBInstance/{MR_NAME}")
    );
    assert_eq!(failed.data["live"]["health"]["reason"], "ReconcileError");
    let kinds = w
        .ledger_until(
            &id,
            &["submitted", "committed", "synced", "reconciling", "failed"],
        )
        .await;
    assert_eq!(kinds.len(), 5);
    let detail = request(&w.app, &w.alice, &id).await.1;
    assert_eq!(detail["summary"]["stage"], "failing");
    let message = detail["events"][4]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "DBInstance/{MR_NAME}: ReconcileError: update failed"
        )),
        "{message}"
    );

    // The tree the request page shows: claim → composite → managed resource, conditions kept.
    let status = w.request_status(&id).await;
    let tree = &status["tree"];
    assert_eq!(tree["kind"], "PostgreSQLInstance");
    assert_eq!(tree["children"][0]["kind"], "XPostgreSQLInstance");
    assert_eq!(tree["children"][0]["children"][0]["name"], MR_NAME);
    assert_eq!(
        tree["children"][0]["children"][0]["health"]["state"],
        "failed"
    );

    // Fixed: claim and composite report Ready first (still failed: the instance is not
    // synced), then the instance syncs and the whole tree is Ready.
    w.patch_claim(
        &namespace,
        &name,
        vec![
            condition("Synced", "True", "ReconcileSuccess", ""),
            condition("Ready", "True", "Available", ""),
        ],
    );
    w.patch_xr(vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition("Ready", "True", "Available", ""),
    ]);
    w.patch_mr(vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition("Ready", "True", "Available", ""),
    ]);
    stream.until(WAIT, is_claim(&id, "ready")).await;
    w.ledger_until(
        &id,
        &[
            "submitted",
            "committed",
            "synced",
            "reconciling",
            "failed",
            "ready",
        ],
    )
    .await;
    assert_eq!(
        request(&w.app, &w.alice, &id).await.1["summary"]["stage"],
        "ready"
    );
}

#[tokio::test]
async fn synced_means_the_applier_applied_a_revision_containing_the_commit() {
    let w = world().await;
    let (id, commit, _) = w.committed_request("orders-db").await;
    // An Argo CD Application over the environment's folder that applied an older revision
    // (the repository's first commit) has not synced the request.
    let first = w.repo.history().last().unwrap().sha.clone();
    let mut app = fixture("argocd-app-healthy-synced-automated-kustomize.yaml");
    app["metadata"] = json!({"name": "dev-claims", "namespace": "argocd"});
    app["spec"]["source"]["path"] = json!("dev");
    app["status"]["sync"]["revision"] = json!(first);
    w.double.apply(app).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, detail) = request(&w.app, &w.alice, &id).await;
    assert_eq!(
        event_kinds(&detail),
        ["submitted", "committed"],
        "an older revision is not a sync"
    );

    // Another commit lands on top of the request's; the applier applies that one: it
    // contains the request's commit, so the request is synced, by this applier.
    w.repo.push("dev/README.md", "later change\n");
    let head = w.repo.history()[0].sha.clone();
    assert_ne!(head, commit);
    w.double
        .patch_status(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "dev-claims",
            json!({"sync": {"status": "Synced", "revision": head}}),
        )
        .unwrap();
    let kinds = w
        .ledger_until(&id, &["submitted", "committed", "synced"])
        .await;
    assert_eq!(kinds.len(), 3);
    let detail = request(&w.app, &w.alice, &id).await.1;
    let message = detail["events"][2]["message"].as_str().unwrap();
    assert!(
        message.contains("Application argocd/dev-claims"),
        "{message}"
    );
}

#[tokio::test]
async fn watch_loss_and_410_resume_the_status_without_duplicating_the_ledger() {
    let w = world().await;
    let (id, _, manifest) = w.committed_request("orders-db").await;
    let (namespace, name) = w.apply_claim(&manifest);
    w.patch_mr(vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition("Ready", "True", "Available", ""),
    ]);
    w.patch_xr(vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition("Ready", "True", "Available", ""),
    ]);
    w.patch_claim(
        &namespace,
        &name,
        vec![
            condition("Synced", "True", "ReconcileSuccess", ""),
            condition("Ready", "True", "Available", ""),
        ],
    );
    let before = w.ledger_ending(&id, "ready").await;
    let mut stream = SseStream::open(&w.app, &w.alice, None).await;

    // Connections cut, then every watch told its resourceVersion is too old (410 Gone):
    // the watchers re-list and see the same objects again.
    let watches_before = w.double.open_watches();
    assert!(watches_before > 0);
    w.double.drop_watches();
    w.double.compact();
    w.double.expire_watches();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(w.double.open_watches() > 0, "the watchers came back");

    // A change after the loss arrives: the watch resumed.
    w.patch_claim(
        &namespace,
        &name,
        vec![
            condition(
                "Synced",
                "False",
                "ReconcileError",
                "cannot compose resources: quota exceeded",
            ),
            condition("Ready", "True", "Available", ""),
        ],
    );
    let seen = stream.until(WAIT, is_claim(&id, "failed")).await;
    // Lost connections and expired watches are the protocol at work, not an outage.
    assert!(
        !seen
            .iter()
            .any(|e| e.event == "cluster" && e.data["reachable"] == false),
        "{seen:#?}"
    );
    // The re-list re-observed an unchanged Ready claim: nothing was pushed for it.
    assert!(
        !seen
            .iter()
            .any(|e| e.event == "claim" && e.data["live"]["health"]["state"] == "ready"),
        "{seen:#?}"
    );
    let after = w.ledger_ending(&id, "failed").await;
    assert_eq!(
        after[..after.len() - 1],
        before[..],
        "only the new failure was added"
    );
    // And nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(event_kinds(&request(&w.app, &w.alice, &id).await.1), after);
}

#[tokio::test]
async fn an_unreachable_cluster_makes_statuses_stale_with_a_banner_message_and_writes_nothing() {
    let w = world().await;
    let (id, _, manifest) = w.committed_request("orders-db").await;
    let (namespace, name) = w.apply_claim(&manifest);
    w.patch_claim(
        &namespace,
        &name,
        vec![
            condition("Synced", "True", "ReconcileSuccess", ""),
            condition("Ready", "False", "Creating", ""),
        ],
    );
    w.ledger_until(&id, &["submitted", "committed", "synced", "reconciling"])
        .await;
    let mut stream = SseStream::open(&w.app, &w.alice, None).await;

    w.double.set_reachable(false);
    w.double.drop_watches();
    let events = stream
        .until(WAIT, |e| {
            e.event == "cluster" && e.data["reachable"] == false
        })
        .await;
    assert_eq!(events.last().unwrap().data["cluster"], "dev-cp");
    let status = w.request_status(&id).await;
    assert_eq!(status["live"]["health"]["state"], "stale");
    assert_eq!(status["live"]["last_known"], "progressing");
    let clusters = w.app.server_fn("status/clusters", Some(&w.alice), "").await;
    let clusters: Value = serde_json::from_str(&clusters.body).unwrap();
    assert_eq!(clusters[0]["reachable"], false);

    w.double.set_reachable(true);
    stream
        .until(WAIT, |e| {
            e.event == "cluster" && e.data["reachable"] == true
        })
        .await;
    assert_eq!(
        w.request_status(&id).await["live"]["health"]["state"],
        "progressing"
    );
    assert_eq!(
        event_kinds(&request(&w.app, &w.alice, &id).await.1),
        ["submitted", "committed", "synced", "reconciling"],
        "the outage wrote nothing"
    );
}

#[tokio::test]
async fn a_deleted_claim_is_recorded_once_and_kinds_not_installed_get_a_note() {
    let w = world().await;
    let (id, _, manifest) = w.committed_request("orders-db").await;
    let (namespace, name) = w.apply_claim(&manifest);
    w.ledger_until(&id, &["submitted", "committed", "synced", "reconciling"])
        .await;
    // A watch connection cut mid-stream is re-opened; the kinds are watching again, and
    // a deletion afterwards is still known for one (absence is only trusted while watching).
    w.double.drop_watches();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let res = w.app.server_fn("status/clusters", Some(&w.alice), "").await;
        let clusters: Value = serde_json::from_str(&res.body).unwrap();
        let kinds = clusters[0]["kinds"].as_array().unwrap().clone();
        let watching = |kind: &str| {
            kinds
                .iter()
                .any(|k| k["kind"] == kind && k["state"] == "watching")
        };
        if watching("PostgreSQLInstance") && watching("Application") && w.double.open_watches() >= 4
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kinds not watching again: {kinds:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.double
        .delete(CLAIM_API, "PostgreSQLInstance", &namespace, &name)
        .unwrap();
    w.ledger_until(
        &id,
        &["submitted", "committed", "synced", "reconciling", "deleted"],
    )
    .await;
    assert_eq!(
        request(&w.app, &w.alice, &id).await.1["summary"]["stage"],
        "deleted"
    );

    let res = w.app.server_fn("status/clusters", Some(&w.alice), "").await;
    let clusters: Value = serde_json::from_str(&res.body).unwrap();
    let kinds = clusters[0]["kinds"].as_array().unwrap();
    let state = |kind: &str| {
        kinds
            .iter()
            .find(|k| k["kind"] == kind)
            .map(|k| k["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(state("Kustomization").as_deref(), Some("not installed"));
    assert_eq!(state("HelmRelease").as_deref(), Some("not installed"));
    assert_eq!(state("Application").as_deref(), Some("watching"));
    assert_eq!(state("PostgreSQLInstance").as_deref(), Some("watching"));
}

#[tokio::test]
async fn the_stream_carries_only_the_members_teams_claims_and_replays_after_last_event_id() {
    let w = world().await;
    let bob = w.app.login_as("bob").await;
    let (id, _, manifest) = w.committed_request("orders-db").await;
    let mut bobs = SseStream::open(&w.app, &bob, None).await;
    let mut alices = SseStream::open(&w.app, &w.alice, None).await;
    let (namespace, name) = w.apply_claim(&manifest);
    let first = alices.until(WAIT, is_claim(&id, "unknown")).await;
    let last_id = first.last().unwrap().id.clone().unwrap();

    // Alice's browser is away while the claim changes, then reconnects with Last-Event-ID.
    drop(alices);
    w.patch_claim(
        &namespace,
        &name,
        vec![
            condition("Synced", "True", "ReconcileSuccess", ""),
            condition("Ready", "True", "Available", ""),
        ],
    );
    w.ledger_ending(&id, "ready").await;
    let mut again = SseStream::open(&w.app, &w.alice, Some(&last_id)).await;
    again.until(WAIT, is_claim(&id, "ready")).await;

    // Bob (team-b) saw nothing of team-a's claim.
    while let Some(event) = bobs.next(Duration::from_millis(300)).await {
        assert_ne!(event.data["request_id"], id.as_str(), "{event:?}");
    }
    // An id from elsewhere asks for a reset rather than pretending to replay.
    let mut stranger = SseStream::open(&w.app, &w.alice, Some("0000.1")).await;
    let event = stranger.next(WAIT).await.unwrap();
    assert_eq!(event.event, "reset");
}

#[tokio::test]
async fn each_environment_is_followed_in_its_own_cluster_and_one_outage_leaves_the_other_fresh() {
    let w = world_of(true).await;
    let prod = w.prod.as_ref().unwrap();
    let id = submit(
        &w.app,
        &w.alice,
        &draft_in("prod", "team-a", "orders-db", 20),
    )
    .await;
    let detail = w.until(&id, "committed", |d| d["commit"].is_string()).await;
    let manifest: Value = serde_yaml::from_str(detail["content"].as_str().unwrap()).unwrap();
    // The claim exists in prod's cluster only; dev's cluster has nothing.
    let created = prod.apply(manifest).unwrap();
    let namespace = created["metadata"]["namespace"]
        .as_str()
        .unwrap()
        .to_owned();
    w.ledger_until(&id, &["submitted", "committed", "synced", "reconciling"])
        .await;
    let status = w.request_status(&id).await;
    assert_eq!(status["cluster"], "prod-cp");
    assert_eq!(status["live"]["health"]["state"], "unknown");

    // dev's cluster goes away: prod's claim stays fresh and keeps being followed.
    let mut stream = SseStream::open(&w.app, &w.alice, None).await;
    w.double.set_reachable(false);
    w.double.drop_watches();
    let events = stream
        .until(WAIT, |e| {
            e.event == "cluster" && e.data["reachable"] == false
        })
        .await;
    assert_eq!(events.last().unwrap().data["cluster"], "dev-cp");
    prod.patch_status(CLAIM_API, "PostgreSQLInstance", &namespace, "orders-db",
        json!({"conditions": [condition("Synced", "True", "ReconcileSuccess", ""), condition("Ready", "True", "Available", "")]}))
        .unwrap();
    stream.until(WAIT, is_claim(&id, "ready")).await;
    w.ledger_ending(&id, "ready").await;
    let res = w.app.server_fn("status/clusters", Some(&w.alice), "").await;
    let clusters: Value = serde_json::from_str(&res.body).unwrap();
    let reachable: Vec<(String, bool)> = clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["reachable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reachable,
        [("dev-cp".to_owned(), false), ("prod-cp".to_owned(), true)]
    );
    // The same picture for Prometheus, with prod's claim changes counted as watch events.
    let exposition = w.app.state.telemetry.render(&w.app.state.status.clusters());
    assert!(
        exposition.contains(r#"slipway_cluster_reachable{cluster="dev-cp"} 0"#),
        "{exposition}"
    );
    assert!(
        exposition.contains(r#"slipway_cluster_reachable{cluster="prod-cp"} 1"#),
        "{exposition}"
    );
    let prod_events: u64 = exposition
        .lines()
        .find_map(|l| l.strip_prefix(r#"slipway_watch_events_total{cluster="prod-cp"} "#))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        prod_events >= 2,
        "the claim's creation and its Ready patch: {exposition}"
    );
}

/// An Argo CD Application over `dev` whose last sync operation, of `revision`, failed as a
/// sync refused by an admission webhook does.
fn failed_argo_sync(revision: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "dev-claims", "namespace": "argocd"},
        "spec": {"project": "default", "source": {"repoURL": "https://git.example/gitops.git", "path": "dev"},
                 "destination": {"server": "https://kubernetes.default.svc"}},
        "status": {
            "sync": {"status": "OutOfSync", "revision": revision},
            "health": {"status": "Degraded"},
            "conditions": [{"type": "SyncError", "message": "Failed sync attempt",
                            "lastTransitionTime": "2026-11-28T10:00:00Z"}],
            "operationState": {
                "phase": "Failed",
                "message": "one or more objects failed to apply, reason: admission webhook \"validate.crossplane.io\" denied the request",
                "operation": {"sync": {"revision": revision}},
                "syncResult": {"revision": revision}
            }
        }
    })
}

#[tokio::test]
async fn a_failed_argo_cd_sync_of_the_commit_is_apply_failed_with_its_words_until_a_sync_succeeds()
{
    let w = world().await;
    let (id, commit, _) = w.committed_request("orders-db").await;
    w.double.apply(failed_argo_sync(&commit)).unwrap();
    let kinds = w
        .ledger_until(&id, &["submitted", "committed", "apply_failed"])
        .await;
    assert_eq!(kinds.len(), 3, "never synced");
    let detail = request(&w.app, &w.alice, &id).await.1;
    assert_eq!(detail["summary"]["stage"], "apply_failed");
    let message = detail["events"][2]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Application/argocd/dev-claims: SyncFailed: ")
            && message.contains("admission webhook"),
        "{message}"
    );
    // Seen again (re-lists, other requests' sweeps): still one event.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        event_kinds(&request(&w.app, &w.alice, &id).await.1).len(),
        3
    );
    // The failure counts among the dashboard's failure reasons, keyed by kind and reason.
    let pat = w.app.login_as("pat").await;
    let dashboard = w
        .app
        .server_fn("metrics/dashboard", Some(&pat), "query[days]=7")
        .await;
    assert!(
        dashboard.body.contains("Application: SyncFailed"),
        "{}",
        dashboard.body
    );

    // The platform team fixes the webhook; the retried sync succeeds.
    w.double
        .patch_status(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "dev-claims",
            json!({"sync": {"status": "Synced", "revision": commit},
                   "health": {"status": "Healthy"},
                   "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)",
                                      "operation": {"sync": {"revision": commit}},
                                      "syncResult": {"revision": commit}}}),
        )
        .unwrap();
    w.ledger_until(&id, &["submitted", "committed", "apply_failed", "synced"])
        .await;
    let detail = request(&w.app, &w.alice, &id).await.1;
    assert_eq!(detail["summary"]["stage"], "synced");
}

#[tokio::test]
async fn a_flux_kustomization_that_fails_at_the_commit_is_apply_failed_and_synced_once_ready() {
    let w = world().await;
    w.double.register(Kind::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        true,
    ));
    let (id, commit, _) = w.committed_request("orders-db").await;
    let first = w.repo.history().last().unwrap().sha.clone();
    // A real-world Kustomization that failed to build, pointed at the environment's folder:
    // the last revision it applied is older; the one it attempted holds the request's commit.
    let mut kustomization = fixture("flux-kustomization-buildfailed-stalled.yaml");
    kustomization["metadata"] = json!({"name": "dev", "namespace": "flux-system"});
    kustomization["spec"]["path"] = json!("./dev");
    kustomization["status"]["lastAppliedRevision"] = json!(format!("main@sha1:{first}"));
    kustomization["status"]["lastAttemptedRevision"] = json!(format!("main@sha1:{commit}"));
    w.double.apply(kustomization).unwrap();
    w.ledger_until(&id, &["submitted", "committed", "apply_failed"])
        .await;
    let detail = request(&w.app, &w.alice, &id).await.1;
    let message = detail["events"][2]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Kustomization/flux-system/dev: BuildFailed: "),
        "{message}"
    );

    // Fixed: Ready, and the applied revision now holds the commit.
    w.double
        .patch_status(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "flux-system",
            "dev",
            json!({"lastAppliedRevision": format!("main@sha1:{commit}"),
                   "conditions": [condition("Ready", "True", "ReconciliationSucceeded",
                       &format!("Applied revision: main@sha1:{commit}"))]}),
        )
        .unwrap();
    w.ledger_until(&id, &["submitted", "committed", "apply_failed", "synced"])
        .await;
    let detail = request(&w.app, &w.alice, &id).await.1;
    assert!(
        detail["events"][3]["message"]
            .as_str()
            .unwrap()
            .contains("Kustomization flux-system/dev")
    );
}

#[tokio::test]
async fn two_teams_claims_of_the_same_name_are_two_claims_to_the_recorder() {
    let w = world().await;
    let bob = w.app.login_as("bob").await;
    let (alice_id, _, alice_manifest) = w.committed_request("orders-db").await;
    let bob_id = submit(&w.app, &bob, &draft_in("dev", "team-b", "orders-db", 30)).await;
    let bob_manifest: Value = serde_yaml::from_str(
        request(&w.app, &bob, &bob_id).await.1["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let ready = vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition("Ready", "True", "Available", ""),
    ];
    for manifest in [&alice_manifest, &bob_manifest] {
        let created = w.double.apply(manifest.clone()).unwrap();
        w.patch_claim(
            created["metadata"]["namespace"].as_str().unwrap(),
            "orders-db",
            ready.clone(),
        );
    }
    w.ledger_ending(&alice_id, "ready").await;
    let bob_sees = |id: String| {
        let w = &w;
        let bob = bob.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let (_, detail) = request(&w.app, &bob, &id).await;
                if event_kinds(&detail).last().map(String::as_str) == Some("ready") {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{:?}",
                    event_kinds(&detail)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    bob_sees(bob_id.clone()).await;

    // Bob deletes his; the applier removes team-b's claim. Team A's of the same name stays.
    let res = w
        .app
        .server_fn_json(
            "requests/change",
            Some(&bob),
            &json!({"of": bob_id, "action": "delete"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let deletion = serde_json::from_str::<Value>(&res.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, detail) = request(&w.app, &bob, &deletion).await;
        if detail["commit"].is_string() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "deletion committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.double
        .delete(CLAIM_API, "PostgreSQLInstance", "team-b", "orders-db")
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, detail) = request(&w.app, &bob, &deletion).await;
        if event_kinds(&detail).last().map(String::as_str) == Some("deleted") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "team B's claim is gone although team A's of the same name is there: {:?}",
            event_kinds(&detail)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Team A's request is untouched by the other team's deletion.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, detail) = request(&w.app, &w.alice, &alice_id).await;
    assert_eq!(
        event_kinds(&detail).last().map(String::as_str),
        Some("ready")
    );
    assert_eq!(detail["summary"]["stage"], "ready");
}

#[tokio::test]
async fn two_replicas_writing_and_recording_at_once_commit_and_record_everything_exactly_once() {
    let w = world().await;
    // A second replica over the same database, repository and cluster, with its own clone,
    // writers and recorder, all started: the leases decide who does what.
    let mut settings = w.settings.clone();
    settings.git.clone_dir = w.repo.dir.path().join("replica-b-clones");
    let options = slipway::http::leptos_options(
        std::path::Path::new("target/site"),
        "127.0.0.1:3000".parse().unwrap(),
    );
    let second = slipway::state::AppState::build(options, w.app.db().clone(), settings).unwrap();
    second.catalog.refresh_files().await.unwrap();
    let _second_background = slipway::http::serve::start_background(&second)
        .await
        .unwrap();
    let second_router = slipway::http::router(second.clone());
    assert_ne!(second.holder, w.app.state.holder);

    // Ten requests through each replica, as two load-balanced browsers would send them.
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = draft_in("dev", "team-a", &format!("db-{i:02}"), 20);
        let id = if i % 2 == 0 {
            submit(&w.app, &w.alice, &body).await
        } else {
            let response = tower::ServiceExt::oneshot(
                second_router.clone(),
                Request::post("/api/requests/submit")
                    .header("origin", common::ORIGIN)
                    .header("cookie", &w.alice)
                    .header("content-type", "application/json")
                    .header("accept", "application/json")
                    .body(axum::body::Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        ids.push(id);
    }
    // Both writers run; each claim appears and turns Ready, watched by both recorders.
    let mut manifests = Vec::new();
    for id in &ids {
        let detail = w.until(id, "committed", |d| d["commit"].is_string()).await;
        manifests.push(serde_yaml::from_str::<Value>(detail["content"].as_str().unwrap()).unwrap());
    }
    for manifest in &manifests {
        let created = w.double.apply(manifest.clone()).unwrap();
        w.patch_claim(
            created["metadata"]["namespace"].as_str().unwrap(),
            created["metadata"]["name"].as_str().unwrap(),
            vec![
                condition("Synced", "True", "ReconcileSuccess", ""),
                condition("Ready", "True", "Available", ""),
            ],
        );
    }
    for id in &ids {
        w.ledger_ending(id, "ready").await;
    }
    // Settle, then count: one commit per request, one event per stage.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let history = w.repo.history();
    for id in &ids {
        let commits = history
            .iter()
            .filter(|c| c.trailer("Slipway-Request-Id") == Some(id.as_str()))
            .count();
        assert_eq!(commits, 1, "request {id}");
        let (_, detail) = request(&w.app, &w.alice, id).await;
        let kinds = event_kinds(&detail);
        // `reconciling` appears when a recorder saw the claim before it turned Ready.
        let expected: &[&[&str]] = &[
            &["submitted", "committed", "synced", "ready"],
            &["submitted", "committed", "synced", "reconciling", "ready"],
        ];
        assert!(
            expected.contains(
                &kinds
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
            ),
            "request {id}: {kinds:?}"
        );
    }
}
