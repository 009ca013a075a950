//! Promotions end to end: a claim committed by the real Git writer in `dev`, its claim made
//! Ready in a Kubernetes API double (as Crossplane would report it) and followed by the real
//! watchers and recorder, then promoted to `staging` (its own cluster, a second double) and on
//! to `prod` (a third, held for an approval by policy). Gates are judged on what the source really
//! shows; what a promotion writes is an ordinary request with its source named.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::TestApp;
use common::kube::{kubeconfig, register_kinds};
use common::repo::Repo;
use common::requests::{event_kinds, request};
use kube_double::KubeDouble;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const CLAIM_API: &str = "database.example.org/v1alpha1";

/// Requests to prod need an approval from team B.
const POLICIES: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Policies
policies:
  - name: prod-review
    match: {environments: [prod]}
    approval: {required: 1, approvers: [team-b]}
"#;

struct World {
    repo: Repo,
    dev: KubeDouble,
    staging: KubeDouble,
    prod: KubeDouble,
    app: TestApp,
    _background: slipway::http::serve::Background,
    _kubeconfig: tempfile::NamedTempFile,
    alice: String,
}

/// `dev` reconciles in `dev-cp`, `staging` in `staging-cp`, `prod` in `prod-cp`. Staging's
/// gates are adjusted by `gates`.
async fn world_with(gates: impl Fn(&mut slipway::config::Gates)) -> World {
    let repo = Repo::new();
    repo.push("catalog/policies.yaml", POLICIES);
    let dev = KubeDouble::start().await.unwrap();
    let staging = KubeDouble::start().await.unwrap();
    let prod = KubeDouble::start().await.unwrap();
    for double in [&dev, &staging, &prod] {
        register_kinds(double);
    }
    let kubeconfig = kubeconfig(&[
        ("dev", dev.url()),
        ("staging", staging.url()),
        ("prod", prod.url()),
    ]);
    let mut settings = repo.settings_with(&[
        "--clusters",
        "dev-cp=dev,staging-cp=staging,prod-cp=prod",
        "--environments",
        "dev@dev-cp,staging@staging-cp,prod@prod-cp",
        "--kubeconfig",
        kubeconfig.path().to_str().unwrap(),
    ]);
    settings.control_plane.rediscover = Duration::from_millis(300);
    for environment in &mut settings.environments {
        if environment.name == "staging" {
            gates(&mut environment.gates);
        }
    }
    let app = repo.app_with(settings).await;
    let background = slipway::http::serve::start_background(&app.state)
        .await
        .unwrap();
    let alice = app.login_as("alice").await;
    World {
        repo,
        dev,
        staging,
        prod,
        app,
        _background: background,
        _kubeconfig: kubeconfig,
        alice,
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-12-07T10:00:00Z"})
}

fn ready() -> Vec<Value> {
    vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition("Ready", "True", "Available", ""),
    ]
}

fn creating() -> Vec<Value> {
    vec![
        condition("Synced", "True", "ReconcileSuccess", ""),
        condition(
            "Ready",
            "False",
            "Creating",
            "Waiting for the instance to be available",
        ),
    ]
}

/// The sample catalog's PostgreSQL form with these values.
fn form(environment: &str, name: &str, values: Value) -> Value {
    json!({"draft": {"offering": "postgresql", "environment": environment, "team": "team-a",
        "name": name, "values": values}})
}

impl World {
    async fn submit(&self, body: &Value) -> String {
        let res = self
            .app
            .server_fn_json("requests/submit", Some(&self.alice), body)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        serde_json::from_str::<Value>(&res.body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Polls request `id` until `done` holds.
    async fn until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (status, detail) = request(&self.app, &self.alice, id).await;
            assert_eq!(status, StatusCode::OK, "{detail}");
            if done(&detail) {
                return detail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {WAIT:?}; {detail}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn committed(&self, id: &str) -> Value {
        self.until(id, "committed", |d| d["commit"].is_string())
            .await
    }

    /// Applies the request's committed manifest as the GitOps applier would, with the claim's
    /// conditions set, and waits until the ledger has recorded `last`.
    async fn applied(&self, cluster: &KubeDouble, id: &str, conditions: Vec<Value>, last: &str) {
        let detail = self.committed(id).await;
        let manifest: Value = serde_yaml::from_str(detail["content"].as_str().unwrap()).unwrap();
        let created = cluster.apply(manifest).unwrap();
        cluster
            .patch_status(
                CLAIM_API,
                "PostgreSQLInstance",
                created["metadata"]["namespace"].as_str().unwrap(),
                created["metadata"]["name"].as_str().unwrap(),
                json!({"conditions": conditions}),
            )
            .unwrap();
        self.until(id, &format!("ledger ending with {last}"), |d| {
            event_kinds(d).last().map(String::as_str) == Some(last)
        })
        .await;
    }

    async fn call(
        &self,
        endpoint: &str,
        cookie: &str,
        of: &str,
        target: &str,
    ) -> (StatusCode, Value) {
        let res = self
            .app
            .server_fn(endpoint, Some(cookie), &format!("of={of}&target={target}"))
            .await;
        (
            res.status,
            serde_json::from_str(&res.body).unwrap_or(Value::String(res.body)),
        )
    }

    async fn plan(&self, of: &str, target: &str) -> Value {
        let (status, plan) = self.call("promotions/plan", &self.alice, of, target).await;
        assert_eq!(status, StatusCode::OK, "{plan}");
        plan
    }

    /// Promotes; the new request's id.
    async fn promote(&self, of: &str, target: &str) -> String {
        let (status, body) = self
            .call("promotions/promote", &self.alice, of, target)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Promotes with the token of the plan shown: (status, body).
    async fn promote_shown(&self, of: &str, target: &str, token: &str) -> (StatusCode, Value) {
        let res = self
            .app
            .server_fn(
                "promotions/promote",
                Some(&self.alice),
                &format!("of={of}&target={target}&token={token}"),
            )
            .await;
        (
            res.status,
            serde_json::from_str(&res.body).unwrap_or(Value::String(res.body)),
        )
    }

    /// Edits the claim of request `of` (the team's form, with these values); the new request.
    async fn edit(&self, of: &str, environment: &str, name: &str, values: Value) -> String {
        let res = self
            .app
            .server_fn_json(
                "requests/change",
                Some(&self.alice),
                &json!({"of": of, "action": "update",
                        "draft": form(environment, name, values)["draft"]}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        serde_json::from_str::<Value>(&res.body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A refused promotion's message.
    async fn refused(&self, of: &str, target: &str) -> String {
        let (status, body) = self
            .call("promotions/promote", &self.alice, of, target)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        body["Invalid"].as_str().unwrap_or_default().to_owned()
    }

    /// Refreshes the catalog until it offers `version` of `offering` (a refresh may join a
    /// fetch that began before the push that brought it).
    async fn catalog_offers(&self, offering: &str, version: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.app.state.catalog.refresh_files().await.unwrap();
            let res = self
                .app
                .get(&format!("/api/v1/catalog/{offering}"), Some(&self.alice))
                .await;
            let offered = serde_json::from_str::<Value>(&res.body).unwrap_or(Value::Null);
            if offered["summary"]["version"] == version {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{offering}@{version} never offered: {}",
                res.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn file(&self, environment: &str, name: &str) -> Option<Value> {
        self.repo
            .show(&format!(
                "{environment}/team-a/postgresqlinstance/{name}.yaml"
            ))
            .map(|text| serde_yaml::from_str(&text).unwrap())
    }
}

fn gate<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == name)
        .unwrap_or_else(|| panic!("no {name} gate in {plan}"))
}

#[tokio::test]
async fn a_claim_is_promoted_only_once_ready_with_its_values_and_the_targets_own_fields() {
    let w = world().await;
    let dev = w
        .submit(&form(
            "dev",
            "orders-db",
            json!({"storageGB": 30, "version": "16", "highAvailability": true}),
        ))
        .await;

    // Reconciling in dev: the Ready gate refuses, saying what the claim shows, and the
    // refusal is counted; nothing is written.
    w.applied(&w.dev, &dev, creating(), "reconciling").await;
    let plan = w.plan(&dev, "staging").await;
    assert_eq!(plan["allowed"], false, "{plan}");
    let ready_gate = gate(&plan, "ready");
    assert_eq!(ready_gate["passed"], false);
    assert!(
        ready_gate["detail"]
            .as_str()
            .unwrap()
            .contains("Waiting for the instance to be available"),
        "{ready_gate}"
    );
    let requests_before = w.app.count("requests").await;
    let message = w.refused(&dev, "staging").await;
    assert!(
        message.contains("ready gate") && message.contains("Progressing (Creating)"),
        "{message}"
    );
    assert_eq!(w.app.count("requests").await, requests_before);
    assert_eq!(w.app.count("promotion_refusals").await, 1);
    assert!(w.file("staging", "orders-db").is_none());

    // Ready (the soak time is 0 here): the plan creates the claim in staging with dev's
    // values, except highAvailability, which the offering marks environment-specific: a new
    // claim there takes its default.
    w.applied(&w.dev, &dev, ready(), "ready").await;
    let plan = w.plan(&dev, "staging").await;
    assert_eq!(plan["allowed"], true, "{plan}");
    assert_eq!(plan["action"], "create");
    assert_eq!(
        plan["kept"],
        json!([{"path": "highAvailability", "from": "default"}])
    );
    assert_eq!(plan["draft"]["values"]["storageGB"], 30);
    assert_eq!(plan["draft"]["values"]["highAvailability"], false);
    let diff: Vec<&str> = plan["preview"]["files"][0]["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(diff.contains(&"    storageGB: 30"), "{diff:?}");
    let staging = w.promote(&dev, "staging").await;
    let detail = w.committed(&staging).await;
    assert_eq!(detail["promoted_from"], dev.as_str());
    let file = w
        .file("staging", "orders-db")
        .expect("committed to staging");
    assert_eq!(file["spec"]["parameters"]["storageGB"], 30);
    assert_eq!(file["spec"]["parameters"]["highAvailability"], false);
    let commit = &w.repo.history()[0];
    assert_eq!(commit.trailer("Slipway-Promoted-From"), Some(dev.as_str()));
    assert_eq!(commit.trailer("Slipway-Request-Id"), Some(staging.as_str()));
    let (promoted_from,): (Option<String>,) =
        sqlx::query_as("SELECT promoted_from FROM requests WHERE id = $1")
            .bind(&staging)
            .fetch_one(w.app.db().pool())
            .await
            .unwrap();
    assert_eq!(promoted_from.as_deref(), Some(dev.as_str()));

    // Staging turns on its standby; dev grows. The next promotion updates staging with the
    // new size and keeps staging's own highAvailability.
    w.applied(&w.staging, &staging, ready(), "ready").await;
    let staging_edit = w
        .edit(
            &staging,
            "staging",
            "orders-db",
            json!({"storageGB": 30, "version": "16", "highAvailability": true}),
        )
        .await;
    w.committed(&staging_edit).await;
    let dev_edit = w
        .edit(
            &dev,
            "dev",
            "orders-db",
            json!({"storageGB": 40, "version": "16", "highAvailability": true}),
        )
        .await;
    w.applied(&w.dev, &dev_edit, ready(), "ready").await;
    // Promoting from the first request's page promotes the claim as it is now.
    let plan = w.plan(&dev, "staging").await;
    assert_eq!(plan["source"]["id"], dev_edit.as_str());
    assert_eq!(plan["action"], "update");
    assert_eq!(plan["target_request"], staging_edit.as_str());
    assert_eq!(
        plan["kept"],
        json!([{"path": "highAvailability", "from": "target"}])
    );
    let again = w.promote(&dev, "staging").await;
    w.committed(&again).await;
    let file = w.file("staging", "orders-db").unwrap();
    assert_eq!(file["spec"]["parameters"]["storageGB"], 40);
    assert_eq!(file["spec"]["parameters"]["highAvailability"], true);

    // The claim across environments: dev and staging with the request's chain.
    let res = w
        .app
        .server_fn("promotions/across", Some(&w.alice), &format!("of={again}"))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let across: Value = serde_json::from_str(&res.body).unwrap();
    let stages = across["stages"].as_array().unwrap();
    assert_eq!(
        stages
            .iter()
            .map(|s| (
                s["environment"].as_str().unwrap(),
                s["request"]["id"].as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("dev", Some(dev_edit.as_str())),
            ("staging", Some(again.as_str())),
            ("prod", None)
        ]
    );
    assert_eq!(stages[0]["live"]["health"]["state"], "ready");
    assert_eq!(stages[1]["promotes_to"], json!(["prod"]));
    let lineage: Vec<&str> = across["lineage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(lineage, [dev_edit.as_str(), again.as_str()]);

    // The dashboards count the promotions and the refusal by its gate.
    let res = w
        .app
        .server_fn("metrics/dashboard", Some(&w.alice), "query[days]=7")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let dashboard: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(
        dashboard["summary"]["promotions"], 2,
        "{}",
        dashboard["summary"]
    );
    assert_eq!(dashboard["summary"]["promotion_refusals"], 1);
    assert_eq!(
        dashboard["refusals"],
        json!([{"gate": "ready", "count": 1}])
    );
    assert_eq!(dashboard["promotions"][0]["offering"], "postgresql");
    assert_eq!(dashboard["titles"]["postgresql"], "PostgreSQL database");

    // And on Prometheus, counted by the process that took them.
    let exported = w.app.state.telemetry.render(&[]);
    assert!(
        exported.contains("slipway_promotions_total{target=\"staging\"} 2"),
        "{exported}"
    );
    assert!(
        exported.contains("slipway_promotion_refusals_total{gate=\"ready\"} 1"),
        "{exported}"
    );
}

#[tokio::test]
async fn a_source_that_failed_after_ready_blocks_promotion_with_its_root_cause() {
    let w = world().await;
    let dev = w
        .submit(&form(
            "dev",
            "billing-db",
            json!({"storageGB": 20, "version": "16"}),
        ))
        .await;
    w.applied(&w.dev, &dev, ready(), "ready").await;
    assert_eq!(w.plan(&dev, "staging").await["allowed"], true);
    w.dev
        .patch_status(
            CLAIM_API,
            "PostgreSQLInstance",
            "team-a",
            "billing-db",
            json!({"conditions": [
                condition("Synced", "False", "ReconcileError", "cannot update instance: storage quota exceeded"),
                condition("Ready", "True", "Available", ""),
            ]}),
        )
        .unwrap();
    w.until(&dev, "failed", |d| {
        event_kinds(d).last().map(String::as_str) == Some("failed")
    })
    .await;
    let message = w.refused(&dev, "staging").await;
    assert!(
        message.contains("ready gate") && message.contains("storage quota exceeded"),
        "{message}"
    );
    assert!(w.file("staging", "billing-db").is_none());
}

#[tokio::test]
async fn the_soak_and_version_gates_refuse_with_what_the_source_shows() {
    let w = world_with(|gates| gates.soak = Duration::from_secs(3600)).await;
    let dev = w
        .submit(&form(
            "dev",
            "cache-db",
            json!({"storageGB": 20, "version": "16"}),
        ))
        .await;
    w.applied(&w.dev, &dev, ready(), "ready").await;
    let plan = w.plan(&dev, "staging").await;
    assert_eq!(gate(&plan, "ready")["passed"], true, "{plan}");
    let soak = gate(&plan, "soak");
    assert_eq!(soak["passed"], false);
    assert!(
        soak["detail"]
            .as_str()
            .unwrap()
            .contains("staging asks for 1h"),
        "{soak}"
    );
    assert!(w.refused(&dev, "staging").await.contains("soak gate"));

    // The catalog moves on to 1.1.0: dev still runs 1.0.0.
    let offering = w.repo.show("catalog/postgresql.yaml").unwrap();
    w.repo.push(
        "catalog/postgresql.yaml",
        &offering.replace("version: 1.0.0", "version: 1.1.0"),
    );
    w.catalog_offers("postgresql", "1.1.0").await;
    let version = gate(&w.plan(&dev, "staging").await, "version").clone();
    assert_eq!(version["passed"], false);
    assert!(
        version["detail"]
            .as_str()
            .unwrap()
            .contains("runs postgresql@1.0.0, the catalog offers 1.1.0"),
        "{version}"
    );
}

#[tokio::test]
async fn prod_waits_for_its_approval_and_main_is_untouched_until_then() {
    let w = world().await;
    let dev = w
        .submit(&form(
            "dev",
            "orders-db",
            json!({"storageGB": 20, "version": "16"}),
        ))
        .await;
    w.applied(&w.dev, &dev, ready(), "ready").await;
    let staging = w.promote(&dev, "staging").await;
    w.applied(&w.staging, &staging, ready(), "ready").await;
    // Not from dev: prod follows staging.
    let (status, body) = w.call("promotions/plan", &w.alice, &dev, "prod").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("prod is not promoted from dev"),
        "{body}"
    );

    let prod = w.promote(&staging, "prod").await;
    let detail = w
        .until(&prod, "held", |d| {
            d["summary"]["stage"] == "awaiting_approval"
        })
        .await;
    assert_eq!(detail["promoted_from"], staging.as_str());
    let main = w.repo.history()[0].sha.clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.file("prod", "orders-db").is_none());
    assert_eq!(
        w.repo.history()[0].sha,
        main,
        "main moved before the approval"
    );

    let bob = w.app.login_as("bob").await;
    let res = w
        .app
        .server_fn(
            "approvals/decide",
            Some(&bob),
            &format!("id={prod}&approve=true&comment=ok"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    w.committed(&prod).await;
    assert!(w.file("prod", "orders-db").is_some());
    assert_eq!(
        w.repo.history()[0].trailer("Slipway-Promoted-From"),
        Some(staging.as_str())
    );

    // Ready in prod, the end of the path: the promotion lead time runs from the chain's first
    // Ready (dev's) to prod's, walked back through staging.
    w.applied(&w.prod, &prod, ready(), "ready").await;
    let ready_at = |detail: &Value| -> i64 {
        let at = detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "ready")
            .unwrap()["at"]
            .as_str()
            .unwrap()
            .to_owned();
        let parsed =
            time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                .unwrap();
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap()
    };
    let lead = ready_at(&request(&w.app, &w.alice, &prod).await.1)
        - ready_at(&request(&w.app, &w.alice, &dev).await.1);
    let res = w
        .app
        .server_fn("metrics/dashboard", Some(&w.alice), "query[days]=7")
        .await;
    let dashboard: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(
        dashboard["summary"]["promotions"], 2,
        "{}",
        dashboard["summary"]
    );
    assert_eq!(dashboard["summary"]["promotion_lead_p50_ms"], lead);
    assert_eq!(dashboard["promotions"][0]["ready"], 2);

    // Staging grows; its promotion to prod is rejected. The claim in prod is still the one
    // approved before: the next plan updates it, it does not create it again.
    let grown = w
        .edit(
            &staging,
            "staging",
            "orders-db",
            json!({"storageGB": 30, "version": "16"}),
        )
        .await;
    w.applied(&w.staging, &grown, ready(), "ready").await;
    let second = w.promote(&staging, "prod").await;
    w.until(&second, "held", |d| {
        d["summary"]["stage"] == "awaiting_approval"
    })
    .await;
    let res = w
        .app
        .server_fn(
            "approvals/decide",
            Some(&bob),
            &format!("id={second}&approve=false&comment=not+now"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let plan = w.plan(&staging, "prod").await;
    assert_eq!(plan["action"], "update", "{plan}");
    assert_eq!(plan["target_request"], prod.as_str());
}

#[tokio::test]
async fn another_team_cannot_plan_promote_or_see_a_claim_across_environments() {
    let w = world().await;
    let dev = w
        .submit(&form(
            "dev",
            "orders-db",
            json!({"storageGB": 20, "version": "16"}),
        ))
        .await;
    w.applied(&w.dev, &dev, ready(), "ready").await;
    let bob = w.app.login_as("bob").await;
    let requests = w.app.count("requests").await;
    for endpoint in ["promotions/plan", "promotions/promote"] {
        let (status, body) = w.call(endpoint, &bob, &dev, "staging").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{endpoint}: {body}");
    }
    let res = w
        .app
        .server_fn("promotions/across", Some(&bob), &format!("of={dev}"))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    assert_eq!(w.app.count("requests").await, requests);
    assert_eq!(w.app.count("promotion_refusals").await, 0);
    assert!(w.file("staging", "orders-db").is_none());
    // Alice, whose team it is, may.
    assert_eq!(w.plan(&dev, "staging").await["allowed"], true);
}

#[tokio::test]
async fn a_promotion_confirmed_on_a_plan_that_is_no_longer_true_is_refused() {
    let w = world().await;
    let dev = w
        .submit(&form(
            "dev",
            "ledger-db",
            json!({"storageGB": 20, "version": "16"}),
        ))
        .await;
    w.applied(&w.dev, &dev, ready(), "ready").await;
    let shown = w.plan(&dev, "staging").await;
    assert_eq!(shown["allowed"], true, "{shown}");

    // Dev moves on while the plan is open: a newer request, Ready, with other values.
    let newer = w
        .edit(
            &dev,
            "dev",
            "ledger-db",
            json!({"storageGB": 60, "version": "16"}),
        )
        .await;
    w.applied(&w.dev, &newer, ready(), "ready").await;
    let (status, body) = w
        .promote_shown(&dev, "staging", shown["token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.to_string()
            .contains("changed since this plan was shown"),
        "{body}"
    );
    assert!(w.file("staging", "ledger-db").is_none());

    // Confirmed on the plan as it is now, it goes through with the newer values.
    let now = w.plan(&dev, "staging").await;
    assert_ne!(now["token"], shown["token"]);
    let (status, body) = w
        .promote_shown(&dev, "staging", now["token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.committed(body["id"].as_str().unwrap()).await;
    assert_eq!(
        w.file("staging", "ledger-db").unwrap()["spec"]["parameters"]["storageGB"],
        60
    );
}

#[tokio::test]
async fn the_soak_gate_passes_after_the_soak_time_and_an_incident_starts_it_again() {
    let soak = Duration::from_secs(3);
    let w = world_with(|gates| gates.soak = soak).await;
    let dev = w
        .submit(&form(
            "dev",
            "queue-db",
            json!({"storageGB": 20, "version": "16"}),
        ))
        .await;
    w.applied(&w.dev, &dev, ready(), "ready").await;
    assert_eq!(
        gate(&w.plan(&dev, "staging").await, "soak")["passed"],
        false
    );
    tokio::time::sleep(soak).await;
    let plan = w.plan(&dev, "staging").await;
    assert_eq!(gate(&plan, "soak")["passed"], true, "{plan}");

    // An incident, then Ready again: the soak time counts from the new Ready.
    let patch = |conditions: Vec<Value>| {
        w.dev
            .patch_status(
                CLAIM_API,
                "PostgreSQLInstance",
                "team-a",
                "queue-db",
                json!({"conditions": conditions}),
            )
            .unwrap();
    };
    patch(creating());
    w.until(&dev, "reconciling", |d| {
        event_kinds(d).last().map(String::as_str) == Some("reconciling")
    })
    .await;
    patch(ready());
    w.until(&dev, "ready again", |d| {
        event_kinds(d).last().map(String::as_str) == Some("ready")
    })
    .await;
    let plan = w.plan(&dev, "staging").await;
    assert_eq!(gate(&plan, "ready")["passed"], true, "{plan}");
    assert_eq!(gate(&plan, "soak")["passed"], false, "{plan}");
}

/// An offering with a secret field (given as a reference to a Secret in the team's namespace).
const WITH_SECRET: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: app-db, title: App database, version: 1.0.0}
spec:
  parameters:
    type: object
    required: [adminPassword]
    properties:
      adminPassword: {type: string, format: password, description: The admin password.}
      size: {type: integer, default: 1}
  output:
    manifests:
      - apiVersion: database.example.org/v1alpha1
        kind: PostgreSQLInstance
        metadata: {name: "{{ name }}", namespace: "{{ namespace }}"}
        spec:
          size: "{{ values.size }}"
          adminPasswordSecretRef: "{{ values.adminPassword }}"
"#;

#[tokio::test]
async fn a_secret_reference_never_travels_to_the_next_environment() {
    let w = world().await;
    w.repo.push("catalog/app-db.yaml", WITH_SECRET);
    w.catalog_offers("app-db", "1.0.0").await;
    let app_db = |environment: &str, secret: &str, size: i64| {
        json!({"draft": {"offering": "app-db", "environment": environment, "team": "team-a",
            "name": "orders", "values": {"adminPassword": secret, "size": size}}})
    };
    let file = |environment: &str| {
        w.repo
            .show(&format!(
                "{environment}/team-a/postgresqlinstance/orders.yaml"
            ))
            .map(|text| serde_yaml::from_str::<Value>(&text).unwrap())
    };
    let dev = w.submit(&app_db("dev", "dev-admin/password", 2)).await;
    w.applied(&w.dev, &dev, ready(), "ready").await;

    // New in staging: dev's reference is not carried, and the required field is then missing.
    let plan = w.plan(&dev, "staging").await;
    assert_eq!(
        plan["kept"],
        json!([{"path": "adminPassword", "from": "unset"}])
    );
    assert!(
        plan["draft"]["values"].get("adminPassword").is_none(),
        "{plan}"
    );
    assert!(!plan["problems"].as_array().unwrap().is_empty(), "{plan}");
    let (status, body) = w
        .call("promotions/promote", &w.alice, &dev, "staging")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(file("staging").is_none());

    // Staging's own claim with its own Secret: a promotion keeps staging's reference.
    let staging = w
        .submit(&app_db("staging", "staging-admin/password", 1))
        .await;
    w.applied(&w.staging, &staging, ready(), "ready").await;
    let promoted = w.promote(&dev, "staging").await;
    w.committed(&promoted).await;
    let promoted_file = file("staging").unwrap();
    assert_eq!(promoted_file["spec"]["size"], 2, "dev's size travels");
    assert_eq!(
        promoted_file["spec"]["adminPasswordSecretRef"],
        json!({"name": "staging-admin", "key": "password"})
    );
    assert_eq!(
        file("dev").unwrap()["spec"]["adminPasswordSecretRef"],
        json!({"name": "dev-admin", "key": "password"})
    );
}
