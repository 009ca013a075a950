//! Exactly once across real crashes: the portal runs as its own process, the remote holds
//! the push in a hook at the moment under test, and the process is killed with SIGKILL. A
//! portal started again over the same data folder and database must end with exactly one
//! commit per request and one ledger event per stage.

mod common;

use std::time::Duration;

use common::TestApp;
use common::replica::{Replica, kill_pid, wait_for_file};
use common::repo::Repo;
use common::requests::{draft_in, event_kinds, request, submit};

/// A portal over `repo` in-process (to submit and read), sharing its database with the
/// replicas the test starts.
async fn portal(repo: &Repo) -> TestApp {
    repo.app().await
}

fn replica_args(repo: &Repo) -> Vec<String> {
    vec![
        "--git-url".into(),
        format!("file://{}", repo.bare.display()),
        "--lease-ttl-secs".into(),
        "2".into(),
        "--git-retry-max-secs".into(),
        "1".into(),
    ]
}

async fn start(repo: &Repo, app: &TestApp, dir: &std::path::Path) -> Replica {
    let args = replica_args(repo);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Replica::start(dir, "writer", &app.test_db.url, &args).await
}

/// Waits until no Git job is pending.
async fn drained(app: &TestApp) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while app.count("git_jobs WHERE status = 'pending'").await > 0 {
        assert!(std::time::Instant::now() < deadline, "jobs still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn commits_of(repo: &Repo, id: &str) -> usize {
    repo.history()
        .iter()
        .filter(|c| c.trailer("Slipway-Request-Id") == Some(id))
        .count()
}

/// Submits one request, lets a portal process write it until the remote's `hook` holds the
/// push, kills the process (and the hook), and starts it again over the same data folder.
/// Returns (the request, the remote's history length before, the head right after the kill,
/// the request as its page reads it at the end).
async fn crash_in(hook: &str) -> (String, usize, String, serde_json::Value, Repo) {
    let repo = Repo::new();
    let app = portal(&repo).await;
    let alice = app.login_as("alice").await;
    let id = submit(&app, &alice, &draft_in("dev", "team-a", "orders-db", 20)).await;
    let before = repo.history().len();
    let signal = repo.dir.path().join(format!("{hook}-reached"));
    repo.hook(
        hook,
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho $$ > '{}'\nsleep 120\n",
            signal.display()
        ),
    );
    let mut writer = start(&repo, &app, repo.dir.path()).await;
    let held = wait_for_file(&signal, hook).await;
    writer.kill();
    kill_pid(&held);
    let head_after_kill = repo.history()[0].sha.clone();
    let (_, detail) = request(&app, &alice, &id).await;
    assert_eq!(
        detail["summary"]["stage"], "submitted",
        "nothing recorded yet"
    );

    // Restarted over the same data folder (its clone holds what the dead run made).
    repo.hook(hook, "#!/bin/sh\nexit 0\n");
    let restarted = start(&repo, &app, repo.dir.path()).await;
    drained(&app).await;
    drop(restarted);
    let (_, detail) = request(&app, &alice, &id).await;
    (id, before, head_after_kill, detail, repo)
}

#[tokio::test]
async fn a_writer_killed_after_its_commit_and_before_its_push_commits_exactly_once_after_restart() {
    // pre-receive: the push (with its commit) arrived, no ref has moved.
    let (id, before, head_after_kill, detail, repo) = crash_in("pre-receive").await;
    assert_eq!(
        repo.history()[1].sha,
        head_after_kill,
        "nothing reached the branch before"
    );
    assert_eq!(repo.history().len(), before + 1, "one commit");
    assert_eq!(commits_of(&repo, &id), 1);
    assert_eq!(event_kinds(&detail), ["submitted", "committed"]);
    assert_eq!(detail["commit"], repo.history()[0].sha);
}

#[tokio::test]
async fn a_writer_killed_after_its_push_and_before_its_ledger_write_settles_from_the_trailer() {
    // post-receive: the branch has moved; the pusher is held before it records anything.
    let (id, before, pushed, detail, repo) = crash_in("post-receive").await;
    assert_eq!(repo.history().len(), before + 1, "no second commit");
    assert_eq!(commits_of(&repo, &id), 1);
    // Settled with the pushed commit, found by its trailer (without the history scan the
    // restarted writer would find its content in place and call it "unchanged").
    assert_eq!(event_kinds(&detail), ["submitted", "committed"]);
    assert_eq!(detail["commit"], pushed);
}
