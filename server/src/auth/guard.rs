//! Anonymous visitors see the login page, health endpoints and static assets only; any
//! other page view is redirected to `/login?next=<path>`. Server functions under `/api/`
//! pass through: each one asks its port, which refuses anonymous callers with a clear error.

use app::domain::CurrentUser;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// Paths (exact or, ending in `/`, prefixes) an anonymous visitor may reach.
const PUBLIC: [&str; 7] = [
    "/login",
    "/healthz",
    "/readyz",
    "/favicon.svg",
    "/auth/",
    "/pkg/",
    "/api/",
];

fn is_public(path: &str) -> bool {
    PUBLIC.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p)
        } else {
            path == *p
        }
    })
}

/// Middleware: redirects anonymous page views to the login page.
pub async fn require_login(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.extensions().get::<CurrentUser>().is_some() || is_public(path) {
        return next.run(request).await;
    }
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let next_param: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        return Redirect::to(&format!("/login?next={next_param}")).into_response();
    }
    crate::error::ApiError::unauthenticated().into_response()
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_the_listed_paths_are_public() {
        for path in [
            "/login",
            "/healthz",
            "/readyz",
            "/pkg/slipway.wasm",
            "/auth/dev-login",
            "/api/session",
        ] {
            assert!(is_public(path), "{path} should be public");
        }
        for path in ["/", "/catalog", "/admin", "/loginx", "/healthz/x", "/pkgs"] {
            assert!(!is_public(path), "{path} should need a login");
        }
    }
}
