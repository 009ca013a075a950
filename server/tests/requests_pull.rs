//! Pull-request mode against the forge double, once per forge API (GitHub, GitLab, Gitea):
//! the request's own branch on the real remote, one pull request however often the job
//! runs, merges recorded from signed webhooks (forged ones refused) or found by polling.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use common::forge::ForgeDouble;
use common::replica::{Replica, kill_pid, wait_for_file};
use common::repo::Repo;
use common::requests::{draft_in, event_kinds as kinds, request, submit, writer};
use serde_json::Value;
use slipway::config::ForgeKind;
use slipway::git::pulls::request_branch;

const KINDS: [ForgeKind; 3] = [ForgeKind::GitHub, ForgeKind::GitLab, ForgeKind::Gitea];

struct Setup {
    repo: Repo,
    forge: ForgeDouble,
    app: TestApp,
    /// The pull-request arguments (`prod` through the forge).
    args: Vec<String>,
}

fn forge_name(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::GitHub => "github",
        ForgeKind::GitLab => "gitlab",
        ForgeKind::Gitea => "gitea",
    }
}

/// `prod` through pull requests on `forge` with `token`.
fn pull_args(kind: ForgeKind, forge: &ForgeDouble, token: &str) -> Vec<String> {
    [
        "--pull-request-environments",
        "prod",
        "--forge",
        forge_name(kind),
        "--forge-api-url",
        &forge.api_url(),
        "--forge-project",
        "acme/gitops",
        "--forge-token",
        token,
        "--forge-webhook-secret",
        "hook-secret",
        "--forge-poll-secs",
        "60",
    ]
    .map(str::to_owned)
    .to_vec()
}

async fn setup(kind: ForgeKind) -> Setup {
    setup_with_token(kind, "forge-token").await
}

async fn setup_with_token(kind: ForgeKind, token: &str) -> Setup {
    let repo = Repo::new();
    let forge = ForgeDouble::start(
        kind,
        repo.bare.clone(),
        "acme/gitops",
        "forge-token",
        "hook-secret",
    )
    .await;
    let args = pull_args(kind, &forge, token);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = repo.app_with(repo.settings_with(&refs)).await;
    Setup {
        repo,
        forge,
        app,
        args,
    }
}

fn draft(environment: &str, name: &str) -> Value {
    draft_in(environment, "team-a", name, 20)
}

async fn detail(app: &TestApp, cookie: &str, id: &str) -> Value {
    let (status, detail) = request(app, cookie, id).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail
}

async fn deliver(app: &TestApp, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> StatusCode {
    let mut request = Request::post("/api/hooks/forge").header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    app.send(request.body(Body::from(body)).unwrap())
        .await
        .status
}

fn remote_branch_exists(repo: &Repo, branch: &str) -> bool {
    std::process::Command::new("git")
        .args([
            "--git-dir",
            repo.bare.to_str().unwrap(),
            "rev-parse",
            "--verify",
            "--quiet",
        ])
        .arg(format!("refs/heads/{branch}"))
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn a_pull_request_is_opened_and_its_merge_recorded_from_a_signed_webhook_on_every_forge() {
    for kind in KINDS {
        let Setup {
            repo, forge, app, ..
        } = setup(kind).await;
        let alice = app.login_as("alice").await;
        let main_before = repo.history().len();
        let id = submit(&app, &alice, &draft("prod", "orders-db")).await;

        let report = writer(&app).run_once().await.unwrap();
        assert_eq!(report.committed, 1, "{kind:?}: {report:?}");
        assert_eq!(
            repo.history().len(),
            main_before,
            "{kind:?}: main untouched until the merge"
        );
        assert!(
            remote_branch_exists(&repo, &request_branch(&id)),
            "{kind:?}: branch pushed"
        );

        let pulls = forge.pulls();
        assert_eq!(pulls.len(), 1, "{kind:?}");
        assert_eq!(pulls[0].branch, format!("slipway/{id}"));
        assert_eq!(pulls[0].base, "main");
        assert_eq!(pulls[0].title, "Create PostgreSQLInstance team-a/orders-db");
        assert!(
            pulls[0].body.contains(&format!("/requests/{id}")),
            "{kind:?}: links back: {}",
            pulls[0].body
        );

        let d = detail(&app, &alice, &id).await;
        assert_eq!(d["summary"]["stage"], "pr_opened", "{kind:?}");
        assert!(
            d["pull_request"].as_str().unwrap().ends_with("/1"),
            "{kind:?}: {}",
            d["pull_request"]
        );
        assert!(d["commit"].is_null(), "{kind:?}: nothing in main yet");

        // A forged delivery changes nothing; a webhook for a still-open PR records nothing.
        let (headers, body) = forge.delivery_signed_with(1, "not-the-secret");
        assert_eq!(
            deliver(&app, headers, body).await,
            StatusCode::UNAUTHORIZED,
            "{kind:?}"
        );
        let (headers, body) = forge.delivery(1);
        assert_eq!(
            deliver(&app, headers, body).await,
            StatusCode::OK,
            "{kind:?}"
        );
        assert_eq!(
            kinds(&detail(&app, &alice, &id).await),
            ["submitted", "pr_opened"],
            "{kind:?}"
        );

        let merge = forge.merge(1);
        let (headers, body) = forge.delivery(1);
        assert_eq!(
            deliver(&app, headers.clone(), body.clone()).await,
            StatusCode::OK,
            "{kind:?}"
        );
        let d = detail(&app, &alice, &id).await;
        assert_eq!(d["summary"]["stage"], "merged", "{kind:?}");
        assert_eq!(d["commit"], merge, "{kind:?}");
        assert!(
            repo.show("prod/team-a/postgresqlinstance/orders-db.yaml")
                .is_some(),
            "{kind:?}"
        );

        // Replayed delivery and a poll: still one `merged`.
        assert_eq!(deliver(&app, headers, body).await, StatusCode::OK);
        assert_eq!(writer(&app).check_pulls().await.unwrap(), 0);
        assert_eq!(
            kinds(&detail(&app, &alice, &id).await),
            ["submitted", "pr_opened", "merged"],
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn a_pull_request_closed_without_merging_is_found_by_polling() {
    for kind in KINDS {
        let Setup {
            forge,
            app,
            repo: _repo,
            ..
        } = setup(kind).await;
        let alice = app.login_as("alice").await;
        let id = submit(&app, &alice, &draft("prod", "orders-db")).await;
        writer(&app).run_once().await.unwrap();
        assert_eq!(
            writer(&app).check_pulls().await.unwrap(),
            0,
            "{kind:?}: still open"
        );
        forge.close(1);
        assert_eq!(writer(&app).check_pulls().await.unwrap(), 1, "{kind:?}");
        let d = detail(&app, &alice, &id).await;
        assert_eq!(d["summary"]["stage"], "closed", "{kind:?}");
        assert_eq!(kinds(&d), ["submitted", "pr_opened", "closed"]);
    }
}

#[tokio::test]
async fn a_writer_that_died_after_pushing_the_branch_or_opening_the_pull_request_leaves_exactly_one()
 {
    for kind in KINDS {
        let Setup {
            repo,
            forge,
            app,
            args,
        } = setup(kind).await;
        let alice = app.login_as("alice").await;
        let id = submit(&app, &alice, &draft("prod", "orders-db")).await;

        // A portal process pushes the request's branch and is killed before it records
        // anything (held in the remote's post-receive hook).
        let signal = repo.dir.path().join("pushed");
        repo.hook(
            "post-receive",
            &format!(
                "#!/bin/sh\ncat > /dev/null\necho $$ > '{}'\nsleep 120\n",
                signal.display()
            ),
        );
        let mut replica_args = vec![
            "--git-url".to_owned(),
            format!("file://{}", repo.bare.display()),
            "--lease-ttl-secs".into(),
            "2".into(),
        ];
        replica_args.extend(args.iter().cloned());
        let refs: Vec<&str> = replica_args.iter().map(String::as_str).collect();
        let mut crashing =
            Replica::start(repo.dir.path(), "crashing", &app.test_db.url, &refs).await;
        let hook = wait_for_file(&signal, "the branch push").await;
        crashing.kill();
        kill_pid(&hook);
        repo.hook("post-receive", "#!/bin/sh\nexit 0\n");
        assert!(remote_branch_exists(&repo, &request_branch(&id)));
        // Its lease lapses before the next writer may start.
        tokio::time::sleep(Duration::from_secs(3)).await;
        // As if the dead run had also opened the pull request before it died.
        let number = forge.open_by_hand(&request_branch(&id), "main");

        let report = writer(&app).run_once().await.unwrap();
        assert_eq!(report.committed, 1, "{kind:?}: {report:?}");
        assert_eq!(
            forge.pulls().len(),
            1,
            "{kind:?}: the open one was found, not a second opened"
        );
        let d = detail(&app, &alice, &id).await;
        assert_eq!(d["summary"]["stage"], "pr_opened");
        assert!(
            d["pull_request"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{number}"))
        );
        let branch_commits = repo_branch_commits(&repo, &request_branch(&id));
        assert_eq!(
            branch_commits, 1,
            "{kind:?}: one commit on the request branch"
        );
    }
}

fn repo_branch_commits(repo: &Repo, branch: &str) -> usize {
    let out = std::process::Command::new("git")
        .args([
            "--git-dir",
            repo.bare.to_str().unwrap(),
            "rev-list",
            "--count",
        ])
        .arg(format!("main..{branch}"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn direct_environments_still_commit_directly_next_to_pull_request_ones() {
    let Setup {
        repo, forge, app, ..
    } = setup(ForgeKind::GitHub).await;
    let alice = app.login_as("alice").await;
    let before = repo.history().len();
    let direct = submit(&app, &alice, &draft("dev", "orders-db")).await;
    let reviewed = submit(&app, &alice, &draft("prod", "orders-db")).await;
    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.committed, 2, "{report:?}");
    assert_eq!(repo.history().len(), before + 1, "only dev went to main");
    assert_eq!(forge.pulls().len(), 1);
    assert_eq!(
        detail(&app, &alice, &direct).await["summary"]["stage"],
        "committed"
    );
    assert_eq!(
        detail(&app, &alice, &reviewed).await["summary"]["stage"],
        "pr_opened"
    );
}

#[tokio::test]
async fn a_forge_refusing_the_token_keeps_the_request_waiting_with_the_reason() {
    let Setup {
        forge,
        app,
        repo: _repo,
        ..
    } = setup_with_token(ForgeKind::GitLab, "expired").await;
    let alice = app.login_as("alice").await;
    let id = submit(&app, &alice, &draft("prod", "orders-db")).await;
    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.postponed, 1, "{report:?}");
    let d = detail(&app, &alice, &id).await;
    assert_eq!(d["summary"]["stage"], "waiting_for_git");
    let error = d["git"]["last_error"].as_str().unwrap();
    assert!(
        error.contains("the forge refused the call (401)"),
        "{error}"
    );
    assert!(!error.contains("expired"), "no token in messages");
    assert!(forge.pulls().is_empty());
}

#[tokio::test]
async fn webhooks_are_refused_when_no_secret_is_configured() {
    let repo = Repo::new();
    let app = repo.app().await;
    let status = deliver(
        &app,
        vec![("x-hub-signature-256", "sha256=00".into())],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
