//! The `slipway` client, the real binary against a portal served on a real socket: its
//! `--dry-run` prints the browser's preview byte for byte, `login` keeps the token readable by
//! its owner only (and only ever sent to the address it was stored for), `--wait ready` exits 0
//! once the claim is Ready in the Kubernetes API double and 4 with the root cause when it stays
//! failed, and a read-only token is refused with its code.

mod common;

use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use common::TestApp;
use common::kube::{kubeconfig, register_kinds};
use common::repo::Repo;
use kube_double::KubeDouble;
use serde_json::{Value, json};

const CLAIM_API: &str = "database.example.org/v1alpha1";

/// The portal on a loopback port; its address.
async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(slipway::http::serve::listen(
        listener,
        router,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

async fn token(app: &TestApp, handle: &str, scopes: &str) -> String {
    let cookie = app.login_as(handle).await;
    app.api_token(&cookie, scopes).await
}

/// The client binary with the portal's address and a token in its environment.
fn slipway(url: &str, token: &str, config: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"));
    command
        .env("SLIPWAY_URL", url)
        .env("SLIPWAY_TOKEN", token)
        .env("SLIPWAY_CLIENT_CONFIG", config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(mut command: tokio::process::Command, args: &[&str]) -> Ran {
    let out = tokio::time::timeout(Duration::from_secs(60), command.args(args).output())
        .await
        .expect("the client ends")
        .unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_dry_run_prints_the_browsers_preview_byte_for_byte_and_login_keeps_the_token_private() {
    let repo = Repo::new();
    let app = repo.app().await;
    let url = serve(&app).await;
    let write = token(&app, "alice", "read write").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("client.json");

    let cli = run(
        slipway(&url, &write, &config),
        &[
            "request",
            "create",
            "postgresql",
            "--env",
            "dev",
            "--team",
            "team-a",
            "--name",
            "orders-db",
            "--set",
            "storageGB=30",
            "--set",
            "version=\"16\"",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(cli.code, Some(0), "{}", cli.stderr);
    let alice = app.login_as("alice").await;
    let browser = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &json!({"draft": {"offering": "postgresql", "environment": "dev", "team": "team-a",
                "name": "orders-db", "values": {"storageGB": 30, "version": "16"}}}),
        )
        .await;
    assert_eq!(browser.status, StatusCode::OK, "{}", browser.body);
    let preview: app::catalog::Preview = serde_json::from_str(&browser.body).unwrap();
    let shown = slipway::client::commands::diff_text(&preview);
    assert!(shown.contains("+     storageGB: 30"), "{shown}");
    assert_eq!(cli.stdout, format!("{shown}\n"));
    assert_eq!(app.count("requests").await, 0, "a dry run submits nothing");

    // `login` checks the token and keeps it readable by its owner only; later commands need
    // no token in their environment.
    let mut login = slipway(&url, "", &config);
    login.env_remove("SLIPWAY_TOKEN").stdin(Stdio::piped());
    let mut child = login.args(["login", "--url", &url]).spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{write}\n").as_bytes())
            .await
            .unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("as Alice Archer"));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut listed = slipway(&url, "", &config);
    listed.env_remove("SLIPWAY_TOKEN").env_remove("SLIPWAY_URL");
    let listed = run(listed, &["catalog", "list", "-o", "json"]).await;
    // The stored token goes to the address it was stored for, never to another.
    let mut elsewhere = slipway("http://127.0.0.1:9", "", &config);
    elsewhere.env_remove("SLIPWAY_TOKEN");
    let elsewhere = run(elsewhere, &["catalog", "list"]).await;
    assert_eq!(elsewhere.code, Some(1));
    assert!(
        elsewhere.stderr.contains("the stored token is for"),
        "{}",
        elsewhere.stderr
    );
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let offerings: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert!(
        offerings
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == "postgresql")
    );

    // A read-only token is refused with the API's code; nothing is stored.
    let read = token(&app, "alice", "read").await;
    let refused = run(
        slipway(&url, &read, &config),
        &[
            "request",
            "create",
            "postgresql",
            "--env",
            "dev",
            "--team",
            "team-a",
            "--name",
            "orders-db",
            "--set",
            "version=\"16\"",
        ],
    )
    .await;
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("insufficient_scope"),
        "{}",
        refused.stderr
    );
    assert_eq!(app.count("requests").await, 0);

    let completions = run(slipway(&url, &read, &config), &["completions", "bash"]).await;
    assert_eq!(completions.code, Some(0));
    assert!(completions.stdout.contains("slipway"));
}

/// A portal whose `dev` reconciles in an API double, with its background (writer, watchers,
/// recorder) running.
struct World {
    _repo: Repo,
    dev: KubeDouble,
    app: TestApp,
    url: String,
    token: String,
    _background: slipway::http::serve::Background,
    _kubeconfig: tempfile::NamedTempFile,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let repo = Repo::new();
    let dev = KubeDouble::start().await.unwrap();
    register_kinds(&dev);
    let kubeconfig = kubeconfig(&[("dev", dev.url())]);
    let mut settings = repo.settings_with(&[
        "--clusters",
        "dev-cp=dev",
        "--environments",
        "dev@dev-cp,staging,prod",
        "--kubeconfig",
        kubeconfig.path().to_str().unwrap(),
    ]);
    settings.control_plane.rediscover = Duration::from_millis(300);
    for environment in &mut settings.environments {
        if environment.name != "dev" {
            environment.cluster = None;
        }
    }
    let app = repo.app_with(settings).await;
    let background = slipway::http::serve::start_background(&app.state)
        .await
        .unwrap();
    let url = serve(&app).await;
    let token = token(&app, "alice", "read write").await;
    World {
        _repo: repo,
        dev,
        app,
        url,
        token,
        _background: background,
        _kubeconfig: kubeconfig,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    /// Starts `slipway request create … --wait ready` for claim `name`.
    fn create_and_wait(&self, name: &str) -> tokio::process::Child {
        let mut command = slipway(&self.url, &self.token, &self.dir.path().join("client.json"));
        command
            .args([
                "request",
                "create",
                "postgresql",
                "--env",
                "dev",
                "--team",
                "team-a",
                "--name",
                name,
                "--set",
                "version=\"16\"",
                "--wait",
                "ready",
                "--timeout",
                "60s",
                "--failure-grace",
                "1s",
            ])
            .spawn()
            .unwrap()
    }

    /// The request for claim `name` once committed, and its manifest applied to the double
    /// (as the applier would) with these conditions.
    async fn apply_committed(&self, name: &str, conditions: Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let content = loop {
            let found: Option<(String, String)> = sqlx::query_as(
                "SELECT state, content FROM requests WHERE name = $1 AND environment = 'dev'",
            )
            .bind(name)
            .fetch_optional(self.app.db().pool())
            .await
            .unwrap();
            if let Some((state, content)) = found
                && state != "submitted"
            {
                break content;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not committed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let manifest: Value = serde_yaml::from_str(&content).unwrap();
        self.dev.apply(manifest).unwrap();
        self.dev
            .patch_status(
                CLAIM_API,
                "PostgreSQLInstance",
                "team-a",
                name,
                json!({"conditions": conditions}),
            )
            .unwrap();
    }
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-12-07T10:00:00Z"})
}

#[tokio::test]
async fn create_wait_ready_exits_0_once_ready_and_4_with_the_root_cause_when_the_claim_stays_failed()
 {
    let w = world().await;
    let child = w.create_and_wait("orders-db");
    w.apply_committed(
        "orders-db",
        json!([
            condition("Synced", "True", "ReconcileSuccess", ""),
            condition("Ready", "True", "Available", "")
        ]),
    )
    .await;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the client ends once Ready")
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let (id,): (String,) = sqlx::query_as("SELECT id FROM requests WHERE name = 'orders-db'")
        .fetch_one(w.app.db().pool())
        .await
        .unwrap();
    assert_eq!(stdout.trim(), id, "the request id on standard output");
    assert!(stderr.contains(&format!("{id}: Ready")), "{stderr}");

    let child = w.create_and_wait("billing-db");
    w.apply_committed(
        "billing-db",
        json!([
            condition(
                "Synced",
                "False",
                "ReconcileError",
                "cannot create instance: storage quota exceeded"
            ),
            condition("Ready", "False", "Creating", "")
        ]),
    )
    .await;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the client ends once failed")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("storage quota exceeded"), "{stderr}");
}
