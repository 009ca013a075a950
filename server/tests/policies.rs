//! Policies from `catalog/policies.yaml` in the GitOps repository, and approvals: refusals at
//! the field in preview and submission (nothing stored), claim limits, a broken file, and a
//! request held for approval that reaches Git only once an approver agrees.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use common::repo::Repo;
use common::requests::{draft_in, event_kinds, field_errors, request, submit, writer};
use serde_json::{Value, json};

const POLICIES: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Policies
policies:
  - name: prod-databases
    description: Small databases in prod, reviewed by team B.
    match: {environments: [prod], offerings: [postgresql]}
    rules:
      - rule: "values.storageGB <= 50 || user.admin"
        message: At most 50 GB in prod.
        field: storageGB
    approval: {required: 1, approvers: [team-b]}
  - name: staging-quota
    match: {environments: [staging]}
    maxClaims: 1
  - name: staging-teams
    match: {environments: [staging]}
    allow: {teams: [team-a]}
"#;

async fn app(repo: &Repo) -> TestApp {
    repo.push("catalog/policies.yaml", POLICIES);
    repo.app().await
}

async fn decide(
    app: &TestApp,
    cookie: &str,
    id: &str,
    approve: bool,
    comment: &str,
) -> (StatusCode, String) {
    let res = app
        .server_fn(
            "approvals/decide",
            Some(cookie),
            &format!(
                "id={id}&approve={approve}&comment={}",
                comment.replace(' ', "+")
            ),
        )
        .await;
    (res.status, res.body)
}

async fn stage(app: &TestApp, cookie: &str, id: &str) -> String {
    let (status, detail) = request(app, cookie, id).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail["summary"]["stage"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_value_rule_refuses_at_its_field_in_preview_and_submission_and_stores_nothing() {
    let repo = Repo::new();
    let app = app(&repo).await;
    let alice = app.login_as("alice").await;
    for endpoint in ["catalog/preview", "requests/submit"] {
        let res = app
            .server_fn_json(
                endpoint,
                Some(&alice),
                &draft_in("prod", "team-a", "orders-db", 80),
            )
            .await;
        assert_eq!(
            field_errors(res.status, &res.body),
            [("/storageGB".to_owned(), "At most 50 GB in prod.".to_owned())],
            "{endpoint}"
        );
    }
    assert_eq!(app.count("requests").await, 0);
    assert_eq!(app.count("request_events").await, 0);
    // Elsewhere the rule does not apply.
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft_in("dev", "team-a", "orders-db", 80),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // Everyone reads the policies that apply on the offering's page.
    let res = app
        .server_fn("catalog/offering", Some(&alice), "id=postgresql")
        .await;
    let detail: Value = serde_json::from_str(&res.body).unwrap();
    let names: Vec<&str> = detail["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod-databases", "staging-quota", "staging-teams"]);
}

#[tokio::test]
async fn allowed_teams_and_claim_limits_hold_per_environment() {
    let repo = Repo::new();
    let app = app(&repo).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let res = app
        .server_fn_json(
            "requests/submit",
            Some(&bob),
            &draft_in("staging", "team-b", "b-db", 10),
        )
        .await;
    assert_eq!(field_errors(res.status, &res.body)[0].0, "@team");

    let first = submit(&app, &alice, &draft_in("staging", "team-a", "one-db", 10)).await;
    let requests = app.count("requests").await;
    let res = app
        .server_fn_json(
            "requests/submit",
            Some(&alice),
            &draft_in("staging", "team-a", "two-db", 10),
        )
        .await;
    let errors = field_errors(res.status, &res.body);
    assert_eq!(errors[0].0, "@environment");
    assert!(errors[0].1.contains("staging-quota allows 1"), "{errors:?}");
    assert_eq!(app.count("requests").await, requests, "nothing stored");

    // Its deletion frees the place.
    writer(&app).run_once().await.unwrap();
    let res = app
        .server_fn_json(
            "requests/change",
            Some(&alice),
            &json!({"of": first, "action": "delete"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // Only once the deletion is in Git: a deletion still waiting (or later rejected) frees
    // nothing.
    let res = app
        .server_fn_json(
            "requests/submit",
            Some(&alice),
            &draft_in("staging", "team-a", "two-db", 10),
        )
        .await;
    assert_eq!(field_errors(res.status, &res.body)[0].0, "@environment");
    writer(&app).run_once().await.unwrap();
    submit(&app, &alice, &draft_in("staging", "team-a", "two-db", 10)).await;
}

#[tokio::test]
async fn a_broken_policy_file_keeps_the_last_good_one_and_a_fresh_start_refuses_everything() {
    let repo = Repo::new();
    let app = app(&repo).await;
    let alice = app.login_as("alice").await;
    repo.push(
        "catalog/policies.yaml",
        &POLICIES.replace("maxClaims", "maxClaimz"),
    );
    assert!(app.state.catalog.refresh_files().await.unwrap());
    let problems = app.state.catalog.catalog().snapshot().problems().to_vec();
    assert!(
        problems.iter().any(|p| p.starts_with("policies.yaml")
            && p.contains("the last good policies stay in force")),
        "{problems:?}"
    );
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft_in("prod", "team-a", "orders-db", 80),
        )
        .await;
    assert_eq!(
        field_errors(res.status, &res.body)[0].0,
        "/storageGB",
        "still in force"
    );

    // A portal starting with the broken file has no good version: nothing goes through.
    let fresh = repo.app().await;
    let alice = fresh.login_as("alice").await;
    let res = fresh
        .server_fn_json(
            "requests/submit",
            Some(&alice),
            &draft_in("dev", "team-a", "orders-db", 10),
        )
        .await;
    let errors = field_errors(res.status, &res.body);
    assert!(
        errors[0]
            .1
            .contains("until the platform team fixes its policies"),
        "{errors:?}"
    );
    assert_eq!(fresh.count("requests").await, 0);
}

#[tokio::test]
async fn a_prod_request_waits_for_an_approver_before_it_reaches_git() {
    let repo = Repo::new();
    let app = app(&repo).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let carol = app.login_as("carol").await;
    let before = repo.history().len();

    // Carol (team A and B) asks for team A: team B approves, but not she herself.
    let id = submit(&app, &carol, &draft_in("prod", "team-a", "orders-db", 20)).await;
    assert_eq!(stage(&app, &carol, &id).await, "awaiting_approval");
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 0);
    assert_eq!(repo.history().len(), before, "git log unchanged");

    let (status, body) = decide(&app, &carol, &id, true, "mine").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("your own request"), "{body}");
    let (status, body) = decide(&app, &alice, &id, true, "").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "team A's member is no approver: {body}"
    );
    let pat = app.login_as("pat").await;
    let res = app.server_fn("approvals", Some(&alice), "").await;
    assert_eq!(res.body, "[]", "nothing for alice to approve");

    // Bob (team B) sees it in his queue with the file it would write, and approves.
    let res = app.server_fn("approvals", Some(&bob), "").await;
    let queue: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(queue[0]["summary"]["id"], id.as_str(), "{queue}");
    assert_eq!(queue[0]["can_decide"], true);
    assert_eq!(
        queue[0]["can_open"], false,
        "team B's member cannot open team A's request page"
    );
    assert!(
        queue[0]["diff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "    storageGB: 20"),
        "{queue}"
    );
    let (status, body) = decide(&app, &bob, &id, true, "fine by me").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stage(&app, &carol, &id).await, "submitted");
    let (status, _) = decide(&app, &pat, &id, true, "").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no longer awaiting"
    );

    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    assert!(
        repo.show("prod/team-a/postgresqlinstance/orders-db.yaml")
            .is_some()
    );
    let (_, detail) = request(&app, &carol, &id).await;
    assert_eq!(
        event_kinds(&detail),
        ["submitted", "awaiting_approval", "approved", "committed"]
    );
    let approved = &detail["events"][2];
    assert_eq!(approved["actor"], "Bob Builder");
    assert_eq!(approved["message"], "fine by me");
    let (who,): (String,) = sqlx::query_as(
        "SELECT actor_name FROM audit_log WHERE action = 'request.approve' AND request_id = $1",
    )
    .bind(&id)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(who, "Bob Builder");
}

#[tokio::test]
async fn a_rejected_request_never_reaches_git_and_frees_its_file() {
    let repo = Repo::new();
    let app = app(&repo).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let id = submit(&app, &alice, &draft_in("prod", "team-a", "orders-db", 20)).await;
    // A second change to the same file waits behind the held one.
    let res = app
        .server_fn_json(
            "requests/submit",
            Some(&alice),
            &draft_in("prod", "team-a", "orders-db", 30),
        )
        .await;
    assert_eq!(field_errors(res.status, &res.body)[0].0, "@name");

    let (status, body) = decide(&app, &bob, &id, false, "").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a rejection says why: {body}"
    );
    let (status, body) = decide(&app, &bob, &id, false, "too big for prod").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stage(&app, &alice, &id).await, "rejected");
    let before = repo.history().len();
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 0);
    assert_eq!(repo.history().len(), before);
    assert!(
        repo.show("prod/team-a/postgresqlinstance/orders-db.yaml")
            .is_none()
    );
    let (who,): (String,) = sqlx::query_as(
        "SELECT actor_name FROM audit_log WHERE action = 'request.reject' AND request_id = $1",
    )
    .bind(&id)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(who, "Bob Builder");
    submit(&app, &alice, &draft_in("prod", "team-a", "orders-db", 30)).await;

    // The dashboard counts the held requests: one rejected, one still waiting.
    let id = submit(&app, &alice, &draft_in("prod", "team-a", "billing-db", 20)).await;
    let (status, body) = decide(&app, &bob, &id, true, "ok").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pat = app.login_as("pat").await;
    let res = app
        .server_fn("metrics/dashboard", Some(&pat), "query[days]=30")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let summary = &serde_json::from_str::<Value>(&res.body).unwrap()["summary"];
    assert_eq!(summary["held_for_approval"], 3, "{summary}");
    assert_eq!(
        summary["approval_rate"], 0.5,
        "one approved, one rejected: {summary}"
    );
    assert!(
        summary["approval_p50_ms"].as_i64().unwrap() >= 0,
        "{summary}"
    );
}
