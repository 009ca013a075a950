//! `slipway serve`: the process's life — migrate, wire the state, start the background work,
//! listen, and drain on SIGINT/SIGTERM.
//!
//! ```text
//!  settings ─▶ migrate ─▶ AppState::build ─▶ backfill metrics ─▶ start_background ─▶ listen
//!     background: clone refresh, catalog refresh, one writer per (remote, branch), offerings
//!                 from the clusters, status watchers, the ledger recorder, session purge
//! ```

use std::time::Duration;

use anyhow::Context as _;

use super::{admin_router, leptos_options, router};
use crate::config::ServeArgs;
use crate::db::{self, Db};
use crate::state::AppState;

/// `slipway serve`: migrate, then serve until SIGINT/SIGTERM, then drain for the grace period.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let db = Db::open_migrated(
        &args.database.database_url,
        args.database.db_max_connections,
    )
    .await
    .context("opening the database named by DATABASE_URL")?;
    if settings.dev_login {
        tracing::warn!("development login is ON: anyone can sign in as any sample persona");
    }
    let public_origin = settings.public_origin.clone();
    let state = AppState::build(
        leptos_options(&args.site_root, args.listen),
        db.clone(),
        settings,
    )?;
    if let Some(oidc) = &state.settings.oidc {
        tracing::info!(issuer = oidc.issuer.as_str(), client_id = %oidc.client_id, "single sign-on enabled");
    }

    let filled = db::metrics::backfill(&db)
        .await
        .context("filling in the metrics of earlier requests")?;
    if filled > 0 {
        tracing::info!(
            requests = filled,
            "metrics of earlier requests filled in from the ledger"
        );
    }
    // The dashboards' facts are read beside serving, not before it: start-up and readiness do
    // not wait for a year of history, and the first dashboard waits only for what is left.
    // A failure here is not fatal: the first dashboard reads them again.
    tokio::spawn({
        let db = db.clone();
        async move {
            let started = std::time::Instant::now();
            match db.facts().warm(&db).await {
                Ok(facts) => tracing::info!(
                    requests = facts,
                    took_ms = started.elapsed().as_millis(),
                    "dashboard facts in memory"
                ),
                Err(error) => {
                    tracing::warn!(%error, "reading the dashboards' facts at start failed");
                }
            }
        }
    });
    let admin = match args.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding SLIPWAY_METRICS_LISTEN={address}"))?;
            tracing::info!(address = %listener.local_addr()?, "Prometheus metrics at /metrics");
            let router = admin_router(state.clone());
            Some(tokio::spawn(listen(
                listener,
                router,
                std::future::pending(),
            )))
        }
        None => None,
    };
    let background = start_background(&state).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding SLIPWAY_LISTEN={}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, %public_origin, backend = db.backend().name(), "Slipway is serving");

    // SIGTERM: readiness turns false and the lease holders hand over at once; after the
    // delay (the load balancer's time to notice) no new connection is accepted, and those
    // in flight get the grace period to finish.
    let stopping = state.stopping.clone();
    let delay = Duration::from_secs(args.shutdown_delay_secs);
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let handed_over = tokio::spawn({
        let stopping = stopping.clone();
        async move {
            stopping.wait().await;
            background.stop(grace).await;
        }
    });
    let server = listen(listener, router(state), {
        let stopping = stopping.clone();
        async move {
            shutdown_signal().await;
            tracing::info!(?delay, "shutting down: not ready, handing the leases over");
            stopping.begin();
            tokio::time::sleep(delay).await;
            tracing::info!("no new connections; finishing requests in flight");
        }
    });
    tokio::select! {
        () = server => {},
        () = async { stopping.wait().await; tokio::time::sleep(delay + grace).await } => {
            tracing::warn!(?grace, "grace period over; closing remaining connections");
        }
    }
    if let Err(error) = handed_over.await {
        tracing::warn!(%error, "background work did not stop in order");
    }
    if let Some(admin) = admin {
        admin.abort();
    }
    // Closing waits for every connection lent out; a task that outlived the grace period
    // may still hold one, so the wait is bounded.
    if tokio::time::timeout(Duration::from_secs(3), db.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still in use at exit");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves `router` on `listener` until `stop` completes; then accepts no more connections,
/// tells those open to close once their response in hand is sent, and returns when all have.
///
/// Each connection is hyper's HTTP/1.1 connection, not `axum::serve`'s: axum serves every
/// connection through hyper-util's builder that detects HTTP/1 or HTTP/2, which kept 35 KB of
/// heap per open status stream where the HTTP/1 connection alone keeps 18 KB (`cargo bench -p
/// server --bench stream_heap`). The portal speaks HTTP/1.1; a proxy or ingress in front of it
/// speaks HTTP/2 to browsers. What else it does:
/// - the peer's address reaches handlers as `ConnectInfo` (the development login answers
///   loopback only, the rate limits key on it);
/// - accepted connections send what is written at once (`TCP_NODELAY`): with Nagle's algorithm
///   on, a page written in several pieces (headers, then the body in chunks) waited for the
///   browser's delayed ACK of the first — 40 ms on Linux — on every request of a kept-alive
///   connection, and pages topped out near 220 requests/s with the CPU mostly idle;
/// - a request's head must arrive within 30 s (hyper's default once it has a timer), so
///   connections that never finish their headers do not stay open.
pub async fn listen(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stop: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // The peer gave up before we took it: nothing to wait for.
                Err(error) if matches!(
                    error.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => continue,
                // Out of file descriptors and the like: wait for some to close, not spin.
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set on a connection");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(socket), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// What one round of [`housekeeping`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Housekept {
    /// Expired sessions.
    pub sessions: u64,
    /// Sign-ins begun at the identity provider and never completed.
    pub sign_ins: u64,
    /// Audit entries older than the retention.
    pub audit_entries: u64,
}

/// One round of housekeeping: removes expired sessions, abandoned sign-ins and audit entries
/// past `audit_retention`. Each part runs even when another failed (logged; the next round
/// tries again).
pub async fn housekeeping(db: &Db, audit_retention: Duration) -> Housekept {
    let mut done = Housekept::default();
    match db::sessions::purge_expired(db).await {
        Ok(n) => done.sessions = n,
        Err(error) => tracing::warn!(%error, "purging expired sessions failed; will retry"),
    }
    match db::sessions::purge_expired_sign_ins(db).await {
        Ok(n) => done.sign_ins = n,
        Err(error) => tracing::warn!(%error, "purging abandoned sign-ins failed; will retry"),
    }
    let before = db::now_ms() - i64::try_from(audit_retention.as_millis()).unwrap_or(i64::MAX);
    match db::audit::purge_before(db, before).await {
        Ok(n) => done.audit_entries = n,
        Err(error) => tracing::warn!(%error, "purging old audit entries failed; will retry"),
    }
    if done != Housekept::default() {
        tracing::info!(
            sessions = done.sessions,
            sign_ins = done.sign_ins,
            audit_entries = done.audit_entries,
            "housekeeping removed expired rows"
        );
    }
    done
}

/// Runs [`housekeeping`] every ten minutes.
async fn keep_house(db: Db, audit_retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        housekeeping(&db, audit_retention).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Background work of a running server, stopped when dropped.
pub struct Background {
    /// Work that ends when the process stops, giving its leases back: the Git writers and
    /// the status recorder.
    leased: Vec<tokio::task::JoinHandle<()>>,
    /// Everything else: refresh loops and watchers, which hold nothing.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// The orderly stop, once the process is stopping: waits up to `within` for the lease
    /// holders to finish the step in hand and release their leases, then aborts the rest.
    pub async fn stop(mut self, within: Duration) {
        let leased = std::mem::take(&mut self.leased);
        let aborts: Vec<_> = leased.iter().map(|t| t.abort_handle()).collect();
        if tokio::time::timeout(within, futures_util::future::join_all(leased))
            .await
            .is_err()
        {
            tracing::warn!(
                ?within,
                "a lease holder did not stop in time; its lease expires on its own"
            );
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in self.leased.iter().chain(&self.tasks) {
            task.abort();
        }
    }
}

/// Starts the background work: the clones' and the catalog's refresh, the Git writers, the
/// offerings discovered in the configured clusters, the status watchers, the ledger recorder
/// and the session purge. Fails when a cluster's configuration cannot be read.
pub async fn start_background(state: &AppState) -> anyhow::Result<Background> {
    let clusters = crate::kube::cluster::connect(&state.settings.control_plane)
        .await
        .context("connecting to the clusters (SLIPWAY_CLUSTERS)")?;
    let mut tasks = vec![
        state.environments.spawn_refresh(),
        state.catalog.spawn_refresh(),
        tokio::spawn(keep_house(state.db.clone(), state.settings.audit_retention)),
        state.ledger.spawn_relay(state.db.clone()),
    ];
    let mut leased: Vec<_> = state
        .environments
        .writers()
        .iter()
        .map(|w| w.clone().spawn(state.stopping.clone()))
        .collect();
    let offerings = crate::kube::offerings::ClusterOfferings::new(
        state.catalog.catalog().clone(),
        state.settings.control_plane.clone(),
        state.environments.clone(),
    );
    tasks.extend(offerings.spawn(&clusters));
    tasks.extend(state.status.spawn(&clusters));
    leased.push(
        crate::kube::recorder::Recorder::new(
            state.db.clone(),
            state.status.clone(),
            state.environments.clone(),
            state.ledger.clone(),
            state.holder.clone(),
            crate::kube::recorder::RecorderSettings {
                sweep: state
                    .settings
                    .control_plane
                    .rediscover
                    .min(Duration::from_secs(10)),
                lease_ttl: state.settings.git.lease_ttl,
            },
        )
        .spawn(state.stopping.clone()),
    );
    for cluster in &clusters {
        tracing::info!(cluster = %cluster.name, environments = ?state.environments.in_cluster(&cluster.name), "cluster configured");
    }
    Ok(Background { leased, tasks })
}
