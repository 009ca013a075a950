//! Cross-site request forgery protection for every state-changing request (forms, server
//! functions, future REST calls): an unsafe method must come from the portal's own origin.
//! Browsers send `Origin` on every cross-origin and same-origin POST, and `SameSite=Lax`
//! cookies already stay home on cross-site POSTs; this check is the second lock. A request
//! with neither `Origin` nor `Referer` is refused when it carries the session cookie (it
//! would act with the user's authority); without the cookie it has no authority to abuse.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthState;
use crate::auth::session::{cookie_name, cookie_value};
use crate::error::ApiError;

/// Middleware: refuses cross-origin state-changing requests with 403.
pub async fn same_origin_writes(
    State(state): State<AuthState>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return next.run(request).await;
    }
    let expected = &state.settings.public_origin;
    match request_origin(request.headers()) {
        Some(origin) if &origin == expected => next.run(request).await,
        Some(origin) => refuse(&format!("cross-origin request from {origin} refused")),
        None if cookie_value(request.headers(), cookie_name(&state.settings)).is_some() => {
            refuse("request without Origin or Referer refused")
        }
        None => next.run(request).await,
    }
}

fn refuse(reason: &str) -> Response {
    tracing::warn!(reason, "CSRF check failed");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin_refused",
        "This request did not come from Slipway's own pages and was refused.",
    )
    .into_response()
}

/// `Origin`, or else the origin part of `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // "null" (sandboxed frames, some redirects) is an origin that matches nothing.
        return Some(origin.to_owned());
    }
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    Some(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_origin_header_wins_over_the_referer() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://portal.example/catalog"),
        );
        assert_eq!(request_origin(&h).as_deref(), Some("https://evil.example"));
    }

    #[test]
    fn the_referer_gives_its_origin_when_origin_is_absent() {
        let mut h = HeaderMap::new();
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://portal.example:8443/x?y=1"),
        );
        assert_eq!(
            request_origin(&h).as_deref(),
            Some("https://portal.example:8443")
        );
    }
}
