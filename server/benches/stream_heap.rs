//! What one open status stream holds on the server's heap, layer by layer. `N` streams are
//! opened over loopback TCP, from tasks of this process, against three servers of this
//! process in turn; each is measured as the bytes allocated and not freed (stats_alloc) while
//! the `N` streams are open, divided by `N`:
//!
//! 1. sockets accepted and held, no HTTP: the sockets' own share and this bench's clients;
//! 2. a plain axum SSE route (axum's SSE body and keep-alive timer, nothing else) served by
//!    `axum::serve` (hyper-util's HTTP/1-or-2 connection, as Slipway served until 2026-12-07),
//!    then by Slipway's own listener (`http::serve::listen`: hyper's HTTP/1 connection);
//! 3. Slipway's router on its listener, `GET /api/status/events` signed in (middleware,
//!    session, the hub's receiver, the caps, the session check).
//!
//! The differences are what each layer costs; then the streams close and what stays is shown.
//! Requested bytes, not the allocator's rounding: the whole process's RSS per stream is
//! `make bench-streams`.
//!
//! Run: `cargo bench -p server --bench stream_heap` (`SLIPWAY_BENCH_STREAMS`, default 2,000;
//! twice as many file descriptors as streams).

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

#[path = "../tests/common/settings.rs"]
mod settings;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

#[global_allocator]
static HEAP: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn kept(region: &stats_alloc::Region<'_, std::alloc::System>) -> f64 {
    let change = region.change();
    change.bytes_allocated as f64 - change.bytes_deallocated as f64
        + change.bytes_reallocated as f64
}

/// `n` clients of `port`, each sending `request` and, when `http`, reading past the response
/// head; returns once all are there. Each client then reads until aborted.
async fn open(port: u16, request: &str, n: usize, http: bool) -> Vec<tokio::task::JoinHandle<()>> {
    let ready = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("a connection");
        socket
            .write_all(request.as_bytes())
            .await
            .expect("the request");
        let ready = ready.clone();
        clients.push(tokio::spawn(async move {
            let mut buffer = [0u8; 512];
            let mut tail = [0u8; 4];
            let mut head = !http;
            if head {
                ready.fetch_add(1, Ordering::SeqCst);
            }
            loop {
                let Ok(read) = socket.read(&mut buffer).await else {
                    return;
                };
                if read == 0 {
                    return;
                }
                if !head {
                    for byte in &buffer[..read] {
                        tail.rotate_left(1);
                        tail[3] = *byte;
                        if &tail == b"\r\n\r\n" {
                            head = true;
                            ready.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                    }
                }
            }
        }));
    }
    while ready.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    clients
}

/// Aborts the clients and waits until `open_now` says the server let all go.
async fn close(clients: Vec<tokio::task::JoinHandle<()>>, open_now: impl Fn() -> usize) {
    for client in &clients {
        client.abort();
    }
    for client in clients {
        let _ = client.await;
    }
    while open_now() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Connections finish closing after their stream ended.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn listener() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A stream of no events that counts itself open until dropped.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("SLIPWAY_BENCH_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);

    // 1. Sockets only.
    let (sockets, port) = listener().await;
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let accepting = tokio::spawn({
        let held = held.clone();
        async move {
            while let Ok((socket, _)) = sockets.accept().await {
                held.lock().unwrap().push(socket);
            }
        }
    });
    // Warm-up: the runtime's and the sockets' first allocations are not the streams'.
    let warm = open(port, "GET / HTTP/1.1\r\n\r\n", 50, false).await;
    close(warm, || 0).await;
    held.lock().unwrap().clear();
    held.lock().unwrap().shrink_to_fit();
    let region = stats_alloc::Region::new(HEAP);
    held.lock().unwrap().reserve(n);
    let clients = open(port, "GET / HTTP/1.1\r\n\r\n", n, false).await;
    while held.lock().unwrap().len() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sockets_per = kept(&region) / n as f64;
    close(clients, || 0).await;
    held.lock().unwrap().clear();
    accepting.abort();

    // 2. A plain axum SSE route.
    let open_plain = Arc::new(AtomicUsize::new(0));
    let plain = axum::Router::new().route(
        "/events",
        axum::routing::get({
            let open_plain = open_plain.clone();
            move || {
                let open_plain = open_plain.clone();
                async move {
                    open_plain.fetch_add(1, Ordering::SeqCst);
                    let counted = Counted(open_plain);
                    let stream = futures_util::stream::unfold(counted, |counted| async move {
                        std::future::pending::<()>().await;
                        Some((Ok::<Event, Infallible>(Event::default()), counted))
                    });
                    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
                }
            }
        }),
    );
    let plain_h1 = plain.clone();
    let (listener_plain, port) = listener().await;
    let serving = tokio::spawn(async move {
        axum::serve(
            listener_plain,
            plain.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let request = format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let warm = open(port, &request, 50, true).await;
    close(warm, || open_plain.load(Ordering::SeqCst)).await;
    let region = stats_alloc::Region::new(HEAP);
    let clients = open(port, &request, n, true).await;
    let plain_per = kept(&region) / n as f64;
    close(clients, || open_plain.load(Ordering::SeqCst)).await;
    let plain_after = kept(&region) / n as f64;
    serving.abort();

    // 2b. The same route on Slipway's listener (hyper's HTTP/1 connection).
    let (listener_h1, port) = listener().await;
    let serving = tokio::spawn(slipway::http::serve::listen(
        listener_h1,
        plain_h1,
        std::future::pending(),
    ));
    let request = format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let warm = open(port, &request, 50, true).await;
    close(warm, || open_plain.load(Ordering::SeqCst)).await;
    let region = stats_alloc::Region::new(HEAP);
    let clients = open(port, &request, n, true).await;
    let h1_per = kept(&region) / n as f64;
    close(clients, || open_plain.load(Ordering::SeqCst)).await;
    serving.abort();

    // 3. Slipway's status stream.
    let db = slipway::db::Db::connect("sqlite::memory:", 1)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let settings = settings::settings(&[
        "--dev-login",
        "--catalog-dir",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/devdata/catalog"),
        "--streams-per-user",
        &(n + 100).to_string(),
        "--streams-total",
        &(n + 100).to_string(),
    ]);
    let options = slipway::http::leptos_options(
        std::path::Path::new("target/site"),
        "127.0.0.1:3000".parse().unwrap(),
    );
    let state = slipway::state::AppState::build(options, db, settings).unwrap();
    let router = slipway::http::router(state.clone());
    let login = router
        .clone()
        .oneshot(
            Request::post("/auth/dev-login")
                .header(header::ORIGIN, settings::ORIGIN)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                // The development login answers loopback peers only.
                .extension(axum::extract::ConnectInfo(SocketAddr::from((
                    [127, 0, 0, 1],
                    40_000,
                ))))
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
    let (listener_slipway, port) = listener().await;
    let serving = tokio::spawn(slipway::http::serve::listen(
        listener_slipway,
        router,
        std::future::pending(),
    ));
    // As a browser's EventSource asks.
    let request = format!(
        "GET /api/status/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
         Accept: text/event-stream\r\nCache-Control: no-cache\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-GB,en;q=0.9\r\n\
         Referer: http://127.0.0.1:{port}/status\r\n\r\n"
    );
    let streams = state.streams.clone();
    let warm = open(port, &request, 50, true).await;
    close(warm, || streams.open()).await;
    let region = stats_alloc::Region::new(HEAP);
    let clients = open(port, &request, n, true).await;
    let slipway_per = kept(&region) / n as f64;
    close(clients, || streams.open()).await;
    let slipway_after = kept(&region) / n as f64;
    serving.abort();

    println!("\n{n} streams open at once; heap bytes kept per stream (requested, not rounded)\n");
    println!("| layer | per stream | of which this layer |");
    println!("|---|---:|---:|");
    println!(
        "| sockets held, no HTTP (and this bench's client) | {sockets_per:.0} B | {sockets_per:.0} B |"
    );
    println!(
        "| a plain axum SSE route on `axum::serve` (HTTP/1 or 2, as Slipway served before) | {plain_per:.0} B | {:.0} B |",
        plain_per - sockets_per
    );
    println!(
        "| the same route on Slipway's listener (hyper's HTTP/1 connection) | {h1_per:.0} B | {:.0} B |",
        h1_per - sockets_per
    );
    println!(
        "| Slipway's `/api/status/events` on its listener, signed in | {slipway_per:.0} B | {:.0} B more than the plain route |",
        slipway_per - h1_per
    );
    println!(
        "\nafter all closed, kept per stream: plain {plain_after:.0} B, Slipway {slipway_after:.0} B"
    );
}
