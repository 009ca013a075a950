//! Pages under load, as a platform team would see them: the release binary serving a year of
//! history (50,000 requests, one team with about 5,000 of them) from SQLite (or PostgreSQL:
//! `make bench-pages-postgres`), loaded by `wrk`
//! with 8 connections on loopback, every page beside the server's own floor (`/healthz`)
//! measured in the same run; then the server's resident memory, read from `/proc`.
//!
//! Run: `make bench-pages` (builds the release binary and front end, installs `wrk`).
//! `SLIPWAY_BENCH_BIN` names another binary, `SLIPWAY_BENCH_REQUESTS` another ledger size,
//! `SLIPWAY_BENCH_SECS` the load's length per page (default 10); `SLIPWAY_BENCH_IMPORT_ONLY`
//! stops after timing the import; `SLIPWAY_BENCH_ONLY=metrics` loads only the rows whose label
//! contains that text (the floor is always measured); `SLIPWAY_BENCH_SAVE=DIR` keeps each page
//! as the load saw it.
//!
//! The ledger is written as JSON Lines and imported with `slipway import-ledger`, so the
//! import of a year of history is timed here too.

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use load_bench::served::{self, Served, env_or, slipway};

const TEAMS: usize = 60;
const OFFERINGS: [&str; 8] = [
    "postgresql",
    "bucket",
    "xmessagequeues.messaging.acme.test@v1beta1",
    "redis",
    "kafka-topic",
    "dns-record",
    "web-service",
    "cron-job",
];
const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];

/// `N` minutes ago as the ledger file writes it.
fn ago(minutes: i64) -> String {
    format!("{}m", minutes.max(0))
}

/// One request's events, oldest first, `start` minutes ago.
fn events(rng: &mut fastrand::Rng, start: i64) -> Vec<serde_json::Value> {
    let mut at = start;
    let mut list = vec![serde_json::json!({"kind": "submitted", "ago": ago(at)})];
    let mut step =
        |list: &mut Vec<serde_json::Value>, kind: &str, minutes: i64, message: Option<&str>| {
            at -= minutes.min(at);
            let mut event = serde_json::json!({"kind": kind, "ago": ago(at)});
            if let Some(message) = message {
                event["message"] = message.into();
            }
            list.push(event);
        };
    if rng.u8(..100) < 3 {
        step(
            &mut list,
            "failed",
            1,
            Some("The path is taken. Pick another name"),
        );
        return list;
    }
    if rng.bool() {
        step(&mut list, "pr_opened", 1, None);
        step(&mut list, "merged", rng.i64(5..600), None);
    } else {
        step(&mut list, "committed", 1, None);
    }
    step(&mut list, "synced", rng.i64(1..5), None);
    step(&mut list, "reconciling", 1, None);
    if rng.u8(..100) < 5 {
        step(
            &mut list,
            "failed",
            rng.i64(1..30),
            Some("DBInstance/db: ReconcileError: quota exceeded"),
        );
        return list;
    }
    step(&mut list, "ready", rng.i64(1..20), None);
    if rng.u8(..100) < 20 {
        step(
            &mut list,
            "failed",
            rng.i64(60..10_000),
            Some("Pod crash-looping"),
        );
        step(&mut list, "reconciling", rng.i64(1..30), None);
        step(&mut list, "ready", rng.i64(1..30), None);
    }
    list
}

/// Writes the ledger: the development personas, one person per team, `requests` requests
/// over the last year (a tenth of them team-a's, Alice's team), a rating for one in ten.
fn write_ledger(path: &Path, requests: usize) -> std::io::Result<()> {
    let mut rng = fastrand::Rng::with_seed(20);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (handle, name, teams, admin) in [
        ("alice", "Alice Archer", vec!["team-a"], false),
        ("pat", "Pat Platform", vec!["platform"], true),
    ] {
        let user = serde_json::json!({"user": {"subject": format!("dev|{handle}"), "name": name,
            "email": format!("{handle}@dev.slipway.invalid"), "teams": teams, "admin": admin}});
        writeln!(out, "{user}")?;
    }
    for team in 1..TEAMS {
        let user = serde_json::json!({"user": {"subject": format!("bench|t{team}"),
            "name": format!("Member of team {team}"), "email": format!("t{team}@bench.invalid"),
            "teams": [format!("team-{team}")]}});
        writeln!(out, "{user}")?;
    }
    let year = 365 * 24 * 60;
    for n in 0..requests {
        let (team, by) = if n % 10 == 0 {
            ("team-a".to_owned(), "dev|alice".to_owned())
        } else {
            let t = rng.usize(1..TEAMS);
            (format!("team-{t}"), format!("bench|t{t}"))
        };
        // Oldest first, evenly over the year.
        let start = year - (year * n as i64) / requests as i64;
        let request = serde_json::json!({"request": {
            "id": format!("0190bench-{n:08}"),
            "offering": OFFERINGS[rng.usize(..OFFERINGS.len())],
            "team": team,
            "environment": ENVIRONMENTS[rng.usize(..ENVIRONMENTS.len())],
            "name": format!("claim-{n}"),
            "requested_by": by,
            "events": events(&mut rng, start),
        }});
        writeln!(out, "{request}")?;
        if n % 10 == 3 {
            let rating = serde_json::json!({"feedback": {"request": format!("0190bench-{n:08}"),
                "rating": rng.u8(1..=5), "comment": "", "ago": ago(start - 30)}});
            writeln!(out, "{rating}")?;
        }
    }
    out.flush()
}

/// A page's figures under load.
struct Load {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn millis(text: &str) -> f64 {
    let (number, unit) =
        text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// `wrk` with 8 connections (2 threads) for `secs` on `url`, with the session cookie.
fn wrk(url: &str, cookie: &str, secs: u64) -> Load {
    let output = Command::new("wrk")
        .args(["-t2", "-c8", &format!("-d{secs}s"), "--latency", "-H"])
        .arg(format!("Cookie: {cookie}"))
        .arg(url)
        .output()
        .expect("wrk runs (make bench-pages installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "{url} answered errors under load:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("wrk printed no {prefix:?} for {url}:\n{text}"))
    };
    Load {
        per_second: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p50_ms: millis(&field("50%")),
        p99_ms: millis(&field("99%")),
    }
}

#[tokio::main]
async fn main() {
    let bin = served::binary();
    let requests: usize = env_or("SLIPWAY_BENCH_REQUESTS", 50_000);
    let secs: u64 = env_or("SLIPWAY_BENCH_SECS", 10);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ledger = dir.path().join("ledger.jsonl");
    write_ledger(&ledger, requests).expect("writing the ledger");
    let size = std::fs::metadata(&ledger).map_or(0, |m| m.len());

    let ok = slipway(&bin, dir.path())
        .arg("init")
        .stdout(Stdio::null())
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "slipway init failed");
    let started = Instant::now();
    let ok = slipway(&bin, dir.path())
        .args(["import-ledger"])
        .arg(&ledger)
        .stdout(Stdio::null())
        .status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "slipway import-ledger failed"
    );
    let import = started.elapsed();
    if std::env::var_os("SLIPWAY_BENCH_IMPORT_ONLY").is_some() {
        println!(
            "import-ledger, {requests} requests ({:.1} MB of JSON Lines): {:.1} s",
            size as f64 / 1e6,
            import.as_secs_f64()
        );
        return;
    }

    let server = Served::start(slipway(&bin, dir.path()), dir.path()).await;
    let origin = server.origin.clone();
    let alice = server.sign_in("alice").await;
    let pat = server.sign_in("pat").await;
    let idle_rss = server.rss_mib();

    let floor = wrk(&format!("{origin}/healthz"), &alice, secs);
    let rows: Vec<(String, String, &str)> = vec![
        ("`/catalog`".into(), format!("{origin}/catalog"), &alice),
        ("`/status`".into(), format!("{origin}/status"), &alice),
        (
            format!("`/requests` (team of {})", requests.div_ceil(10)),
            format!("{origin}/requests"),
            &alice,
        ),
        (
            "`/metrics`, 30 days, one team".into(),
            format!("{origin}/metrics/teams/team-a?days=30"),
            &alice,
        ),
        (
            "`/metrics`, 365 days, one team".into(),
            format!("{origin}/metrics/teams/team-a?days=365"),
            &alice,
        ),
        (
            "`/metrics`, 365 days, platform".into(),
            format!("{origin}/metrics?days=365"),
            &pat,
        ),
    ];
    let only = std::env::var("SLIPWAY_BENCH_ONLY").unwrap_or_default();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(label, _, _)| label.contains(&only))
        .collect();
    let backend = if served::database_url(dir.path()).starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "\n{requests} requests in the ledger on {backend} ({:.1} MB of JSON Lines, imported in \
         {:.1} s); wrk -t2 -c8 -d{secs}s\n",
        size as f64 / 1e6,
        import.as_secs_f64()
    );
    println!("| page | KB | req/s | p50 | p99 | p99 ÷ floor's |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| floor `/healthz` | — | {:.0} | {:.2} ms | {:.2} ms | 1 |",
        floor.per_second, floor.p50_ms, floor.p99_ms
    );
    let save = std::env::var_os("SLIPWAY_BENCH_SAVE").map(std::path::PathBuf::from);
    for (n, (label, url, cookie)) in rows.into_iter().enumerate() {
        let page = server.body(&url, cookie).await;
        if let Some(save) = &save {
            std::fs::create_dir_all(save).expect("the folder to save pages in");
            std::fs::write(save.join(format!("page-{n}.html")), &page).expect("saving a page");
        }
        let load = wrk(&url, cookie, secs);
        println!(
            "| {label} | {:.1} | {:.0} | {:.2} ms | {:.2} ms | {:.1} |",
            page.len() as f64 / 1e3,
            load.per_second,
            load.p50_ms,
            load.p99_ms,
            load.p99_ms / floor.p99_ms
        );
    }
    println!(
        "\nresident memory of the server: {idle_rss:.0} MiB after start and sign-in, {:.0} MiB \
         after the load",
        server.rss_mib()
    );
}
