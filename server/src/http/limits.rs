//! Rate limits per client address, before anything else runs: sign-in routes (which anyone
//! may call and which write sign-in state), and the API (server functions, the REST API, the
//! status stream's connects). Past its limit a client gets `429` with `Retry-After` and the
//! request goes no further — no session lookup, no database write.
//!
//! Once the user is known (session or API token), the API is limited per user as well, so
//! one person's script cannot take what a whole office behind one address shares, and a
//! leaked token is slowed wherever it is used from.
//!
//! The client's address is the connection's peer, or — behind a proxy that sets it — the
//! last address of the header named by `SLIPWAY_CLIENT_IP_HEADER` (the one the proxy added).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};

use app::domain::CurrentUser;

use crate::config::LimitSettings;
use crate::error::ApiError;
use crate::metrics::prom::Telemetry;

type Keyed<K> = RateLimiter<K, governor::state::keyed::DefaultKeyedStateStore<K>, DefaultClock>;

/// The limiters of one process.
pub struct Limits {
    sign_in: Keyed<IpAddr>,
    api: Keyed<IpAddr>,
    user: Keyed<String>,
    client_ip_header: Option<HeaderName>,
    checks: AtomicU64,
    telemetry: Arc<Telemetry>,
}

impl Limits {
    /// The limits of `settings`, per minute (bursts up to the same).
    pub fn new(settings: &LimitSettings, telemetry: Arc<Telemetry>) -> Self {
        let quota = |per_minute: u32| {
            Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
        };
        Limits {
            sign_in: RateLimiter::keyed(quota(settings.sign_in_per_minute)),
            api: RateLimiter::keyed(quota(settings.api_per_minute)),
            user: RateLimiter::keyed(quota(settings.user_per_minute)),
            client_ip_header: settings.client_ip_header.clone(),
            checks: AtomicU64::new(0),
            telemetry,
        }
    }

    fn client(&self, request: &Request) -> IpAddr {
        if let Some(name) = &self.client_ip_header
            && let Some(address) = request
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|a| a.trim().parse::<IpAddr>().ok())
        {
            return address;
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
    }
}

/// The limiter a path falls under, by name, if any.
fn class(path: &str) -> Option<&'static str> {
    if path.starts_with("/auth/") {
        Some("sign_in")
    } else if path.starts_with("/api/") {
        Some("api")
    } else {
        None
    }
}

/// Middleware: refuses a request past its client's limit.
pub async fn limit(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let Some(class) = class(request.uri().path()) else {
        return next.run(request).await;
    };
    let limiter = if class == "sign_in" {
        &limits.sign_in
    } else {
        &limits.api
    };
    let client = limits.client(&request);
    // Forget clients idle for a while now and then, so the table stays small.
    if limits.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        limiter.retain_recent();
    }
    match limiter.check_key(&client) {
        Ok(()) => next.run(request).await,
        Err(not_until) => too_many(&limits, class, &not_until),
    }
}

/// Middleware (after the user is known): refuses an API request past its user's limit.
pub async fn limit_user(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    let user = match (
        class(request.uri().path()),
        request.extensions().get::<CurrentUser>(),
    ) {
        (Some("api"), Some(user)) => user.id.clone(),
        _ => return next.run(request).await,
    };
    if limits.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        limits.user.retain_recent();
    }
    match limits.user.check_key(&user) {
        Ok(()) => next.run(request).await,
        Err(not_until) => too_many(&limits, "user", &not_until),
    }
}

fn too_many(
    limits: &Limits,
    class: &'static str,
    not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>,
) -> Response {
    limits.telemetry.rate_limited(class);
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("Too many requests; try again in {seconds} s."),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
    .into_response()
}

/// Middleware: refuses a request body over `max` bytes with 413 before any handler sees it.
/// A declared `Content-Length` over the limit is refused without reading; any other body
/// (chunked, or of unknown length) is read up to the limit first, so a handler never meets
/// a body that stops halfway — server functions would report that as their own 500.
pub async fn body_limit(State(max): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return crate::error::payload_too_large();
    }
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && declared.is_none()
    {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // A client that stops sending must not hold its buffer for ever.
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, max)).await;
    match read {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(error)) if is_length_limit(&error) => crate::error::payload_too_large(),
        Ok(Err(error)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("The request body could not be read: {error}."),
        )
        .into_response(),
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "The request body did not arrive in time.",
        )
        .into_response(),
    }
}

/// How long a request body may take to arrive.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
