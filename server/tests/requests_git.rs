//! Requests committed to real Git repositories: a bare repository on disk and the same over
//! smart HTTP (`git http-backend`) with Basic auth. Submission goes through the server
//! function as in the browser; the Git writer is run the way `serve` runs it.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::TestApp;
use common::git_http::GitHttp;
use common::git_ssh::GitSsh;
use common::repo::{Repo, git, push_from, show_in};
use common::requests::{another_writer, draft_in, event_kinds, request, submit, writer};
use serde_json::{Value, json};

/// Commits on the remote carrying each request id, counted.
fn trailer_counts(repo: &Repo) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for commit in repo.history() {
        if let Some(id) = commit.trailer("Slipway-Request-Id") {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts
}

fn draft(team: &str, name: &str, storage: i64) -> Value {
    draft_in("dev", team, name, storage)
}

const PATH: &str = "dev/team-a/postgresqlinstance/orders-db.yaml";

#[tokio::test]
async fn a_submission_becomes_one_commit_authored_by_the_requester_with_the_trailers() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let before = repo.history().len();

    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    let (status, detail) = request(&app, &alice, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        detail["summary"]["stage"], "submitted",
        "nothing written before the writer runs"
    );
    assert_eq!(repo.history().len(), before);

    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.committed, 1, "{report:?}");

    let history = repo.history();
    assert_eq!(history.len(), before + 1, "exactly one commit");
    let commit = &history[0];
    assert_eq!(commit.author, "Alice Archer <alice@dev.slipway.invalid>");
    assert_eq!(commit.committer, "Slipway <slipway@localhost>");
    assert!(
        commit
            .message
            .starts_with("Create PostgreSQLInstance team-a/orders-db\n\n"),
        "{}",
        commit.message
    );
    assert!(
        commit.message.contains("storageGB: 20"),
        "{}",
        commit.message
    );
    assert_eq!(commit.trailer("Slipway-Request-Id"), Some(id.as_str()));
    assert_eq!(commit.trailer("Slipway-Offering"), Some("postgresql@1.0.0"));
    assert_eq!(
        commit.trailer("Requested-by"),
        Some("Alice Archer <alice@dev.slipway.invalid>")
    );

    let file: Value = serde_saphyr::from_str(&repo.show(PATH).expect("file committed")).unwrap();
    assert_eq!(
        file["metadata"]["annotations"]["slipway.dev/request-id"],
        id
    );
    assert_eq!(file["spec"]["parameters"]["storageGB"], 20);

    // New folders get a kustomization; the environment's existing one lists the team.
    let kustomization = |dir: &str| -> Value {
        serde_saphyr::from_str(&repo.show(&format!("{dir}/kustomization.yaml")).unwrap()).unwrap()
    };
    assert_eq!(
        kustomization("dev/team-a/postgresqlinstance")["resources"],
        json!(["orders-db.yaml"])
    );
    assert_eq!(
        kustomization("dev/team-a")["resources"],
        json!(["postgresqlinstance"])
    );
    assert_eq!(kustomization("dev")["resources"], json!(["team-a"]));

    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(detail["summary"]["stage"], "committed");
    assert_eq!(detail["commit"], commit.sha);
    assert_eq!(event_kinds(&detail), ["submitted", "committed"]);
    assert_eq!(detail["events"][0]["actor"], "Alice Archer");
    assert_eq!(detail["events"][1]["actor"], "Slipway");
    assert_eq!(detail["events"][1]["sha"], commit.sha);
    assert!(detail["git"].is_null(), "the writer is done with it");

    // The submission is audited, and a second writer run finds nothing to do.
    assert_eq!(
        app.count("audit_log WHERE action = 'request.create'").await,
        1
    );
    assert_eq!(writer(&app).run_once().await.unwrap().settled(), 0);
    assert_eq!(repo.history().len(), before + 1);
}

#[tokio::test]
async fn a_refused_submission_stores_nothing_and_names_the_field() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;

    for (body, field) in [
        (draft("team-a", "../../etc", 20), "@name"),
        (draft("team-a", "orders-db", 5), "/storageGB"),
        (draft("team-b", "orders-db", 20), "@team"),
    ] {
        let res = app
            .server_fn_json("requests/submit", Some(&alice), &body)
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(res.body.contains(field), "{field} named in {}", res.body);
    }
    assert_eq!(app.count("requests").await, 0);
    assert_eq!(app.count("git_jobs").await, 0);
    assert_eq!(app.count("request_events").await, 0);
}

#[tokio::test]
async fn a_name_already_in_the_repository_or_on_its_way_is_refused_at_submission() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;

    submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    let res = app
        .server_fn_json(
            "requests/submit",
            Some(&alice),
            &draft("team-a", "orders-db", 30),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("on its way to Git"), "{}", res.body);

    writer(&app).run_once().await.unwrap();
    // Previews (and submissions) fetch at most every few seconds; a new portal fetches now.
    let fresh = repo.app().await;
    let alice = fresh.login_as("alice").await;
    let res = fresh
        .server_fn_json(
            "requests/submit",
            Some(&alice),
            &draft("team-a", "orders-db", 30),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("is in the repository"), "{}", res.body);
}

#[tokio::test]
async fn a_create_never_overwrites_a_file_pushed_by_someone_else_meanwhile() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    repo.push_as(PATH, "kind: Handmade\n", "Dana Ops", "dana@example.com");
    let before = repo.history().len();

    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(repo.history().len(), before, "no commit");
    assert_eq!(
        repo.show(PATH).unwrap(),
        "kind: Handmade\n",
        "their file kept"
    );
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(detail["summary"]["stage"], "failed");
    let message = detail["events"][1]["message"].as_str().unwrap();
    assert!(message.contains("already exists"), "{message}");
}

#[tokio::test]
async fn a_hundred_concurrent_submissions_make_a_hundred_commits_in_a_linear_history_that_keeps_foreign_commits()
 {
    let repo = Repo::new();
    let app = repo.app().await;
    let carol = app.login_as("carol").await;
    let base = repo.history().len();
    let writer = writer(&app).spawn(slipway::shutdown::Stopping::new());

    // Someone else keeps pushing to the same branch while the portal commits.
    let work = repo.work.clone();
    let foreign = std::thread::spawn(move || {
        for i in 0..10 {
            push_from(
                &work,
                &format!("ops/notes-{i}.md"),
                &format!("note {i}\n"),
                "Dana Ops",
                "dana@example.com",
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    let submissions = (0..100).map(|i| {
        let team = if i % 2 == 0 { "team-a" } else { "team-b" };
        let body = draft(team, &format!("db-{i:03}"), 20 + i);
        let app = &app;
        let carol = &carol;
        async move { submit(app, carol, &body).await }
    });
    let ids = futures_util::future::join_all(submissions).await;
    foreign.join().unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open = app.count("git_jobs WHERE status = 'pending'").await;
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} jobs still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let history = repo.history();
    let counts = trailer_counts(&repo);
    for id in &ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "request {id} committed exactly once"
        );
    }
    assert_eq!(counts.len(), 100);
    assert!(
        history.iter().all(|c| c.parents <= 1),
        "linear history: no merges"
    );
    let foreign_commits = history
        .iter()
        .filter(|c| c.author == "Dana Ops <dana@example.com>")
        .count();
    assert_eq!(foreign_commits, 10, "every out-of-band commit survives");
    assert_eq!(history.len(), base + 110);
    for i in 0..10 {
        assert_eq!(
            repo.show(&format!("ops/notes-{i}.md")).unwrap(),
            format!("note {i}\n")
        );
    }
    let listed: Value = serde_saphyr::from_str(
        &repo
            .show("dev/team-a/postgresqlinstance/kustomization.yaml")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        listed["resources"].as_array().unwrap().len(),
        50,
        "each file listed once"
    );
    assert_eq!(app.count("requests WHERE state = 'committed'").await, 100);
    assert_eq!(
        app.count("request_events WHERE kind = 'committed'").await,
        100
    );
    writer.abort();
}

#[tokio::test]
async fn with_the_remote_down_requests_wait_for_git_visibly_and_go_through_when_it_is_back() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    let before = repo.history().len();

    let hidden = repo.dir.path().join("away.git");
    std::fs::rename(&repo.bare, &hidden).unwrap();
    for _ in 0..3 {
        let report = writer(&app).run_once().await.unwrap();
        assert!(report.postponed <= 1 && report.settled() == 0, "{report:?}");
        // Make the job due again at once (the backoff is what is being skipped).
        sqlx::query("UPDATE git_jobs SET next_attempt_at = 0")
            .execute(app.db().pool())
            .await
            .unwrap();
    }
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(detail["summary"]["stage"], "waiting_for_git");
    assert_eq!(detail["git"]["attempts"], 3);
    let error = detail["git"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("The Git remote cannot be reached"),
        "{error}"
    );
    assert_eq!(
        event_kinds(&detail),
        ["submitted", "waiting_for_git"],
        "one event for the outage, not one per attempt"
    );

    std::fs::rename(&hidden, &repo.bare).unwrap();
    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.committed, 1, "{report:?}");
    assert_eq!(repo.history().len(), before + 1);
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(
        event_kinds(&detail),
        ["submitted", "waiting_for_git", "committed"]
    );
}

#[tokio::test]
async fn over_smart_http_wrong_credentials_are_named_and_lose_nothing() {
    let repo = Repo::new();
    let server = GitHttp::start(repo.dir.path(), "gitops-bot", "s3cret-token").await;
    let url = server.url("gitops.git");
    let with_token = |token: &str| {
        let mut settings = common::settings(&[
            "--dev-login",
            "--git-url",
            &url,
            "--git-username",
            "gitops-bot",
            "--git-token",
            token,
        ]);
        settings.git.clone_dir = repo.dir.path().join("clones");
        settings
    };
    let app = TestApp::with_settings(with_token("wrong-token")).await;
    // The catalog cannot be fetched with wrong credentials; it is read from disk here.
    app.state.catalog.apply(
        slipway::catalog::source::FileSource::Dir(repo.work.join("catalog"))
            .load(&app.state.environments.names(), String::new())
            .unwrap(),
    );
    let alice = app.login_as("alice").await;
    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    let before = repo.history().len();

    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.postponed, 1, "{report:?}");
    let (_, detail) = request(&app, &alice, &id).await;
    let error = detail["git"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("The Git remote refused the portal's credentials"),
        "{error}"
    );
    assert!(!error.contains("wrong-token"), "no secret in messages");
    assert_eq!(repo.history().len(), before);

    // The operator fixes the secret; the same request goes through, once.
    let writer = another_writer(&app, &with_token("s3cret-token"));
    sqlx::query("UPDATE git_jobs SET next_attempt_at = 0")
        .execute(app.db().pool())
        .await
        .unwrap();
    let report = writer.run_once().await.unwrap();
    assert_eq!(report.committed, 1, "{report:?}");
    assert_eq!(repo.history().len(), before + 1);
    assert_eq!(trailer_counts(&repo).get(&id), Some(&1));
    assert!(repo.show(PATH).is_some());

    // Down (503) is "cannot be reached", and the request waits again.
    let bob = app.login_as("bob").await;
    let second = submit(&app, &bob, &draft("team-b", "ledger-db", 20)).await;
    server.set_up(false);
    assert_eq!(writer.run_once().await.unwrap().postponed, 1);
    let (_, detail) = request(&app, &bob, &second).await;
    let error = detail["git"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("The Git remote cannot be reached"),
        "{error}"
    );
    server.set_up(true);
    sqlx::query("UPDATE git_jobs SET next_attempt_at = 0")
        .execute(app.db().pool())
        .await
        .unwrap();
    assert_eq!(writer.run_once().await.unwrap().committed, 1);
}

#[tokio::test]
async fn another_teams_request_is_not_found_and_not_listed() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let pat = app.login_as("pat").await;
    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;

    let (status, _) = request(&app, &bob, &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = request(&app, &pat, &id).await;
    assert_eq!(status, StatusCode::OK, "administrators see every request");

    let list = |cookie: String, form: &'static str| {
        let app = &app;
        async move {
            let res = app.server_fn("requests", Some(&cookie), form).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            serde_json::from_str::<Value>(&res.body).unwrap()["requests"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(list(alice.clone(), "").await, 1);
    assert_eq!(list(bob.clone(), "").await, 0);
    assert_eq!(
        list(bob.clone(), "filter[team]=team-a").await,
        0,
        "asking for it does not help"
    );
    assert_eq!(list(pat.clone(), "").await, 1);
    assert_eq!(list(alice.clone(), "filter[stage]=committed").await, 0);
    assert_eq!(list(alice.clone(), "filter[stage]=submitted").await, 1);
    assert_eq!(list(alice, "filter[q]=ORDERS").await, 1);
}

/// A committed create of `orders-db` for team A, and Alice's session.
async fn committed(app: &TestApp) -> (String, String) {
    let alice = app.login_as("alice").await;
    let id = submit(app, &alice, &draft("team-a", "orders-db", 20)).await;
    assert_eq!(writer(app).run_once().await.unwrap().committed, 1);
    (alice, id)
}

async fn change(app: &TestApp, cookie: &str, body: &Value) -> (StatusCode, Value) {
    let res = app
        .server_fn_json("requests/change", Some(cookie), body)
        .await;
    (
        res.status,
        serde_json::from_str(&res.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_edit_starts_from_git_keeps_what_the_form_does_not_know_and_commits_an_update() {
    let repo = Repo::new();
    let app = repo.app().await;
    let (alice, created) = committed(&app).await;
    // Someone adds a label and an annotation to the claim by hand.
    let text = repo.show(PATH).unwrap();
    let mut manifest: Value = serde_saphyr::from_str(&text).unwrap();
    manifest["metadata"]["labels"]["cost-center"] = json!("cc-42");
    manifest["metadata"]["annotations"]["owner.example.org/pager"] = json!("orders-oncall");
    repo.push(PATH, &serde_saphyr::to_string(&manifest).unwrap());

    let res = app
        .server_fn(
            "requests/change-source",
            Some(&alice),
            &format!("of={created}"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let source: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(source["draft"]["name"], "orders-db");
    assert_eq!(source["draft"]["values"]["storageGB"], 20);
    assert_eq!(
        source["preserved"],
        json!([
            "metadata.labels.cost-center",
            "metadata.annotations.owner.example.org/pager"
        ])
    );

    let mut edited = source["draft"].clone();
    edited["values"]["storageGB"] = json!(80);
    let (status, body) = change(
        &app,
        &alice,
        &json!({"of": created, "action": "update", "draft": edited}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let update = body["id"].as_str().unwrap().to_owned();
    let before = repo.history().len();
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);

    let history = repo.history();
    assert_eq!(history.len(), before + 1);
    assert!(
        history[0]
            .message
            .starts_with("Update PostgreSQLInstance team-a/orders-db"),
        "{}",
        history[0].message
    );
    assert_eq!(
        history[0].trailer("Slipway-Request-Id"),
        Some(update.as_str())
    );
    let file: Value = serde_saphyr::from_str(&repo.show(PATH).unwrap()).unwrap();
    assert_eq!(file["spec"]["parameters"]["storageGB"], 80);
    assert_eq!(file["metadata"]["labels"]["cost-center"], "cc-42", "kept");
    assert_eq!(
        file["metadata"]["annotations"]["owner.example.org/pager"], "orders-oncall",
        "kept"
    );
    assert_eq!(
        file["metadata"]["annotations"]["slipway.dev/request-id"],
        update.as_str()
    );
    assert_eq!(
        app.count("audit_log WHERE action = 'request.update'").await,
        1
    );
    drop(alice);
}

#[tokio::test]
async fn an_edit_that_changes_nothing_is_refused_and_a_rename_too() {
    let repo = Repo::new();
    let app = repo.app().await;
    let (alice, created) = committed(&app).await;
    let same = draft("team-a", "orders-db", 20)["draft"].clone();
    let (status, body) = change(
        &app,
        &alice,
        &json!({"of": created, "action": "update", "draft": same}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("Nothing to change"), "{body}");
    let renamed = draft("team-a", "other-db", 30)["draft"].clone();
    let (status, body) = change(
        &app,
        &alice,
        &json!({"of": created, "action": "update", "draft": renamed}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.to_string()
            .contains("keeps the offering, environment, team and name"),
        "{body}"
    );
    assert_eq!(app.count("requests").await, 1, "nothing stored");
}

#[tokio::test]
async fn a_delete_removes_the_file_and_prunes_the_kustomizations() {
    let repo = Repo::new();
    let app = repo.app().await;
    let (alice, created) = committed(&app).await;
    let (status, body) = change(&app, &alice, &json!({"of": created, "action": "delete"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deletion = body["id"].as_str().unwrap().to_owned();
    // A second change while this one is on its way is refused.
    let (status, body) = change(&app, &alice, &json!({"of": created, "action": "delete"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("still on its way"), "{body}");

    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    let history = repo.history();
    assert!(
        history[0]
            .message
            .starts_with("Delete PostgreSQLInstance team-a/orders-db")
    );
    assert_eq!(
        history[0].trailer("Slipway-Request-Id"),
        Some(deletion.as_str())
    );
    assert!(repo.show(PATH).is_none());
    assert!(
        repo.show("dev/team-a/kustomization.yaml").is_none(),
        "emptied folders go"
    );
    let dev: Value = serde_saphyr::from_str(&repo.show("dev/kustomization.yaml").unwrap()).unwrap();
    assert!(
        dev["resources"].as_array().is_none_or(Vec::is_empty),
        "{dev}"
    );
    let (_, detail) = request(&app, &alice, &deletion).await;
    assert_eq!(detail["summary"]["action"], "delete");
    assert_eq!(
        app.count("audit_log WHERE action = 'request.delete'").await,
        1,
        "the refused second delete is not audited as done"
    );
    assert_eq!(event_kinds(&detail), ["submitted", "committed"]);

    // Nothing left to change.
    let (status, body) = change(&app, &alice, &json!({"of": deletion, "action": "delete"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.to_string().contains("no longer in the repository"),
        "{body}"
    );
}

#[tokio::test]
async fn another_team_can_neither_edit_nor_delete_a_claim() {
    let repo = Repo::new();
    let app = repo.app().await;
    let (_, created) = committed(&app).await;
    let bob = app.login_as("bob").await;
    let (status, _) = change(&app, &bob, &json!({"of": created, "action": "delete"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let res = app
        .server_fn(
            "requests/change-source",
            Some(&bob),
            &format!("of={created}"),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("requests").await, 1);
}

#[tokio::test]
async fn an_environment_with_its_own_repository_and_prefix_is_committed_there_by_its_own_writer() {
    let repo = Repo::new();
    let prod_bare = repo.dir.path().join("gitops-prod.git");
    git(
        repo.dir.path(),
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "gitops-prod.git",
        ],
    );
    let file = repo.dir.path().join("environments.yaml");
    std::fs::write(
        &file,
        format!(
            "prod:\n  repository: file://{}\n  pathPrefix: clusters\n",
            prod_bare.display()
        ),
    )
    .unwrap();
    let settings = repo.settings_with(&["--environments-file", file.to_str().unwrap()]);
    let app = repo.app_with(settings).await;
    assert_eq!(
        app.state.environments.writers().len(),
        2,
        "the catalog repository's (dev, staging) and prod's"
    );
    let alice = app.login_as("alice").await;
    let mut body = draft("team-a", "orders-db", 20);
    body["draft"]["environment"] = json!("prod");

    let preview = app
        .server_fn_json("catalog/preview", Some(&alice), &body)
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let path = "clusters/prod/team-a/postgresqlinstance/orders-db.yaml";
    assert!(preview.body.contains(path), "{}", preview.body);

    let id = submit(&app, &alice, &body).await;
    let main_before = repo.history().len();
    for writer in app.state.environments.writers() {
        writer.run_once().await.unwrap();
    }
    assert_eq!(
        repo.history().len(),
        main_before,
        "the catalog repository is untouched"
    );
    let show = |path: &str| show_in(&prod_bare, path);
    assert!(show(path).unwrap().contains(&id));
    assert!(
        show("clusters/prod/kustomization.yaml")
            .unwrap()
            .contains("team-a")
    );
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(detail["summary"]["stage"], "committed");

    // Deleting it empties the environment's folders, but the prefix folder stays.
    let (status, body) = change(&app, &alice, &json!({"of": id, "action": "delete"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for writer in app.state.environments.writers() {
        writer.run_once().await.unwrap();
    }
    assert!(show(path).is_none());
    assert!(show("clusters/prod/team-a/kustomization.yaml").is_none());
    assert!(
        show("clusters/prod/kustomization.yaml")
            .unwrap()
            .contains("resources: []")
    );
}

#[tokio::test]
async fn over_ssh_the_key_and_the_host_key_are_both_checked_and_a_refusal_loses_nothing() {
    let repo = Repo::new();
    let ssh_dir = repo.dir.path().join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let ssh = GitSsh::start(&ssh_dir);
    let url = ssh.url(&repo.bare);
    let with = |key: &std::path::Path, hosts: &std::path::Path| {
        let mut settings = common::settings(&[
            "--dev-login",
            "--git-url",
            &url,
            "--git-ssh-key-file",
            key.to_str().unwrap(),
            "--git-known-hosts-file",
            hosts.to_str().unwrap(),
        ]);
        settings.git.clone_dir = repo.dir.path().join("clones");
        settings
    };
    let app = repo.app_with(with(&ssh.client_key, &ssh.known_hosts)).await;
    let alice = app.login_as("alice").await;
    let before = repo.history().len();

    // A server whose host key is not the known one is refused before any credential is sent.
    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    let spoofed = with(&ssh.client_key, &ssh.wrong_known_hosts);
    assert_eq!(
        another_writer(&app, &spoofed)
            .run_once()
            .await
            .unwrap()
            .postponed,
        1
    );
    let (_, detail) = request(&app, &alice, &id).await;
    let error = detail["git"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("The Git remote's SSH host key is not the known one"),
        "{error}"
    );

    // A key the server does not accept.
    let stranger = with(&ssh.stranger_key, &ssh.known_hosts);
    sqlx::query("UPDATE git_jobs SET next_attempt_at = 0")
        .execute(app.db().pool())
        .await
        .unwrap();
    assert_eq!(
        another_writer(&app, &stranger)
            .run_once()
            .await
            .unwrap()
            .postponed,
        1
    );
    let (_, detail) = request(&app, &alice, &id).await;
    let error = detail["git"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("The Git remote refused the portal's credentials"),
        "{error}"
    );
    assert_eq!(repo.history().len(), before);

    // The right key and host: committed once.
    sqlx::query("UPDATE git_jobs SET next_attempt_at = 0")
        .execute(app.db().pool())
        .await
        .unwrap();
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    assert_eq!(repo.history().len(), before + 1);
    assert_eq!(
        repo.history()[0].trailer("Slipway-Request-Id"),
        Some(id.as_str())
    );
}
