//! The HTTP surface: health endpoints, auth routes, Leptos pages and server functions, static
//! files, and the middleware stack around them.
//!
//! ```text
//!  trace ─▶ security headers ─▶ body limit ─▶ CSRF ─▶ session ─▶ login guard ─▶ route
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use app::domain::{AuditFilter, CurrentUser};
use app::{App, shell};
use axum::Extension;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::oidc::{self, Oidc};
use crate::auth::{csrf, dev, guard, session};
use crate::config::{ServeArgs, Settings};
use crate::db::{self, Db};
use crate::services;
use crate::state::AppState;

/// Builds the state from its parts (used by `serve` and by tests).
pub fn state(
    leptos_options: LeptosOptions,
    db: Db,
    settings: Settings,
) -> anyhow::Result<AppState> {
    let oidc = match &settings.oidc {
        Some(oidc) => Some(Arc::new(
            Oidc::new(oidc.clone(), &settings.public_origin)
                .context("setting up single sign-on")?,
        )),
        None => None,
    };
    let settings = Arc::new(settings);
    let environments: Vec<(String, crate::config::EnvironmentGit)> = settings
        .catalog
        .environments
        .iter()
        .map(|e| (e.clone(), settings.environment_git(e)))
        .collect();
    let catalog = Arc::new(services::catalog::CatalogService::new(
        db.clone(),
        Arc::new(crate::catalog::Catalog::new()),
        settings.catalog.clone(),
        &environments,
    ));
    // One writer per repository and branch: the catalog's, and each environment's.
    let holder = format!("{}-{}", hostname(), db::new_id());
    let default_target = settings.git_target();
    let mut writers: Vec<Arc<crate::git::writer::Writer>> = Vec::new();
    let mut targets = vec![(
        default_target.clone(),
        None::<&crate::config::EnvironmentGit>,
    )];
    targets.extend(
        environments
            .iter()
            .map(|(_, git)| (git.target.clone(), Some(git))),
    );
    for (target, _) in &targets {
        if writers.iter().any(|w| w.target().key() == target.key()) {
            continue;
        }
        let same: Vec<&crate::config::EnvironmentGit> = environments
            .iter()
            .map(|(_, g)| g)
            .filter(|g| g.target.key() == target.key())
            .collect();
        let mut writer = crate::git::writer::Writer::new(
            db.clone(),
            target.clone(),
            settings.git.writer.clone(),
            // Names this process in the writer's lease; a restart is a new holder.
            holder.clone(),
        )
        .with_roots(
            same.iter()
                .filter(|g| !g.prefix.is_empty())
                .map(|g| g.prefix.clone())
                .collect(),
        );
        if let Some(pulls) = &settings.git.pull_requests {
            let mut forge = pulls.forge.clone();
            if let Some(project) = same.iter().find_map(|g| g.forge_project.clone()) {
                forge.project = project;
            }
            writer = writer.with_forge(
                crate::git::forge::client(forge),
                settings.public_origin.clone(),
                pulls.poll,
            );
        }
        writers.push(Arc::new(writer));
    }
    let route = |target: &crate::git::writer::Target, pull_request: bool| {
        let writer = writers
            .iter()
            .find(|w| w.target().key() == target.key())
            .expect("a writer for every target");
        services::requests::WriteRoute {
            repository: target.key(),
            waker: writer.waker(),
            pull_request,
        }
    };
    let routes = environments
        .iter()
        .map(|(name, git)| (name.clone(), route(&git.target, git.pull_request)))
        .collect();
    let requests = Arc::new(services::requests::RequestService::new(
        db.clone(),
        catalog.clone(),
        settings.git.commit_url.clone(),
        routes,
        route(&default_target, false),
    ));
    let writer = writers[0].clone();
    let status = crate::kube::watch::StatusWatch::new(
        catalog.catalog().clone(),
        settings.control_plane.clone(),
        crate::kube::hub::Hub::new(4096),
    );
    let ports = services::ports(
        &db,
        &settings,
        &catalog,
        requests,
        Arc::new(services::status::StatusService::new(
            db.clone(),
            status.clone(),
        )),
        Arc::new(services::metrics::MetricsService::new(
            db.clone(),
            writers
                .iter()
                .map(|writer| {
                    // An environment lives in its path prefix, or else in its own folder
                    // (the default layout); those are the GitOps paths.
                    let mut folders: Vec<String> = environments
                        .iter()
                        .filter(|(_, git)| git.target.key() == writer.target().key())
                        .map(|(name, git)| {
                            if git.prefix.is_empty() {
                                name.clone()
                            } else {
                                git.prefix.clone()
                            }
                        })
                        .collect();
                    folders.sort();
                    folders.dedup();
                    (writer.clone(), folders)
                })
                .collect(),
        )),
    );
    Ok(AppState {
        status,
        holder,
        writer,
        writers,
        catalog,
        leptos_options,
        db,
        settings,
        ports,
        oidc,
    })
}

/// This machine's name (pod name in Kubernetes), for leases; `unknown` when unset.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Leptos options for a site root (cargo-leptos's output) and listen address.
pub fn leptos_options(site_root: &std::path::Path, listen: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("slipway")
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(listen)
        .build()
}

/// The routes outside Leptos: (path, method, handler). One list, so tests can walk every
/// route (the authorization matrix fails on a route it has no entry for).
pub fn plain_routes() -> Vec<(&'static str, http::Method, MethodRouter<AppState>)> {
    use http::Method;
    vec![
        // The portal's front door is the catalog; a real redirect, not a page that redirects.
        ("/", Method::GET, get(|| async { Redirect::to("/catalog") })),
        ("/healthz", Method::GET, get(healthz)),
        ("/readyz", Method::GET, get(readyz)),
        ("/auth/dev-login", Method::POST, post(dev::login)),
        ("/auth/logout", Method::POST, post(session::logout)),
        ("/auth/oidc/login", Method::GET, get(oidc::login)),
        ("/auth/oidc/callback", Method::GET, get(oidc::callback)),
        ("/admin/audit.csv", Method::GET, get(audit_csv)),
        ("/api/metrics/export/{table}", Method::GET, get(metrics_csv)),
        ("/api/v1/me", Method::GET, get(crate::api::me)),
        (
            "/api/status/events",
            Method::GET,
            get(crate::stream::events),
        ),
        (
            "/api/hooks/forge",
            Method::POST,
            post(crate::api::forge_hook),
        ),
    ]
}

/// The whole application as a router: what `serve` listens with and tests call directly.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let ports = state.ports.clone();
    let context = move || provide_context(ports.clone());
    let options = state.leptos_options.clone();
    let max_body = state.settings.max_body_bytes;

    plain_routes()
        .into_iter()
        .fold(Router::new(), |router, (path, _, route)| router.route(path, route))
        .leptos_routes_with_context(&state, routes, context.clone(), move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell))
        .route_layer(from_fn(track_http))
        .layer(from_fn(guard::require_login))
        .layer(from_fn_with_state(state.clone(), session::load_user))
        .layer(from_fn_with_state(state.clone(), csrf::same_origin_writes))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(
            TraceLayer::new_for_http()
                // The path only: query strings may carry OAuth codes or search terms.
                .make_span_with(|req: &http::Request<_>| {
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// `GET /admin/audit.csv`: the audit entries matching the page's filters, as CSV.
async fn audit_csv(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "Please sign in.").into_response();
    };
    let entries = match state.ports.audit.export(&user, &filter).await {
        Ok(entries) => entries,
        Err(error) => return (error.status_code(), error.to_string()).into_response(),
    };
    let mut body = Vec::new();
    if let Err(error) = services::audit::to_csv(&entries, &mut body) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            crate::error::internal("writing CSV", &error).to_string(),
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"slipway-audit.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/metrics/export/{table}?days=&team=&offering=`: one dashboard table as CSV,
/// scoped like the dashboard.
async fn metrics_csv(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    axum::extract::Path(table): axum::extract::Path<String>,
    Query(query): Query<app::metrics::MetricsQuery>,
) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "Please sign in.").into_response();
    };
    if !app::metrics::TABLES.contains(&table.as_str()) {
        return (StatusCode::NOT_FOUND, "No such table.").into_response();
    }
    let dashboard = match state.ports.metrics.dashboard(&user, &query).await {
        Ok(dashboard) => dashboard,
        Err(error) => return (error.status_code(), error.to_string()).into_response(),
    };
    match services::metrics::to_csv(&dashboard, &table) {
        Some(Ok(body)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"slipway-{table}-{}d.csv\"",
                        dashboard.days
                    ),
                ),
            ],
            body,
        )
            .into_response(),
        Some(Err(error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            crate::error::internal("writing CSV", &error).to_string(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "No such table.").into_response(),
    }
}

/// Counts and times every routed HTTP request for Prometheus, labelled by the route's pattern.
/// Server functions share one wildcard route: they are labelled by their path (a fixed set)
/// when one answered, `unmatched` when none did. Requests no route takes (static files,
/// unknown paths) reach the fallback, which this layer does not wrap.
async fn track_http(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let pattern = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let route = match pattern {
        Some(pattern) if !pattern.contains("{*") => pattern,
        Some(_) if status != StatusCode::NOT_FOUND => path,
        _ => "unmatched".to_owned(),
    };
    crate::metrics::prom::global().http(
        &method,
        route,
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The admin listener's routes: the Prometheus exposition.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    crate::metrics::prom::global().render(&state.status.clusters()),
                )
            }),
        )
        .with_state(state)
}

/// `GET /healthz`: the process is alive. Touches nothing else, so an orchestrator does not
/// restart the portal because a dependency is down.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the portal can serve requests (database reachable, schema current).
async fn readyz(State(db): State<Db>) -> impl IntoResponse {
    let database = match db.ping().await {
        Ok(()) => match db.migrations_applied().await {
            Ok(n) if usize::try_from(n).is_ok_and(|n| n >= db.migrations_known()) => "ok",
            Ok(_) => "migrations pending",
            Err(_) => "unreachable",
        },
        Err(_) => "unreachable",
    };
    let ready = database == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "database": database })),
    )
}

/// `slipway serve`: migrate, then serve until SIGINT/SIGTERM, then drain for the grace period.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let db = args.database.open_migrated().await?;
    if settings.dev_login {
        tracing::warn!("development login is ON: anyone can sign in as any sample persona");
    }
    let public_origin = settings.public_origin.clone();
    let state = state(
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
    let purge = tokio::spawn(purge_expired_sessions(db.clone()));
    let admin = match args.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding SLIPWAY_METRICS_LISTEN={address}"))?;
            tracing::info!(address = %listener.local_addr()?, "Prometheus metrics at /metrics");
            let router = admin_router(state.clone());
            Some(tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
                    tracing::error!(%error, "the metrics listener stopped");
                }
            }))
        }
        None => None,
    };
    let background = start_background(&state).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding SLIPWAY_LISTEN={}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, %public_origin, backend = db.backend().name(), "Slipway is serving");

    let stopping = Arc::new(tokio::sync::Notify::new());
    let server = axum::serve(listener, router(state)).with_graceful_shutdown({
        let stopping = stopping.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            stopping.notify_waiters();
        }
    });
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    tokio::select! {
        result = server.into_future() => result.context("serving HTTP")?,
        () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "grace period over; closing remaining connections");
        }
    }
    purge.abort();
    if let Some(admin) = admin {
        admin.abort();
    }
    drop(background);
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn purge_expired_sessions(db: Db) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match db::sessions::purge_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired sessions purged"),
            Err(error) => tracing::warn!(%error, "purging expired sessions failed; will retry"),
        }
        if let Err(error) = db::sessions::purge_expired_sign_ins(&db).await {
            tracing::warn!(%error, "purging abandoned sign-ins failed; will retry");
        }
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

/// Settings for tests and tools that build a router without command-line parsing.
pub fn settings_for(public_origin: &str, dev_login: bool) -> Settings {
    Settings {
        public_origin: public_origin.to_owned(),
        secure_cookies: public_origin.starts_with("https://"),
        dev_login,
        session_ttl: Duration::from_secs(3600),
        session_idle: Duration::from_secs(1800),
        oidc: None,
        git_url: "file:///nonexistent/gitops.git".into(),
        max_body_bytes: 1024 * 1024,
        catalog: crate::config::CatalogSettings {
            environments: vec!["dev".into(), "staging".into(), "prod".into()],
            repo_url: "file:///nonexistent/gitops.git".into(),
            branch: "main".into(),
            repo_path: "catalog".into(),
            dir: None,
            credentials: crate::git::Credentials::default(),
            cache_dir: std::env::temp_dir().join("slipway-test-cache"),
            refresh: Duration::from_secs(30),
        },
        control_plane: crate::config::ControlPlaneSettings {
            rediscover: Duration::from_secs(60),
            ..Default::default()
        },
        git: crate::config::GitSettings {
            writer: crate::git::writer::WriterSettings {
                bot_name: "Slipway".into(),
                bot_email: "slipway@localhost".into(),
                clone_dir: std::env::temp_dir().join(format!(
                    "slipway-test-git-{}",
                    uuid::Uuid::now_v7().simple()
                )),
                retry_base: Duration::from_millis(200),
                retry_max: Duration::from_secs(2),
                lease_ttl: Duration::from_secs(5),
                poll: Duration::from_millis(500),
                batch: 100,
            },
            commit_url: None,
            pull_requests: None,
            environments: Default::default(),
        },
    }
}

/// Background work of a running server, stopped when dropped.
pub struct Background {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the background work: the catalog's file refresh, the Git writer, the offerings
/// discovered in the configured clusters, the status watchers and the ledger recorder. Fails when a cluster's configuration cannot be read.
pub async fn start_background(state: &AppState) -> anyhow::Result<Background> {
    let clusters = crate::kube::cluster::connect(&state.settings.control_plane)
        .await
        .context("connecting to the clusters (SLIPWAY_CLUSTERS)")?;
    let mut tasks = vec![state.catalog.spawn_refresh()];
    tasks.extend(state.writers.iter().map(|w| w.clone().spawn()));
    let offerings = crate::kube::offerings::ClusterOfferings::new(
        state.catalog.catalog().clone(),
        state.settings.control_plane.clone(),
    );
    tasks.extend(offerings.spawn(&clusters));
    tasks.extend(state.status.spawn(&clusters));
    tasks.push(
        crate::kube::recorder::Recorder::new(
            state.db.clone(),
            state.status.clone(),
            state.writers.clone(),
            state.holder.clone(),
            crate::kube::recorder::RecorderSettings {
                sweep: state
                    .settings
                    .control_plane
                    .rediscover
                    .min(Duration::from_secs(10)),
                lease_ttl: state.settings.git.writer.lease_ttl,
            },
        )
        .spawn(),
    );
    for cluster in &clusters {
        tracing::info!(cluster = %cluster.name, environments = ?state.settings.control_plane.environments_of(&cluster.name), "cluster configured");
    }
    Ok(Background { tasks })
}
