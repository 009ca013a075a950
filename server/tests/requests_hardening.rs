//! The write path under pressure: a remote that stalls, a remote that refuses one change of
//! a batch, a push race forced by the remote itself, two edits of one file at the same
//! moment, hostile keys and formats the API server would refuse.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::TestApp;
use common::git_http::GitHttp;
use common::repo::Repo;
use common::requests::{draft_in, event_kinds, request, submit, writer};
use common::stall::Stall;
use serde_json::{Value, json};

fn draft(team: &str, name: &str, storage: i64) -> Value {
    draft_in("dev", team, name, storage)
}

fn trailer_counts(repo: &Repo) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for commit in repo.history() {
        if let Some(id) = commit.trailer("Slipway-Request-Id") {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts
}

async fn due_now(app: &TestApp) {
    sqlx::query("UPDATE git_jobs SET next_attempt_at = 0")
        .execute(app.db().pool())
        .await
        .unwrap();
}

/// Loads the catalog from the seeded files on disk (for remotes the catalog cannot be
/// fetched from).
fn catalog_from_disk(app: &TestApp, repo: &Repo) {
    app.state.catalog.apply(
        slipway::catalog::source::FileSource::Dir(repo.work.join("catalog"))
            .load(&app.state.environments.names(), String::new())
            .unwrap(),
    );
}

#[tokio::test]
async fn a_remote_that_accepts_and_never_answers_becomes_waiting_for_git_within_the_deadline_and_recovers()
 {
    let repo = Repo::new();
    let server = GitHttp::start(repo.dir.path(), "gitops-bot", "s3cret").await;
    let front = Stall::start(server.addr()).await;
    let url = front.url("gitops.git");
    let mut settings = common::settings(&[
        "--dev-login",
        "--git-url",
        &url,
        "--git-username",
        "gitops-bot",
        "--git-token",
        "s3cret",
        "--git-timeout-secs",
        "3",
        // Git's own low-speed limit is left far off: what stops the silent push is the
        // portal's deadline on the whole process.
        "--git-stall-secs",
        "600",
    ]);
    settings.git.clone_dir = repo.dir.path().join("clones");
    let app = TestApp::with_settings(settings).await;
    catalog_from_disk(&app, &repo);
    let alice = app.login_as("alice").await;
    front.set(true);

    // Submitting does not hang on the silent remote: it waits a few seconds at most for the
    // "already there?" fetch, then takes the request.
    let started = Instant::now();
    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let before = repo.history().len();

    let started = Instant::now();
    let report = writer(&app).run_once().await.unwrap();
    let took = started.elapsed();
    assert_eq!((report.postponed, report.settled()), (1, 0), "{report:?}");
    // A bound, not a benchmark: without the deadline this pass would wait ten minutes.
    assert!(
        took < Duration::from_secs(60),
        "the git process was stopped at its deadline, not waited for: {took:?}"
    );
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(detail["summary"]["stage"], "waiting_for_git");
    let error = detail["git"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("The Git remote did not answer in time"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "no secret in messages");
    assert_eq!(repo.history().len(), before);

    // The remote answers again: the same request goes through, once.
    front.set(false);
    due_now(&app).await;
    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.committed, 1, "{report:?}");
    assert_eq!(trailer_counts(&repo).get(&id), Some(&1));
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(
        event_kinds(&detail),
        ["submitted", "waiting_for_git", "committed"]
    );
}

#[tokio::test]
async fn a_change_the_remote_refuses_fails_alone_and_the_other_ninety_nine_land() {
    let repo = Repo::new();
    // The remote's size rule: no 499 GiB databases. It names its reason, as hooks do.
    repo.hook(
        "pre-receive",
        r#"#!/bin/sh
while read old new ref; do
  if git log -p "$new" --not --all 2>/dev/null | grep -q 'storageGB: 499'; then
    echo "size rule: 499 GiB databases need the platform team's approval" >&2
    exit 1
  fi
done
exit 0
"#,
    );
    let settings = repo.settings_with(&["--git-max-attempts", "2"]);
    let app = repo.app_with(settings).await;
    let carol = app.login_as("carol").await;
    let base = repo.history().len();
    let mut ids = Vec::new();
    for i in 0..100 {
        let storage = if i == 42 { 499 } else { 20 + i };
        let team = if i % 2 == 0 { "team-a" } else { "team-b" };
        ids.push(submit(&app, &carol, &draft(team, &format!("db-{i:03}"), storage)).await);
    }
    let refused = ids[42].clone();

    let report = writer(&app).run_once().await.unwrap();
    assert_eq!(report.committed, 99, "{report:?}");
    assert_eq!(report.refused, 1, "{report:?}");
    let counts = trailer_counts(&repo);
    assert_eq!(counts.len(), 99);
    assert!(!counts.contains_key(&refused));
    assert_eq!(repo.history().len(), base + 99);
    let pat = app.login_as("pat").await;
    let (_, detail) = request(&app, &pat, &refused).await;
    assert_eq!(
        detail["summary"]["stage"], "waiting_for_git",
        "one refusal of two allowed"
    );

    // The second refusal fails it, with the remote's own words, and nothing else is touched.
    due_now(&app).await;
    let report = writer(&app).run_once().await.unwrap();
    assert_eq!((report.failed, report.committed), (1, 0), "{report:?}");
    let (_, detail) = request(&app, &pat, &refused).await;
    assert_eq!(detail["summary"]["stage"], "failed");
    let message = detail["events"].as_array().unwrap().last().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("refused this change 2 time(s)"),
        "{message}"
    );
    assert!(message.contains("499 GiB databases need"), "{message}");
    assert_eq!(repo.history().len(), base + 99);

    // Administrators see it among the Git jobs, and may send it back once the rule changes.
    let jobs = app.server_fn("admin/git-jobs", Some(&pat), "").await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.body);
    let jobs: Value = serde_json::from_str(&jobs.body).unwrap();
    let listed = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["request"]["id"] == refused.as_str())
        .expect("the failed job is listed");
    assert_eq!(listed["failed"], true);
    assert!(listed["last_error"].as_str().unwrap().contains("499 GiB"));
    assert_eq!(
        app.server_fn("admin/git-jobs", Some(&carol), "")
            .await
            .status,
        StatusCode::FORBIDDEN,
        "members do not see the queue"
    );
    assert_eq!(
        app.server_fn(
            "admin/git-jobs/retry",
            Some(&carol),
            &format!("id={refused}")
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    repo.hook("pre-receive", "#!/bin/sh\nexit 0\n");
    let retried = app
        .server_fn("admin/git-jobs/retry", Some(&pat), &format!("id={refused}"))
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    let (_, detail) = request(&app, &pat, &refused).await;
    assert_eq!(
        event_kinds(&detail),
        [
            "submitted",
            "waiting_for_git",
            "failed",
            "retried",
            "committed"
        ]
    );
    assert_eq!(
        app.count("audit_log WHERE action = 'git_job.retry'").await,
        1
    );
}

#[tokio::test]
async fn an_administrator_abandons_a_job_stuck_on_an_unreachable_remote_with_a_reason() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let pat = app.login_as("pat").await;
    let id = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    let hidden = repo.dir.path().join("away.git");
    std::fs::rename(&repo.bare, &hidden).unwrap();
    assert_eq!(writer(&app).run_once().await.unwrap().postponed, 1);

    let refused = app
        .server_fn(
            "admin/git-jobs/abandon",
            Some(&pat),
            &format!("id={id}&reason="),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is needed"
    );
    let abandoned = app
        .server_fn(
            "admin/git-jobs/abandon",
            Some(&pat),
            &format!("id={id}&reason=the+repository+moved"),
        )
        .await;
    assert_eq!(abandoned.status, StatusCode::OK, "{}", abandoned.body);
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(detail["summary"]["stage"], "failed");
    assert_eq!(
        event_kinds(&detail),
        ["submitted", "waiting_for_git", "abandoned"]
    );
    assert!(
        detail["events"][2]["message"]
            .as_str()
            .unwrap()
            .contains("the repository moved")
    );
    assert_eq!(detail["events"][2]["actor"], "Pat Platform");
    assert_eq!(
        app.count("audit_log WHERE action = 'git_job.abandon'")
            .await,
        1
    );

    std::fs::rename(&hidden, &repo.bare).unwrap();
    due_now(&app).await;
    assert_eq!(
        writer(&app).run_once().await.unwrap().settled(),
        0,
        "never written"
    );
}

#[tokio::test]
async fn a_push_race_forced_by_the_remote_is_retried_and_every_request_lands_once() {
    let repo = Repo::new();
    let marker = repo.dir.path().join("raced");
    // On the first push only, someone else's commit lands on main while the portal's push is
    // being received: the portal's ref update then fails as a race.
    repo.hook(
        "pre-receive",
        &format!(
            r#"#!/bin/sh
cat > /dev/null
[ -e '{marker}' ] && exit 0
touch '{marker}'
# Leave receive-pack's quarantine: the foreign commit goes straight into the repository.
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
old=$(git rev-parse refs/heads/main)
tree=$(git rev-parse "$old^{{tree}}")
foreign=$(echo "Out-of-band change" | GIT_AUTHOR_NAME=Dana GIT_AUTHOR_EMAIL=dana@example.com GIT_COMMITTER_NAME=Dana GIT_COMMITTER_EMAIL=dana@example.com git commit-tree "$tree" -p "$old")
git update-ref refs/heads/main "$foreign" "$old"
exit 0
"#,
            marker = marker.display()
        ),
    );
    let app = repo.app().await;
    let carol = app.login_as("carol").await;
    let base = repo.history().len();
    let mut ids = Vec::new();
    for i in 0..20 {
        let team = if i % 2 == 0 { "team-a" } else { "team-b" };
        ids.push(submit(&app, &carol, &draft(team, &format!("db-{i:03}"), 20 + i)).await);
    }
    let mut races = 0;
    let mut committed = 0;
    while app.count("git_jobs WHERE status = 'pending'").await > 0 {
        let report = writer(&app).run_once().await.unwrap();
        races += report.races;
        committed += report.committed;
        assert!(report.settled() > 0 || report.races > 0, "{report:?}");
    }
    assert!(marker.exists(), "the remote forced its race");
    assert!(races >= 1, "the race was met and retried");
    assert_eq!(committed, 20);
    let counts = trailer_counts(&repo);
    for id in &ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "request {id} committed exactly once"
        );
    }
    let history = repo.history();
    assert_eq!(
        history.len(),
        base + 21,
        "twenty requests and the foreign commit"
    );
    assert!(
        history
            .iter()
            .any(|c| c.author == "Dana <dana@example.com>")
    );
    assert!(history.iter().all(|c| c.parents <= 1), "linear history");
}

#[tokio::test]
async fn two_concurrent_edits_of_one_file_one_is_accepted_and_the_other_refused_clearly() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let created = submit(&app, &alice, &draft("team-a", "orders-db", 20)).await;
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);

    // Hold the outbox so both edits pass every check before either is stored: the database's
    // unique index is then the only thing that can tell them apart.
    let backend = app.db().backend();
    let mut blocker = app.db().pool().begin().await.unwrap();
    match backend {
        slipway::db::Backend::Postgres => {
            sqlx::query("LOCK TABLE git_jobs IN EXCLUSIVE MODE")
                .execute(&mut *blocker)
                .await
                .unwrap();
        }
        slipway::db::Backend::Sqlite => {
            // SQLite has one writer: a write in this transaction holds the lock.
            sqlx::query("UPDATE git_jobs SET attempts = attempts WHERE 1 = 0")
                .execute(&mut *blocker)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ('test-hold', 'test', 0)",
            )
            .execute(&mut *blocker)
            .await
            .unwrap();
        }
    }
    let edit = |storage: i64| {
        let app = &app;
        let alice = &alice;
        let created = &created;
        async move {
            let body = json!({"of": created, "action": "update",
                "draft": draft("team-a", "orders-db", storage)["draft"]});
            app.server_fn_json("requests/change", Some(alice), &body)
                .await
        }
    };
    // Both edits run until they wait on the outbox (PostgreSQL shows them waiting for the
    // lock); then the outbox is released.
    let release = async {
        let waiting = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let blocked = match backend {
                slipway::db::Backend::Postgres => sqlx::query_as::<_, (i64,)>(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                )
                .fetch_one(app.db().pool())
                .await
                .unwrap()
                .0,
                // SQLite cannot show who waits: both edits read the clone (milliseconds) and
                // are then held by the write lock; give them ample time to get there.
                slipway::db::Backend::Sqlite => {
                    i64::from(waiting.elapsed() > Duration::from_millis(1500)) * 2
                }
            };
            if blocked >= 2 || waiting.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        blocker.rollback().await.unwrap();
    };
    let ((first, second), ()) =
        tokio::join!(futures_util::future::join(edit(30), edit(40)), release);
    let statuses = [first.status, second.status];
    assert!(
        statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}: {} / {}",
        first.body,
        second.body
    );
    let refused = if first.status == StatusCode::OK {
        &second
    } else {
        &first
    };
    assert!(
        refused.body.contains("still on its way to Git"),
        "{}",
        refused.body
    );
    assert_eq!(
        app.count("requests WHERE action = 'update'").await,
        1,
        "the refused edit stored nothing"
    );
    assert_eq!(app.count("git_jobs WHERE status = 'pending'").await, 1);
}

#[tokio::test]
async fn a_key_with_a_line_break_is_refused_at_its_field_and_a_trailer_like_key_stays_a_value() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let hostile = "x\n\nSlipway-Request-Id: 0190-someone-else\n--- y";
    let body = json!({"draft": {
        "offering": "bucket", "environment": "dev", "team": "team-a", "name": "logs",
        "values": {"labels": {hostile: "v"}}
    }});
    let res = app
        .server_fn_json("requests/submit", Some(&alice), &body)
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(res.body.contains("control characters"), "{}", res.body);
    assert!(
        res.body.contains("/labels/x\\n"),
        "at the key's own path: {}",
        res.body
    );
    assert_eq!(app.count("requests").await, 0);

    // Without line breaks a key is just text in the summary: one trailer, the real one.
    let body = json!({"draft": {
        "offering": "bucket", "environment": "dev", "team": "team-a", "name": "logs",
        "values": {"labels": {"Slipway-Request-Id: 0190-someone-else": "v"}}
    }});
    let id = submit(&app, &alice, &body).await;
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 1);
    let commit = &repo.history()[0];
    let ids: Vec<&str> = commit
        .message
        .lines()
        .filter_map(|l| l.strip_prefix("Slipway-Request-Id: "))
        .collect();
    assert_eq!(ids, [id.as_str()], "{}", commit.message);
}

#[tokio::test]
async fn a_format_the_api_server_checks_is_checked_at_its_field_before_anything_is_stored() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let with = |date: &str| {
        json!({"draft": {
            "offering": "bucket", "environment": "dev", "team": "team-a", "name": "logs",
            "values": {"deleteAfter": date}
        }})
    };
    for endpoint in ["catalog/preview", "requests/submit"] {
        let res = app
            .server_fn_json(endpoint, Some(&alice), &with("tomorrow"))
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(res.body.contains("/deleteAfter"), "{}", res.body);
        assert!(res.body.contains("valid date"), "{}", res.body);
    }
    assert_eq!(app.count("requests").await, 0);
    submit(&app, &alice, &with("2027-01-31")).await;
    assert_eq!(app.count("requests").await, 1);
}
