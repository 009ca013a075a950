//! The HTTP surface: health endpoints, auth routes, the REST API, the status stream, CSV
//! exports, Leptos pages and server functions, static files, and the middleware stack around
//! them. `serve` (the process's life) is in [`serve`].
//!
//! ```text
//!  trace ─▶ rate limit ─▶ security headers ─▶ 413 as JSON ─▶ body limit ─▶ CSRF ─▶ session
//!        ─▶ login guard ─▶ route
//! ```
//! Every route outside Leptos answers errors in one JSON shape ([`crate::error::ErrorBody`]).

pub mod api;
pub mod exports;
pub mod limits;
pub mod reference;
pub mod rest;
pub mod serve;
pub mod stream;

use app::{App, shell};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use serde_json::json;
use std::sync::{Arc, LazyLock};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::oidc;
use crate::auth::{csrf, dev, guard, session};
use crate::db::Db;
use crate::metrics::prom::Telemetry;
use crate::shutdown::Stopping;
use crate::state::AppState;

/// Leptos options for a site root (cargo-leptos's output) and listen address.
pub fn leptos_options(site_root: &std::path::Path, listen: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("slipway")
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(listen)
        .hash_files(hash_file().is_some_and(|f| f.exists()))
        .build()
}

/// `hash.txt`, which `cargo leptos build` writes beside the binary: the hashes in the names of
/// the front end's files. Without it (a binary built by `cargo build` alone, the tests) pages
/// name the files without hashes.
fn hash_file() -> Option<std::path::PathBuf> {
    Some(std::env::current_exe().ok()?.parent()?.join("hash.txt"))
}

/// The routes outside Leptos: (path, method, handler). One list, so tests can walk every
/// route (the authorization matrix and the error-shape test fail on a route they have no
/// entry for).
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
        ("/admin/audit.csv", Method::GET, get(exports::audit_csv)),
        (
            "/api/metrics/export/{table}",
            Method::GET,
            get(exports::metrics_csv),
        ),
        ("/api/status/events", Method::GET, get(stream::events)),
        ("/api/hooks/forge", Method::POST, post(api::forge_hook)),
    ]
    .into_iter()
    .chain(rest::routes())
    .collect()
}

/// The page routes, generated once per process.
///
/// Generating them runs the app with resource loading suppressed through a process-wide flag
/// in `leptos_server` (leptos-rs/leptos#4773): a page whose resource is first polled while any
/// router is being built waits forever. Built once, before any router exists, no page can be
/// rendering at that moment — also in the tests, which build many routers in one process and
/// hung about once in ten runs when each built its own.
static PAGE_ROUTES: LazyLock<Vec<AxumRouteListing>> = LazyLock::new(|| generate_route_list(App));

/// The Content Security Policy of a page rendered with `nonce`: scripts only from the portal
/// or carrying the nonce (WebAssembly compiled, nothing evaluated), styles only from the
/// portal, no plugins, no `<base>`, no framing.
fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

/// The policy of every response that is not a page.
const NOT_A_PAGE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The whole application as a router: what `serve` listens with and tests call directly.
pub fn router(state: AppState) -> Router {
    let routes = PAGE_ROUTES.clone();
    let ports = state.ports.clone();
    // Every page gets a Content Security Policy with the nonce leptos_axum made for its
    // render (its hydration scripts and the theme script carry it).
    let context = move || {
        provide_context(ports.clone());
        if let (Some(nonce), Some(response)) = (
            leptos::nonce::use_nonce(),
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        ) && let Ok(policy) = HeaderValue::from_str(&page_policy(&nonce))
        {
            response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
        }
    };
    let secure = state.settings.secure_cookies;
    let options = state.leptos_options.clone();
    let max_body = state.settings.max_body_bytes;

    plain_routes()
        .into_iter()
        .fold(Router::new(), |router, (path, _, route)| router.route(path, route))
        .leptos_routes_with_context(&state, routes, context.clone(), move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell))
        .route_layer(from_fn_with_state(state.telemetry.clone(), track_http))
        // Bodies are read only for requests the guards let through (an anonymous POST to a
        // page is answered without reading a byte of it).
        .layer(from_fn_with_state(max_body, limits::body_limit))
        .layer(from_fn(guard::require_login))
        .layer(from_fn_with_state(state.limits.clone(), limits::limit_user))
        .layer(from_fn_with_state(state.auth.clone(), session::load_user))
        .layer(from_fn_with_state(state.auth.clone(), csrf::same_origin_writes))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(from_fn(static_files))
        // What is not a page (JSON, files, errors) may load nothing and be framed nowhere.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(NOT_A_PAGE_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            secure.then(|| HeaderValue::from_static("max-age=31536000")),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(from_fn_with_state(state.limits.clone(), limits::limit))
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

/// Counts and times every routed HTTP request for Prometheus, labelled by the route's pattern.
/// Server functions share one wildcard route: they are labelled by their path (a fixed set)
/// when one answered, `unmatched` when none did. Requests no route takes (static files,
/// unknown paths) reach the fallback, which this layer does not wrap.
async fn track_http(
    State(telemetry): State<Arc<Telemetry>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
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
    telemetry.http(
        &method,
        route,
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Headers of the front end's files. They exist as built and compressed (`make release`
/// writes gzip and brotli copies); which one a browser gets depends on its `Accept-Encoding`,
/// so a cache between the portal and its users must key on it too. A file whose name carries
/// the hash of its content never changes under that name: browsers may keep it for a year
/// without asking again (a release brings other names).
async fn static_files(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if let Some(file) = path.strip_prefix("/pkg/") {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        if response.status() == StatusCode::OK && is_hashed(file) {
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
        }
    }
    response
}

/// Whether a file name carries cargo-leptos's content hash: `name.<22 characters>.ext`.
fn is_hashed(file: &str) -> bool {
    let parts: Vec<&str> = file.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|p| {
            p.len() == 22
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                // cargo-leptos's placeholder in the unhashed split loader's name
                && p.bytes().any(|b| b != b'_')
        })
        && !file.contains('/')
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
                    state.telemetry.render(&state.status.clusters()),
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

/// `GET /readyz`: the portal can serve requests (database reachable, schema current, the
/// catalog's offering files loaded once, not stopping). A portal that is not ready answers 503 in the error shape, naming what is
/// missing; a stopping one says so from its SIGTERM on, so the load balancer stops sending
/// it requests while it finishes those in flight.
async fn readyz(
    State(db): State<Db>,
    State(stopping): State<Stopping>,
    State(catalog): State<Arc<crate::services::catalog::CatalogService>>,
) -> Response {
    if stopping.is_stopping() {
        return crate::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "The portal is shutting down.",
        )
        .into_response();
    }
    let database = match db.ping().await {
        Ok(()) => match db.migrations_applied().await {
            Ok(n) if usize::try_from(n).is_ok_and(|n| n >= db.migrations_known()) => "ok",
            Ok(_) => "migrations pending",
            Err(_) => "unreachable",
        },
        Err(_) => "unreachable",
    };
    let missing = if database == "ok" {
        match catalog.readiness() {
            Ok(()) => {
                return Json(json!({ "ready": true, "database": database, "catalog": "ok" }))
                    .into_response();
            }
            Err(missing) => missing,
        }
    } else {
        format!("The database is {database}.")
    };
    crate::error::ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", missing)
        .into_response()
}
