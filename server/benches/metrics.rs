//! Metrics dashboards over a big ledger: 1,000,000 ledger events over a year (10,000 requests
//! by 600 people in 60 teams, 40 offerings, 3 environments; failing claims crash-looping,
//! failed ↔ reconciling, before they recover, which is where most events come from) in a
//! SQLite file, then the dashboard's server time — the service call (database reads,
//! measures, JSON encoding of the result) — for the whole platform over a year, a quarter,
//! one team and one offering.
//!
//! Run: `cargo bench -p server --bench metrics` (release; prints a table).
//! `SLIPWAY_BENCH_EVENTS` and `SLIPWAY_BENCH_REQUESTS` change the ledger's size;
//! `DATABASE_URL=postgres://…` runs it on PostgreSQL instead (an empty database).

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

#[path = "../tests/common/settings.rs"]
mod settings;

use std::time::{Duration, Instant};

use app::domain::CurrentUser;
use app::metrics::MetricsQuery;
use slipway::db::metrics::{HistoricRequest, import};
use slipway::db::users::{NewLogin, upsert_login};
use slipway::db::{Db, now_ms};
use slipway::services::metrics::MetricsService;

const TEAMS: usize = 60;
const PEOPLE: usize = 600;
const OFFERINGS: usize = 40;
const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];
const DAY: i64 = 86_400_000;
const MINUTE: i64 = 60_000;

fn target_requests() -> usize {
    std::env::var("SLIPWAY_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn target_events() -> usize {
    std::env::var("SLIPWAY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// One request's ledger, as a platform would see it: direct or pull request, synced, Ready
/// (most), and for some a few incidents each flapping failed ↔ reconciling before Ready.
fn ledger(rng: &mut fastrand::Rng, start: i64, flaps: usize) -> Vec<(String, i64, Option<String>)> {
    let mut at = start;
    let mut events = vec![("submitted".to_owned(), at, None)];
    let mut push = |events: &mut Vec<_>, kind: &str, step: i64, message: Option<String>| {
        at += step;
        events.push((kind.to_owned(), at, message));
    };
    if rng.u8(..100) < 3 {
        push(
            &mut events,
            "failed",
            rng.i64(1_000..20_000),
            Some("The path is taken. Pick another name".into()),
        );
        return events;
    }
    if rng.bool() {
        push(&mut events, "pr_opened", rng.i64(1_000..30_000), None);
        push(&mut events, "merged", rng.i64(5 * MINUTE..2 * DAY), None);
    } else {
        push(&mut events, "committed", rng.i64(1_000..30_000), None);
    }
    push(&mut events, "synced", rng.i64(10_000..5 * MINUTE), None);
    push(&mut events, "reconciling", rng.i64(1_000..10_000), None);
    if rng.u8(..100) < 5 {
        push(
            &mut events,
            "failed",
            rng.i64(MINUTE..30 * MINUTE),
            Some(format!(
                "DBInstance/db-{}: ReconcileError: quota exceeded",
                rng.u32(..)
            )),
        );
        return events;
    }
    push(
        &mut events,
        "ready",
        rng.i64(2 * MINUTE..40 * MINUTE),
        Some("The claim is Ready.".into()),
    );
    // Later incidents: each a crash-looping claim, failed ↔ reconciling, then Ready again.
    let incidents = match rng.u8(..100) {
        0..=39 => 0,
        40..=69 => 1,
        70..=89 => 2,
        _ => 4,
    };
    let reasons = [
        "ReconcileError",
        "CannotCreateExternalResource",
        "CannotObserveExternalResource",
        "ComposeResources",
    ];
    for _ in 0..incidents {
        let reason = reasons[rng.usize(..reasons.len())];
        for _ in 0..rng.usize(1..=2 * flaps) {
            push(
                &mut events,
                "failed",
                rng.i64(MINUTE..2 * 60 * MINUTE),
                Some(format!("Instance/x-{}: {reason}: failed", rng.u32(..))),
            );
            push(
                &mut events,
                "reconciling",
                rng.i64(MINUTE..10 * MINUTE),
                None,
            );
        }
        push(&mut events, "ready", rng.i64(MINUTE..2 * 60 * MINUTE), None);
    }
    events
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |p: usize| samples[(samples.len() * p).div_ceil(100).max(1) - 1];
    println!(
        "| {label:<42} | {:>8.1} | {:>8.1} | {:>8.1} |",
        pick(50).as_secs_f64() * 1000.0,
        pick(90).as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.path().display()));
    let db = Db::connect(&url, 5).await.unwrap();
    db.migrate().await.unwrap();

    let mut people = Vec::new();
    for i in 0..PEOPLE {
        people.push(
            upsert_login(
                &db,
                &NewLogin {
                    subject: format!("dev|person-{i}"),
                    display_name: format!("Person {i}"),
                    email: format!("p{i}@example.com"),
                    is_admin: false,
                    teams: vec![format!("team-{:02}", i % TEAMS)],
                },
            )
            .await
            .unwrap()
            .expect("an active user"),
        );
    }
    let admin = CurrentUser {
        is_admin: true,
        ..people[0].clone()
    };

    let mut rng = fastrand::Rng::with_seed(7);
    let now = now_ms();
    let target = target_events();
    let wanted = target_requests();
    // Incidents average 1.1 per request (0, 1, 2 or 4), each 2 events per flap; the
    // lifecycle about 6.5: flaps per incident chosen so the ledger reaches its size.
    let flaps = (((target as f64 / wanted as f64) - 6.5) / 2.2).max(1.0) as usize;
    let started = Instant::now();
    let (mut events, mut requests, mut batch) = (0usize, 0usize, Vec::new());
    while events < target {
        let person = &people[rng.usize(..PEOPLE)];
        let start = now - 365 * DAY + rng.i64(0..365 * DAY - 3 * DAY);
        let mut ledger = ledger(&mut rng, start, flaps);
        // What has not happened yet is not in the ledger: a claim still crash-looping now.
        ledger.retain(|(_, at, _)| *at < now);
        events += ledger.len();
        batch.push(HistoricRequest {
            id: format!("req-{requests:07}"),
            action: if rng.u8(..10) == 0 {
                "update"
            } else {
                "create"
            }
            .to_owned(),
            offering: format!("offering-{:02}", rng.usize(..OFFERINGS)),
            team: person.teams[0].clone(),
            environment: ENVIRONMENTS[rng.usize(..ENVIRONMENTS.len())].to_owned(),
            name: format!("claim-{requests}"),
            requested_by: person.id.clone(),
            events: ledger,
        });
        requests += 1;
        if batch.len() == 2_000 {
            import(&db, &batch).await.unwrap();
            batch.clear();
        }
    }
    import(&db, &batch).await.unwrap();
    let fill = started.elapsed();
    println!(
        "ledger: {events} events, {requests} requests, {PEOPLE} people, {TEAMS} teams, {OFFERINGS} offerings on {} (filled in {:.1} s)",
        db.backend().name(),
        fill.as_secs_f64()
    );

    let telemetry = std::sync::Arc::new(slipway::metrics::prom::Telemetry::new());
    let environments = std::sync::Arc::new(slipway::environment::Environments::build(
        &settings::settings(&[]),
        &slipway::environment::Wiring {
            db: db.clone(),
            holder: "bench".into(),
            ledger: slipway::ledger::Ledger::new(slipway::hub::Hub::new(16), telemetry.clone()),
            telemetry,
        },
    ));
    let service = MetricsService::new(db.clone(), environments);
    let member = people[1].clone();
    let cases: [(&str, &CurrentUser, MetricsQuery); 4] = [
        (
            "platform, 365 days (admin)",
            &admin,
            MetricsQuery {
                days: Some(365),
                ..MetricsQuery::default()
            },
        ),
        (
            "platform, 90 days (admin)",
            &admin,
            MetricsQuery {
                days: Some(90),
                ..MetricsQuery::default()
            },
        ),
        (
            "one team, 365 days (member)",
            &member,
            MetricsQuery {
                days: Some(365),
                ..MetricsQuery::default()
            },
        ),
        (
            "one offering, 365 days (admin)",
            &admin,
            MetricsQuery {
                days: Some(365),
                offering: Some("offering-03".into()),
                ..MetricsQuery::default()
            },
        ),
    ];
    println!();
    println!("| dashboard (service call + JSON)            | p50 (ms) | p90 (ms) | max (ms) |");
    println!("|--------------------------------------------|---------:|---------:|---------:|");
    for (label, actor, query) in cases {
        // One warm-up: the first read pages the database file in.
        let _ = service.dashboard_until(actor, &query, now).await.unwrap();
        let mut samples = Vec::new();
        let mut size = 0;
        for _ in 0..20 {
            let started = Instant::now();
            let dashboard = service.dashboard_until(actor, &query, now).await.unwrap();
            size = serde_json::to_vec(&dashboard).unwrap().len();
            samples.push(started.elapsed());
        }
        report(label, samples);
        let _ = size;
    }
    db.close().await;
}
