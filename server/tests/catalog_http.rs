//! The catalog through the HTTP surface, over a real GitOps repository on disk (the one
//! `slipway init` seeds): offerings restricted to a team stay invisible to others, a member
//! cannot request for another team, the preview compares with the branch (new, unchanged,
//! changed), drafts belong to one user, and a catalog change pushed to Git is picked up
//! without a restart.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use common::repo::Repo;
use serde_json::{Value, json};

const TEAM_B_ONLY: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: payments-vault, title: Payments vault, version: 1.0.0}
spec:
  teams: [team-b]
  parameters: {type: object, properties: {size: {type: string}}}
  output:
    manifests:
      - apiVersion: vault.example.org/v1
        kind: Vault
        metadata: {name: "{{ name }}"}
"#;

async fn ids(app: &TestApp, cookie: &str) -> Vec<String> {
    let res = app.server_fn("catalog", Some(cookie), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let page: Value = serde_json::from_str(&res.body).unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn draft(team: &str, name: &str, storage: i64) -> Value {
    json!({"draft": {
        "offering": "postgresql", "environment": "dev", "team": team, "name": name,
        "values": {"storageGB": storage, "version": "16"}
    }})
}

#[tokio::test]
async fn an_offering_restricted_to_a_team_is_invisible_to_other_teams() {
    let repo = Repo::new();
    repo.push("catalog/payments-vault.yaml", TEAM_B_ONLY);
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let pat = app.login_as("pat").await;

    // Sorted by title: "Object storage bucket", "PostgreSQL database".
    assert_eq!(ids(&app, &alice).await, ["bucket", "postgresql"]);
    assert!(ids(&app, &bob).await.contains(&"payments-vault".to_owned()));
    assert!(
        ids(&app, &pat).await.contains(&"payments-vault".to_owned()),
        "admins see all"
    );
    let hidden = app
        .server_fn("catalog/offering", Some(&alice), "id=payments-vault")
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let draft = json!({"draft": {"offering": "payments-vault", "environment": "dev", "team": "team-a", "name": "v", "values": {}}});
    let refused = app
        .server_fn_json("catalog/preview", Some(&alice), &draft)
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "not even a preview");
    let shown = app
        .server_fn("catalog/offering", Some(&bob), "id=payments-vault")
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    let detail: Value = serde_json::from_str(&shown.body).unwrap();
    assert_eq!(detail["my_teams"], json!(["team-b"]));
}

#[tokio::test]
async fn a_member_cannot_request_for_a_team_they_are_not_in() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft("team-b", "orders-db", 50),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = serde_json::from_str(&res.body).unwrap();
    let fields = error["Validation"].as_array().unwrap();
    assert!(fields.iter().any(|e| e["path"] == "@team"), "{error}");
}

#[tokio::test]
async fn the_preview_compares_with_the_branch_new_then_unchanged_then_changed() {
    let repo = Repo::new();
    let path = "dev/team-a/postgresqlinstance/orders-db.yaml";

    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft("team-a", "orders-db", 50),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let preview: Value = serde_json::from_str(&res.body).unwrap();
    let file = &preview["files"][0];
    assert_eq!(file["path"], path);
    assert_eq!(file["change"], "new");
    let content = file["content"].as_str().unwrap().to_owned();

    // The same file committed (out of band): the same values change nothing.
    repo.push(path, &content);
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft("team-a", "orders-db", 50),
        )
        .await;
    let preview: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(preview["files"][0]["change"], "unchanged");
    assert_eq!(preview["files"][0]["diff"], json!([]));

    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft("team-a", "orders-db", 60),
        )
        .await;
    let preview: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(preview["files"][0]["change"], "changed");
    let diff: Vec<String> = preview["files"][0]["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}{}",
                l["sign"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        diff.iter()
            .any(|l| l.starts_with('-') && l.contains("storageGB: 50")),
        "{diff:?}"
    );
    assert!(
        diff.iter()
            .any(|l| l.starts_with('+') && l.contains("storageGB: 60")),
        "{diff:?}"
    );
}

#[tokio::test]
async fn a_draft_belongs_to_its_author_and_can_be_discarded() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let saved = app
        .server_fn_json(
            "drafts/save",
            Some(&alice),
            &draft("team-a", "half-done", 42),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);

    let mine = app
        .server_fn("drafts/load", Some(&alice), "offering=postgresql")
        .await;
    let mine: Value = serde_json::from_str(&mine.body).unwrap();
    assert_eq!(mine["draft"]["name"], "half-done");
    assert_eq!(mine["draft"]["values"]["storageGB"], 42);
    let theirs = app
        .server_fn("drafts/load", Some(&bob), "offering=postgresql")
        .await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(theirs.body, "null", "another user sees no draft");

    app.server_fn("drafts/discard", Some(&alice), "offering=postgresql")
        .await;
    let gone = app
        .server_fn("drafts/load", Some(&alice), "offering=postgresql")
        .await;
    assert_eq!(gone.body, "null");
}

#[tokio::test]
async fn a_catalog_change_pushed_to_git_is_picked_up_without_a_restart() {
    let repo = Repo::new();
    let app = repo.app().await;
    assert!(
        !app.state.catalog.refresh_files().await.unwrap(),
        "nothing changed: no reload"
    );
    repo.push(
        "catalog/payments-vault.yaml",
        &TEAM_B_ONLY.replace("teams: [team-b]", ""),
    );
    assert!(app.state.catalog.refresh_files().await.unwrap());
    let alice = app.login_as("alice").await;
    assert!(
        ids(&app, &alice)
            .await
            .contains(&"payments-vault".to_owned())
    );

    // A broken file is left out; the rest of the catalog stays.
    repo.push(
        "catalog/broken.yaml",
        "apiVersion: slipway.dev/v1alpha1\nkind: Offering\n",
    );
    assert!(app.state.catalog.refresh_files().await.unwrap());
    assert_eq!(ids(&app, &alice).await.len(), 3);
    let snapshot = app.state.catalog.catalog().snapshot();
    assert!(
        snapshot
            .problems()
            .iter()
            .any(|p| p.starts_with("broken.yaml")),
        "{:?}",
        snapshot.problems()
    );
}
