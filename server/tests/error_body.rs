//! Every endpoint outside Leptos answers its errors in one JSON shape,
//! `{"code": "<stable>", "message": "<for people>"}`, and so do the middleware refusals in
//! front of every route (CSRF, sign-in, tokens, body size). The routes come from
//! `http::plain_routes`, so a new one without a case here fails.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{ORIGIN, TestApp};

/// Routes that answer no error of their own: a redirect, a liveness "ok", the API's public
/// documents.
const NEVER_ERR: [&str; 4] = [
    "GET /",
    "GET /healthz",
    "GET /api/v1/openapi.json",
    "GET /api/v1/docs",
];

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn with_cookie(mut request: Request<Body>, cookie: &str) -> Request<Body> {
    request
        .headers_mut()
        .insert(header::COOKIE, cookie.parse().unwrap());
    request
}

/// Asserts the one error shape, returning the code.
fn code_of(what: &str, res: &common::TestResponse) -> String {
    assert!(
        res.status.is_client_error() || res.status.is_server_error(),
        "{what}: an error was provoked, got {}",
        res.status
    );
    assert!(
        res.header(header::CONTENT_TYPE)
            .is_some_and(|t| t.starts_with("application/json")),
        "{what}: JSON, got {:?}: {}",
        res.header(header::CONTENT_TYPE),
        res.body
    );
    let body: serde_json::Value = serde_json::from_str(&res.body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", res.body));
    let object = body.as_object().expect("an object");
    assert!(
        object
            .keys()
            .all(|k| ["code", "message", "fields"].contains(&k.as_str())),
        "{what}: only code, message (and fields): {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    body["code"].as_str().expect("a code").to_owned()
}

#[tokio::test]
async fn every_plain_route_answers_its_errors_in_the_one_shape() {
    let app = TestApp::new(false).await;
    let with_dev = TestApp::new(true).await;
    let member = with_dev.login_as("alice").await;
    let down = TestApp::new(false).await;
    down.db().close().await;

    let mut covered = Vec::new();
    for (path, method, _) in slipway::http::plain_routes() {
        let route = format!("{method} {path}");
        if NEVER_ERR.contains(&route.as_str()) {
            covered.push(route);
            continue;
        }
        let (res, code) = match (method.clone(), path) {
            (Method::GET, "/readyz") => (down.send(get("/readyz")).await, "not_ready"),
            (Method::POST, "/auth/dev-login") => (
                app.send(post("/auth/dev-login", "handle=alice")).await,
                "not_found",
            ),
            (Method::POST, "/auth/logout") => (
                down.send(with_cookie(post("/auth/logout", ""), "slipway_session=x"))
                    .await,
                "unavailable",
            ),
            (Method::GET, "/auth/oidc/login" | "/auth/oidc/callback") => {
                (app.send(get(path)).await, "not_found")
            }
            (Method::GET, "/admin/audit.csv") => (
                with_dev
                    .send(with_cookie(get("/admin/audit.csv"), &member))
                    .await,
                "forbidden",
            ),
            (Method::GET, "/api/metrics/export/{table}") => (
                with_dev
                    .send(with_cookie(
                        get("/api/metrics/export/no-such-table"),
                        &member,
                    ))
                    .await,
                "not_found",
            ),
            // Every REST route refuses an anonymous caller before reading anything else.
            (method, path) if path.starts_with("/api/v1/") => {
                let uri = path
                    .replace("{id}", "x")
                    .replace("{target}", "x")
                    .replace("{table}", "x");
                let request = Request::builder()
                    .method(method)
                    .uri(uri)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap();
                (app.send(request).await, "unauthenticated")
            }
            (Method::GET, "/api/status/events") => {
                (app.send(get("/api/status/events")).await, "unauthenticated")
            }
            (Method::POST, "/api/hooks/forge") => (
                app.send(post("/api/hooks/forge", "{}")).await,
                "webhooks_not_configured",
            ),
            _ => panic!("{route}: no error case in this test; add one"),
        };
        assert_eq!(code_of(&route, &res), code, "{route}");
        covered.push(route);
    }
    assert!(covered.len() >= 12, "{covered:?}");
}

#[tokio::test]
async fn the_middleware_refusals_answer_in_the_one_shape_too() {
    let app = TestApp::new(true).await;
    let member = app.login_as("alice").await;

    // CSRF: a state-changing request from another origin.
    let foreign = Request::post("/auth/logout")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &member)
        .body(Body::empty())
        .unwrap();
    let res = app.send(foreign).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(code_of("CSRF", &res), "cross_origin_refused");

    // Sign-in: an anonymous state-changing request to a page.
    let res = app.send(post("/catalog", "")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of("guard", &res), "unauthenticated");

    // Tokens: an unknown bearer token, with its RFC 6750 challenge beside the body.
    let bad = Request::get("/api/v1/me")
        .header(header::AUTHORIZATION, "Bearer slp_unknown")
        .body(Body::empty())
        .unwrap();
    let res = app.send(bad).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of("token", &res), "invalid_token");
    assert_eq!(
        res.header(header::WWW_AUTHENTICATE),
        Some(r#"Bearer error="invalid_token""#)
    );

    // Size: a body over the limit.
    let huge = "x".repeat(2 * 1024 * 1024);
    let res = app.send(post("/api/hooks/forge", &huge)).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code_of("size", &res), "payload_too_large");
}
