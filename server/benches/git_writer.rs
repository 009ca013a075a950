//! The Git writer on a local bare remote: submit → commit latency (one request at a time,
//! the writer woken by the submission) and sustained commits per second (a burst of
//! submissions drained by the writer in batches of one fetch and one push).
//!
//! Run: `cargo bench -p server --bench git_writer` (release profile; prints a table). The
//! submissions go through the request service as the UI's do (validation, rendering, the
//! outbox transaction on SQLite); the remote is a `file://` bare repository on local disk.

// A bench's output is its table on stdout.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/settings.rs"]
mod settings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::catalog::RequestDraft;
use app::domain::CurrentUser;
use app::requests::Stage;
use serde_json::json;
use slipway::db::Db;
use slipway::db::users::{NewLogin, upsert_login};

struct Rig {
    _dir: tempfile::TempDir,
    state: slipway::state::AppState,
    actor: CurrentUser,
}

async fn rig(batch: i64) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("gitops.git");
    slipway::devdata::seed_repository(&bare).unwrap();
    let db = Db::connect(&format!("sqlite://{}/bench.db", dir.path().display()), 10)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let url = format!("file://{}", bare.display());
    let mut settings = settings::settings(&["--dev-login", "--git-url", &url]);
    settings.git.clone_dir = dir.path().join("clones");
    settings.git.batch = batch;
    let options = slipway::http::leptos_options(
        std::path::Path::new("target/site"),
        "127.0.0.1:3000".parse().unwrap(),
    );
    let state = slipway::state::AppState::build(options, db.clone(), settings).unwrap();
    state.catalog.refresh_files().await.unwrap();
    let actor = upsert_login(
        &db,
        &NewLogin {
            subject: "bench|alice".into(),
            display_name: "Alice Bench".into(),
            email: "alice@bench.example".into(),
            is_admin: false,
            teams: vec!["team-a".into()],
        },
    )
    .await
    .unwrap()
    .expect("an active user");
    Rig {
        _dir: dir,
        state,
        actor,
    }
}

fn draft(name: &str) -> RequestDraft {
    RequestDraft {
        offering: "postgresql".into(),
        environment: "dev".into(),
        team: "team-a".into(),
        name: name.into(),
        values: json!({"storageGB": 20, "version": "16"}),
    }
}

async fn stage(rig: &Rig, id: &str) -> Stage {
    rig.state
        .ports
        .requests
        .get(&rig.actor, id)
        .await
        .unwrap()
        .summary
        .stage
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn latency(samples: usize) {
    let rig = rig(100).await;
    let writer = rig
        .state
        .environments
        .get("dev")
        .unwrap()
        .writer
        .clone()
        .spawn(slipway::shutdown::Stopping::new());
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        let id = rig
            .state
            .ports
            .requests
            .submit(&rig.actor, &draft(&format!("lat-{i:04}")))
            .await
            .unwrap()
            .id;
        while stage(&rig, &id).await != Stage::Committed {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        times.push(started.elapsed());
    }
    writer.abort();
    times.sort();
    println!(
        "| submit → committed, one at a time ({samples} requests) | p50 {:.1} ms | p90 {:.1} ms | max {:.1} ms |",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
}

async fn throughput(requests: usize, batch: i64) {
    let rig = Arc::new(rig(batch).await);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(requests);
    for i in 0..requests {
        ids.push(
            rig.state
                .ports
                .requests
                .submit(&rig.actor, &draft(&format!("tp-{i:05}")))
                .await
                .unwrap()
                .id,
        );
    }
    let submitted = started.elapsed();
    let drain = Instant::now();
    let mut pushes = 0;
    loop {
        let report = rig
            .state
            .environments
            .get("dev")
            .unwrap()
            .writer
            .run_once()
            .await
            .unwrap();
        if report.settled() == 0 {
            break;
        }
        assert_eq!(report.postponed, 0);
        pushes += 1;
    }
    let drained = drain.elapsed();
    assert_eq!(stage(&rig, ids.last().unwrap()).await, Stage::Committed);
    println!(
        "| {requests} submissions, then drained with batch {batch} | submit {:.0}/s | {:.0} commits/s | {pushes} pushes in {:.2} s |",
        requests as f64 / submitted.as_secs_f64(),
        requests as f64 / drained.as_secs_f64(),
        drained.as_secs_f64(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("| measure | | | |");
        println!("|---|---|---|---|");
        latency(100).await;
        throughput(1000, 100).await;
        throughput(200, 1).await;
    });
}
