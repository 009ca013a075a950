//! Live status at scale: 50 000 watched objects (10 000 claims, each with a composite and three
//! managed resources) listed and watched through kube-rs's real client from the Kubernetes API
//! test double; what the read model keeps in memory, how long the first complete picture
//! takes, and how long a status change takes from the API (a status patch) to a browser's
//! Server-Sent Event (through the real router and SSE handler, no socket).
//!
//! Run: `cargo bench -p server --bench status` (release profile; prints a table).

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

#[path = "../tests/common/settings.rs"]
mod settings;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt as _;
use kube_double::KubeDouble;
use kube_double::crossplane::{self, API, MR_API, conditions, seed};
use serde_json::json;
use tower::ServiceExt as _;

#[global_allocator]
static HEAP: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// Claims (each with a composite and three managed resources); `SLIPWAY_BENCH_CLAIMS`
/// overrides it for a quick run.
fn claims_count() -> usize {
    std::env::var("SLIPWAY_BENCH_CLAIMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}
fn heap_kept_mib(region: &stats_alloc::Region<'_, std::alloc::System>) -> f64 {
    let change = region.change();
    (change.bytes_allocated as f64 - change.bytes_deallocated as f64
        + change.bytes_reallocated as f64)
        / 1_048_576.0
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let double = KubeDouble::start().await.expect("double");
    crossplane::register(&double);
    double.set_log_capacity(200_000);
    let seeding = Instant::now();
    let claims_n = claims_count();
    let stored = seed(&double, claims_n);
    let total = claims_n * (2 + crossplane::MRS_PER_CLAIM);
    println!(
        "seeded {total} objects in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, double.kubeconfig("bench")).unwrap();
    let db = slipway::db::Db::connect(&format!("sqlite://{}/bench.db", dir.path().display()), 5)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let mut settings = settings::settings(&[
        "--dev-login",
        "--catalog-dir",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/devdata/catalog"),
        "--clusters",
        "bench=bench",
        "--environments",
        "dev@bench,staging,prod",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    settings.control_plane.rediscover = Duration::from_secs(2);
    let options = slipway::http::leptos_options(
        std::path::Path::new("target/site"),
        "127.0.0.1:3000".parse().unwrap(),
    );
    let state = slipway::state::AppState::build(options, db, settings.clone()).unwrap();
    state.catalog.refresh_files().await.unwrap();
    let clusters = slipway::kube::cluster::connect(&settings.control_plane)
        .await
        .unwrap();

    // Calibration: every object listed once through the same client and dropped; what stays
    // is the double's and the client's, not the watchers'.
    let calibration = stats_alloc::Region::new(HEAP);
    for (api_version, kind, plural) in [
        (API, "PostgreSQLInstance", "postgresqlinstances"),
        (API, "XPostgreSQLInstance", "xpostgresqlinstances"),
        (MR_API, "Instance", "instances"),
    ] {
        let (group, version) = api_version.split_once('/').unwrap();
        let resource = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(group, version, kind),
            plural,
        );
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::all_with(clusters[0].client.clone(), &resource);
        let mut params = kube::api::ListParams::default().limit(500);
        loop {
            let page = api.list(&params).await.unwrap();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calibration_mib = heap_kept_mib(&calibration);
    println!(
        "listing everything once and dropping it keeps {calibration_mib:.1} MiB (the double and the client)"
    );

    // Memory: what the watchers keep once everything is listed.
    let region = stats_alloc::Region::new(HEAP);
    let started = Instant::now();
    let tasks = state.status.spawn(&clusters);
    while state.status.object_count() < total || !state.status.settled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not synced: {}",
            state.status.object_count()
        );
    }
    let sync_s = started.elapsed().as_secs_f64();
    // Let the list pages and watch buffers go before counting; no recorder runs here, so
    // the ids it would have taken are dropped.
    tokio::time::sleep(Duration::from_millis(500)).await;
    state.status.dirty.take();
    let kept = heap_kept_mib(&region);
    let claims = state.status.claims(None).len();
    // The same objects reduced to records alone, without maps, indexes, hub or client.
    let records_region = stats_alloc::Region::new(HEAP);
    let records: Vec<_> = stored
        .iter()
        .map(|o| {
            (
                slipway::kube::status::key_of(o),
                slipway::kube::status::observe(o),
            )
        })
        .collect();
    let records_mib = heap_kept_mib(&records_region);
    assert_eq!(records.len(), total);
    drop(stored);
    assert_eq!(claims, claims_n);

    // Latency: patch a claim's status in the API, wait for its SSE message.
    let router = slipway::http::router(state.clone());
    let login = router
        .clone()
        .oneshot(
            Request::post("/auth/dev-login")
                .header(header::ORIGIN, settings::ORIGIN)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("handle=pat"))
                .unwrap(),
        )
        .await
        .unwrap();
    let cookie = login.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let response = router
        .oneshot(
            Request::get("/api/status/events")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut buffer = String::new();
    let mut latencies = Vec::new();
    for round in 0..400 {
        // Each claim (all Ready at first) is taken to Creating, then back to Ready.
        let i = ((round / 2) * 997) % claims_n;
        let ready = round % 2 == 1;
        let wanted = format!("\"request_id\":\"req-{i:05}\"");
        let sent = Instant::now();
        double
            .patch_status(
                API,
                "PostgreSQLInstance",
                &format!("team-{}", i % 50),
                &format!("db-{i:05}"),
                json!({"conditions": conditions(ready)}),
            )
            .unwrap();
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if block.contains(&wanted) {
                    break;
                }
                continue;
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
                .await
                .expect("an SSE message within 10 s")
                .expect("open stream")
                .expect("frame");
            if let Ok(data) = frame.into_data() {
                buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    println!();
    println!(
        "| objects watched | first complete picture (s) | heap kept since the watchers started (MiB) | of which the watchers' own, net of what one list leaves in the in-process double (bytes / object) | the records alone (bytes / object) | peak RSS, whole process incl. the double (MiB) | patch → SSE p50 (ms) | p99 (ms) | max (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {total} | {sync_s:.1} | {kept:.1} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} |",
        (kept - calibration_mib) * 1_048_576.0 / total as f64,
        records_mib * 1_048_576.0 / total as f64,
        peak_rss_mib(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap(),
    );
    for task in tasks {
        task.abort();
    }
}
