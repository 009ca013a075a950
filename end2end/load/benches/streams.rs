//! Live status to many open browsers, measured from outside the server: the release binary
//! watching 50,000 objects (10,000 claims, each with a composite and three managed resources)
//! in the Kubernetes API double, and status streams opened from this process (default
//! 10,000). Prints the server's resident memory (from `/proc`) with the objects watched, per
//! open stream and after the streams closed; and a status change's trip from the API to every
//! open stream, beside a raw watch of the same object from this process.
//!
//! Run: `make bench-streams` (builds the release binary). `SLIPWAY_BENCH_CLAIMS` and
//! `SLIPWAY_BENCH_STREAMS` change the sizes; `SLIPWAY_BENCH_BIN` names another binary.

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use kube_double::{KubeDouble, crossplane};
use load_bench::served::{self, Served, env_or, slipway};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Rounds of one status change each.
const ROUNDS: usize = 6;

/// What the streams look for now: (round, the claim's request id as it appears in a message).
type Wanted = Arc<Mutex<Option<(usize, String)>>>;

/// Opens one status stream with `cookie`; after its response head, reads everything and
/// reports when a message for the wanted claim arrived.
async fn open_stream(
    port: u16,
    cookie: &str,
    wanted: Wanted,
    seen: tokio::sync::mpsc::UnboundedSender<(usize, Instant)>,
) -> tokio::task::JoinHandle<()> {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("a connection");
    socket
        .write_all(
            format!(
                "GET /api/status/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("the request is sent");
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut byte).await.expect("a response");
        assert!(n > 0, "the server closed the stream");
        head.extend_from_slice(&byte[..n]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tokio::spawn(async move {
        let mut text = String::new();
        let mut chunk = vec![0u8; 4096];
        let mut reported = usize::MAX;
        loop {
            let n = match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let now = Instant::now();
            text.push_str(&String::from_utf8_lossy(&chunk[..n]));
            let current = wanted.lock().expect("lock").clone();
            if let Some((round, marker)) = current
                && round != reported
                && text.contains(&marker)
            {
                reported = round;
                let _ = seen.send((round, now));
            }
            // Keep only an unfinished message.
            if let Some(end) = text.rfind("\n\n") {
                text.drain(..end + 2);
            }
        }
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Sum of the gauge `name` on the admin listener (0 when it cannot be read).
async fn gauge(client: &reqwest::Client, url: &str, name: &str) -> u64 {
    let Ok(response) = client.get(url).send().await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until the gauge `name` satisfies `done`, at most `within`; how long it took.
async fn until_gauge(
    client: &reqwest::Client,
    url: &str,
    name: &str,
    done: impl Fn(u64) -> bool,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let value = gauge(client, url, name).await;
        if done(value) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{name} is still {value} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() {
    let claims: usize = env_or("SLIPWAY_BENCH_CLAIMS", 10_000);
    let streams: usize = env_or("SLIPWAY_BENCH_STREAMS", 10_000);
    let objects = claims * (2 + crossplane::MRS_PER_CLAIM);

    let double = KubeDouble::start().await.expect("the API double");
    crossplane::register(&double);
    double.set_log_capacity(200_000);
    crossplane::seed(&double, claims);

    let bin = served::binary();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, double.kubeconfig("bench")).expect("a kubeconfig");
    let ok = slipway(&bin, dir.path())
        .arg("init")
        .stdout(std::process::Stdio::null())
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "slipway init failed");
    let admin_port = served::free_port();
    let mut command = slipway(&bin, dir.path());
    command
        .env("SLIPWAY_CLUSTERS", "bench=bench")
        .env("SLIPWAY_ENVIRONMENTS", "dev@bench,staging,prod")
        .env("SLIPWAY_KUBECONFIG", &kubeconfig)
        .env("SLIPWAY_METRICS_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("SLIPWAY_STREAMS_PER_USER", (streams + 16).to_string())
        .env("SLIPWAY_STREAMS_TOTAL", (streams + 16).to_string());
    let started = Instant::now();
    let server = Served::start(command, dir.path()).await;
    let client = reqwest::Client::new();
    let exposition = format!("http://127.0.0.1:{admin_port}/metrics");
    until_gauge(
        &client,
        &exposition,
        "slipway_watched_objects",
        |n| n >= objects as u64,
        Duration::from_secs(600),
    )
    .await;
    let synced = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_watching = server.rss_mib();
    // An administrator's streams get every claim's messages.
    let cookie = server.sign_in("pat").await;

    let wanted: Wanted = Arc::default();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let mut readers = Vec::with_capacity(streams);
    let opening = Instant::now();
    for _ in 0..streams.div_ceil(250) {
        let batch = (streams - readers.len()).min(250);
        let opened = futures_util::future::join_all(
            (0..batch).map(|_| open_stream(server.port, &cookie, wanted.clone(), seen_tx.clone())),
        )
        .await;
        readers.extend(opened);
    }
    let opened_in = opening.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_streams = server.rss_mib();

    // A raw watch of the claims' kind from this process, beside the streams.
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("the kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("a client configuration");
    let kube_client = kube::Client::try_from(config).expect("a client");
    let resource = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("database.example.org", "v1alpha1", "PostgreSQLInstance"),
        "postgresqlinstances",
    );
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(kube_client, &resource);
    let (watch_tx, mut watch_seen) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let version = double.resource_version().to_string();
    let mut events = api
        .watch(&kube::api::WatchParams::default(), &version)
        .await
        .expect("a raw watch")
        .boxed();
    let raw = tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if let kube::api::WatchEvent::Modified(object) = event {
                let _ = watch_tx.send((object.metadata.name.unwrap_or_default(), Instant::now()));
            }
        }
    });

    let mut delivered = Vec::new();
    let mut raw_latencies = Vec::new();
    let mut missing = 0usize;
    // Each round takes another claim (all seeded Ready) to Creating: one change each.
    for round in 0..ROUNDS {
        let i = (round * 997) % claims;
        let name = format!("db-{i:05}");
        *wanted.lock().expect("lock") = Some((round, format!("\"request_id\":\"req-{i:05}\"")));
        let sent = Instant::now();
        double
            .patch_status(
                crossplane::API,
                "PostgreSQLInstance",
                &format!("team-{}", i % 50),
                &name,
                json!({"conditions": crossplane::conditions(false)}),
            )
            .expect("a status patch");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut got = 0;
        while got < streams {
            match tokio::time::timeout_at(deadline, seen.recv()).await {
                Ok(Some((r, at))) if r == round => {
                    delivered.push((at - sent).as_secs_f64() * 1000.0);
                    got += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        missing += streams - got;
        while let Ok(Some((object, at))) =
            tokio::time::timeout(Duration::from_secs(5), watch_seen.recv()).await
        {
            if object == name {
                raw_latencies.push((at - sent).as_secs_f64() * 1000.0);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    raw.abort();
    for reader in &readers {
        reader.abort();
    }
    drop(readers);
    // The server notices a closed stream when it next writes to it (the keep-alive comment
    // every 15 s at the latest).
    let closed_in = until_gauge(
        &client,
        &exposition,
        "slipway_status_streams_open",
        |n| n == 0,
        Duration::from_secs(60),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_closed = server.rss_mib();

    delivered.sort_by(f64::total_cmp);
    raw_latencies.sort_by(f64::total_cmp);
    println!(
        "\n{objects} objects watched (listed in {:.1} s); {streams} streams opened from this \
         process in {:.1} s; {ROUNDS} status changes\n",
        synced.as_secs_f64(),
        opened_in.as_secs_f64()
    );
    println!("| measure | figure |");
    println!("|---|---|");
    println!("| server RSS, {objects} objects watched, no stream | {rss_watching:.0} MiB |");
    println!(
        "| server RSS with {streams} streams open | {rss_streams:.0} MiB ({:.1} KiB per stream) |",
        (rss_streams - rss_watching) * 1024.0 / streams as f64
    );
    println!(
        "| server RSS after they closed (all released {:.0} s after the browsers left) | {rss_closed:.0} MiB |",
        closed_in.as_secs_f64()
    );
    if !delivered.is_empty() {
        println!(
            "| status patch → every open stream ({} deliveries{}) | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
            delivered.len(),
            if missing > 0 {
                format!(", {missing} missing")
            } else {
                String::new()
            },
            percentile(&delivered, 0.5),
            percentile(&delivered, 0.99),
            delivered.last().copied().unwrap_or_default()
        );
    }
    if !raw_latencies.is_empty() {
        println!(
            "| status patch → a raw watch in this process | p50 {:.2} ms, max {:.2} ms |",
            percentile(&raw_latencies, 0.5),
            raw_latencies.last().copied().unwrap_or_default()
        );
    }
}
