//! Guardrails between teams, tried as two teams would: cluster-scoped names one team holds,
//! paths and namespaces a template or a value could steer into another team's, and changes
//! to files that are not the team's. Real repositories, the writer as `serve` runs it.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use common::repo::Repo;
use common::requests::{draft_in, field_errors, request, submit, writer};
use serde_json::{Value, json};

/// A cluster-scoped offering (`namespaced: false`): its names are global in a cluster.
const TENANT: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: tenant, title: Tenant, version: 1.0.0}
spec:
  namespaced: false
  parameters:
    type: object
    properties:
      quota: {type: integer, default: 1}
  output:
    manifests:
      - apiVersion: platform.example.org/v1alpha1
        kind: Tenant
        metadata: {name: "{{ name }}"}
        spec: {quota: "{{ values.quota }}"}
"#;

fn tenant(team: &str, name: &str) -> Value {
    json!({"draft": {"offering": "tenant", "environment": "dev", "team": team, "name": name,
                     "values": {"quota": 2}}})
}

async fn app_with_offering(repo: &Repo, file: &str, text: &str) -> TestApp {
    repo.push(&format!("catalog/{file}"), text);
    repo.app().await
}

async fn change(app: &TestApp, cookie: &str, of: &str, action: &str) -> (StatusCode, String) {
    let res = app
        .server_fn_json(
            "requests/change",
            Some(cookie),
            &json!({"of": of, "action": action}),
        )
        .await;
    (res.status, res.body)
}

#[tokio::test]
async fn a_cluster_scoped_name_belongs_to_one_team_until_its_claim_is_deleted() {
    let repo = Repo::new();
    let app = app_with_offering(&repo, "tenant.yaml", TENANT).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;

    let held = submit(&app, &alice, &tenant("team-a", "shared")).await;
    // Before A's claim reaches Git: the database decides (the tree does not hold it yet).
    let requests = app.count("requests").await;
    let res = app
        .server_fn_json("requests/submit", Some(&bob), &tenant("team-b", "shared"))
        .await;
    let errors = field_errors(res.status, &res.body);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "@name");
    assert!(errors[0].1.contains("already taken"), "{errors:?}");
    assert_eq!(app.count("requests").await, requests, "nothing stored");

    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    let res = app
        .server_fn_json("requests/submit", Some(&bob), &tenant("team-b", "shared"))
        .await;
    assert_eq!(field_errors(res.status, &res.body)[0].0, "@name");
    // Another name is B's to take; the same name in another environment too.
    submit(&app, &bob, &tenant("team-b", "other")).await;
    let mut in_staging = tenant("team-b", "shared");
    in_staging["draft"]["environment"] = json!("staging");
    submit(&app, &bob, &in_staging).await;

    // A deletes its claim: pending, the name stays A's; in Git, it is free.
    let (status, body) = change(&app, &alice, &held, "delete").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let res = app
        .server_fn_json("requests/submit", Some(&bob), &tenant("team-b", "shared"))
        .await;
    assert_eq!(field_errors(res.status, &res.body)[0].0, "@name");
    writer(&app).run_once().await.unwrap();
    assert!(repo.show("dev/team-a/tenant/shared.yaml").is_none());
    submit(&app, &bob, &tenant("team-b", "shared")).await;
    assert!(writer(&app).run_once().await.unwrap().committed >= 1);
    assert!(repo.show("dev/team-b/tenant/shared.yaml").is_some());
}

#[tokio::test]
async fn a_cluster_scoped_name_someone_committed_by_hand_is_taken_too() {
    let repo = Repo::new();
    repo.push(
        "dev/platform/tenants.yaml",
        "apiVersion: platform.example.org/v1alpha1\nkind: Tenant\nmetadata:\n  name: shared\n",
    );
    let app = app_with_offering(&repo, "tenant.yaml", TENANT).await;
    let bob = app.login_as("bob").await;
    let res = app
        .server_fn_json("requests/submit", Some(&bob), &tenant("team-b", "shared"))
        .await;
    let errors = field_errors(res.status, &res.body);
    assert!(
        errors[0].1.contains("dev/platform/tenants.yaml"),
        "{errors:?}"
    );
    assert_eq!(app.count("requests").await, 0);
    // The same name of another kind or API group is another object.
    submit(&app, &bob, &tenant("team-b", "shared-2")).await;
}

#[tokio::test]
async fn a_path_template_outside_the_team_folder_is_refused_at_load_and_at_submission() {
    let repo = Repo::new();
    let outside = TENANT.replace("name: tenant", "name: escape").replace(
        "  output:\n",
        "  output:\n    path: \"{{ env }}/shared/{{ name }}.yaml\"\n",
    );
    // A template that looks right to the load check but moves team-a into team-b's folder.
    let sneaky = TENANT.replace("name: tenant", "name: sneaky").replace(
        "  output:\n",
        "  output:\n    path: \"{{ env }}/{{ 'team-b' if team == 'team-a' else team }}/t/{{ name }}.yaml\"\n",
    );
    repo.push("catalog/escape.yaml", &outside);
    repo.push("catalog/sneaky.yaml", &sneaky);
    let app = repo.app().await;
    let snapshot = app.state.catalog.catalog().snapshot();
    assert!(snapshot.get("escape").is_none());
    assert!(
        snapshot
            .problems()
            .iter()
            .any(|p| p.starts_with("escape.yaml")
                && p.contains("must start with \"{{ env }}/{{ team }}/\"")),
        "{:?}",
        snapshot.problems()
    );
    assert!(snapshot.get("sneaky").is_some(), "passes the load check");

    let alice = app.login_as("alice").await;
    let mut draft = tenant("team-a", "x");
    draft["draft"]["offering"] = json!("sneaky");
    for endpoint in ["catalog/preview", "requests/submit"] {
        let res = app.server_fn_json(endpoint, Some(&alice), &draft).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint}: {}",
            res.body
        );
        assert!(
            res.body.contains("outside the team's folder dev/team-a/"),
            "{}",
            res.body
        );
    }
    assert_eq!(app.count("requests").await, 0);
}

#[tokio::test]
async fn a_change_acts_only_on_a_file_of_the_requests_team() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let id = submit(&app, &alice, &draft_in("dev", "team-a", "orders-db", 20)).await;
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    let path = "dev/team-a/postgresqlinstance/orders-db.yaml";

    // Someone relabels the file for team-b by hand: team-a may no longer change it.
    let text = repo.show(path).unwrap();
    repo.push(
        path,
        &text.replace("slipway.dev/team: team-a", "slipway.dev/team: team-b"),
    );
    let requests = app.count("requests").await;
    for action in ["delete", "update"] {
        let (status, body) = change(&app, &alice, &id, action).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}: {body}");
        assert!(body.contains("labelled for the team team-b"), "{body}");
    }
    let res = app
        .server_fn("requests/change-source", Some(&alice), &format!("of={id}"))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert_eq!(app.count("requests").await, requests, "nothing stored");

    // A file put by hand where a request of the team failed is not the team's either.
    let failed = submit(&app, &alice, &draft_in("dev", "team-a", "billing-db", 20)).await;
    let hand = "dev/team-a/postgresqlinstance/billing-db.yaml";
    repo.push(
        hand,
        "apiVersion: db.example.org/v1alpha1\nkind: PostgreSQLInstance\nmetadata:\n  name: billing-db\n  labels: {slipway.dev/team: team-a}\n",
    );
    writer(&app).run_once().await.unwrap();
    let (_, detail) = request(&app, &alice, &failed).await;
    assert_eq!(detail["summary"]["stage"], "failed", "{detail}");
    let (status, body) = change(&app, &alice, &failed, "delete").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("no request of the team"), "{body}");
    assert!(repo.show(hand).is_some());
}

#[tokio::test]
async fn a_team_whose_namespace_is_forbidden_requests_nothing() {
    let repo = Repo::new();
    let settings = repo.settings_with(&["--team-namespaces", "team-b=kube-system,team-a=apps-a"]);
    let app = repo.app_with(settings).await;
    let bob = app.login_as("bob").await;
    for endpoint in ["catalog/preview", "requests/submit"] {
        let res = app
            .server_fn_json(
                endpoint,
                Some(&bob),
                &draft_in("dev", "team-b", "orders-db", 20),
            )
            .await;
        let errors = field_errors(res.status, &res.body);
        assert_eq!(errors[0].0, "@team", "{errors:?}");
        assert!(errors[0].1.contains("kube-system"), "{errors:?}");
    }
    assert_eq!(app.count("requests").await, 0);

    // A mapped team's claims go to its namespace.
    let alice = app.login_as("alice").await;
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft_in("dev", "team-a", "orders-db", 20),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("namespace: apps-a"), "{}", res.body);

    // By default the team's name is its namespace, and kube-* is forbidden.
    let repo = Repo::new();
    let app = repo
        .app_with(repo.settings_with(&["--forbidden-namespaces", "team-*"]))
        .await;
    let alice = app.login_as("alice").await;
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft_in("dev", "team-a", "orders-db", 20),
        )
        .await;
    assert_eq!(field_errors(res.status, &res.body)[0].0, "@team");
}

#[tokio::test]
async fn a_value_cannot_steer_a_manifest_into_another_namespace() {
    let repo = Repo::new();
    let steer = r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: steer, title: Steer, version: 1.0.0}
spec:
  parameters:
    type: object
    properties:
      ns: {type: string}
  output:
    manifests:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ name }}", namespace: "{{ values.ns or namespace }}"}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: "{{ team }}-{{ name }}", namespace: argocd}
"#;
    let app = app_with_offering(&repo, "steer.yaml", steer).await;
    let alice = app.login_as("alice").await;
    let draft = |ns: Option<&str>| {
        json!({"draft": {"offering": "steer", "environment": "dev", "team": "team-a",
                         "name": "cfg", "values": ns.map_or(json!({}), |ns| json!({"ns": ns}))}})
    };
    let res = app
        .server_fn_json("catalog/preview", Some(&alice), &draft(None))
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "literal argocd is the platform's choice: {}",
        res.body
    );
    for ns in ["team-b", "argocd"] {
        let res = app
            .server_fn_json("requests/submit", Some(&alice), &draft(Some(ns)))
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{ns}: {}",
            res.body
        );
        assert!(res.body.contains("the team's is"), "{}", res.body);
    }
    assert_eq!(app.count("requests").await, 0);
}

#[tokio::test]
async fn environments_reconciling_in_one_cluster_share_its_names() {
    let repo = Repo::new();
    repo.push("catalog/tenant.yaml", TENANT);
    let mut settings = repo.settings();
    for environment in &mut settings.environments {
        if environment.name != "staging" {
            environment.cluster = Some("shared-cp".into());
        }
    }
    let app = repo.app_with(settings).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    submit(&app, &alice, &tenant("team-a", "shared")).await;
    let mut in_prod = tenant("team-b", "shared");
    in_prod["draft"]["environment"] = json!("prod");
    let res = app
        .server_fn_json("requests/submit", Some(&bob), &in_prod)
        .await;
    assert_eq!(
        field_errors(res.status, &res.body)[0].0,
        "@name",
        "dev and prod are one cluster"
    );
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    let res = app
        .server_fn_json("requests/submit", Some(&bob), &in_prod)
        .await;
    let errors = field_errors(res.status, &res.body);
    assert!(
        errors[0].1.contains("dev/team-a/tenant/shared.yaml"),
        "found in dev's folder: {errors:?}"
    );
    let mut in_staging = tenant("team-b", "shared");
    in_staging["draft"]["environment"] = json!("staging");
    submit(&app, &bob, &in_staging).await;
}

#[tokio::test]
async fn a_failed_create_whose_name_another_team_took_is_not_retried() {
    let repo = Repo::new();
    let app = app_with_offering(&repo, "tenant.yaml", TENANT).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let pat = app.login_as("pat").await;
    let failed = submit(&app, &alice, &tenant("team-a", "x")).await;
    // Something else in the way of A's file: its create fails.
    repo.push(
        "dev/team-a/tenant/x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n",
    );
    writer(&app).run_once().await.unwrap();
    let (_, detail) = request(&app, &alice, &failed).await;
    assert_eq!(detail["summary"]["stage"], "failed");
    // The name is free again, and team B takes it.
    submit(&app, &bob, &tenant("team-b", "x")).await;
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);

    let res = app
        .server_fn("admin/git-jobs/retry", Some(&pat), &format!("id={failed}"))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(res.body.contains("cannot be retried"), "{}", res.body);
    let (_, detail) = request(&app, &alice, &failed).await;
    assert_eq!(detail["summary"]["stage"], "failed", "nothing changed");
}
