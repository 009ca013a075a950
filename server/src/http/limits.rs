//! Rate limits per client address, before anything else runs: sign-in routes (which anyone
//! may call and which write sign-in state), and the API (server functions, the REST API, the
//! status stream's connects). Past its limit a client gets `429` with `Retry-After` and the
//! request goes no further — no session lookup, no database write.
//!
//! The client's address is the connection's peer, or — behind a proxy that sets it — the
//! last address of the header named by `SLIPWAY_CLIENT_IP_HEADER` (the one the proxy added).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};

use crate::error::ApiError;
use crate::metrics::prom::Telemetry;

type Keyed =
    RateLimiter<IpAddr, governor::state::keyed::DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// The limiters of one process.
pub struct Limits {
    sign_in: Keyed,
    api: Keyed,
    client_ip_header: Option<HeaderName>,
    checks: AtomicU64,
    telemetry: Arc<Telemetry>,
}

impl Limits {
    /// Limits of `sign_in` and `api` requests per minute and client (bursts up to the same).
    pub fn new(
        sign_in: u32,
        api: u32,
        client_ip_header: Option<HeaderName>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        let quota = |per_minute: u32| {
            Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
        };
        Limits {
            sign_in: RateLimiter::keyed(quota(sign_in)),
            api: RateLimiter::keyed(quota(api)),
            client_ip_header,
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
        Err(not_until) => {
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
    }
}
