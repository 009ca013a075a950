//! The authorization matrix: every route and server function, as an anonymous visitor, a
//! member of team A, a member of team B and an administrator, against the status each must
//! get. Routes are enumerated from the application itself (Leptos pages, registered server
//! functions, `http::plain_routes`), so a new route without an entry here fails the test.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{ORIGIN, TestApp};
use tower::ServiceExt as _;

const ROLES: [&str; 4] = ["anonymous", "alice (team-a)", "bob (team-b)", "pat (admin)"];

/// Expected status for [anonymous, team A member, team B member, admin].
fn expected(method: &Method, path: &str) -> Option<[u16; 4]> {
    let page = [303, 200, 200, 200];
    Some(match (method.as_str(), path) {
        ("GET", "/healthz" | "/readyz" | "/login") => [200; 4],
        // Anonymous visitors are sent to the login page; everyone else to the catalog.
        ("GET", "/") => [303; 4],
        ("GET", "/catalog" | "/requests" | "/status" | "/status/clusters" | "/metrics") => page,
        // Live status: a member's stream and claims are filtered to their teams
        // (status_live.rs); another team's request is "not found"; clusters are no team's.
        ("GET", "/api/status/events") => [401, 200, 200, 200],
        ("POST", "/api/status/claims" | "/api/status/clusters") => [401, 200, 200, 200],
        ("POST", "/api/status/request") => [401, 404, 404, 404],
        // Metrics: every signed-in user, scoped to their teams (metrics_http.rs); a team one
        // is not in is "not found" (admins see any); an offering page shows the actor's teams'
        // requests of it. An unknown table or request is "not found".
        ("GET", "/metrics/offerings/{id}") => page,
        ("GET", "/metrics/teams/{team}") => [303, 404, 404, 200],
        ("POST", "/api/metrics/dashboard") => [401, 200, 200, 200],
        ("POST", "/api/metrics/feedback") => [401, 404, 404, 404],
        ("GET", "/api/metrics/export/{table}") => [401, 404, 404, 404],
        ("GET", "/admin" | "/admin/audit" | "/admin/audit.csv") => [303, 403, 403, 200],
        ("POST", "/api/audit") => [401, 403, 403, 200],
        // Failed and stuck Git jobs: administrators only (requests_hardening.rs acts on real
        // ones); an unknown job is "not found".
        ("GET", "/admin/git") => [303, 403, 403, 200],
        ("POST", "/api/admin/git-jobs") => [401, 403, 403, 200],
        ("POST", "/api/admin/git-jobs/retry" | "/api/admin/git-jobs/abandon") => {
            [401, 403, 403, 404]
        }
        // Everyone manages their own tokens; revoking an unknown token is "not found".
        ("GET", "/tokens") => page,
        ("POST", "/api/tokens" | "/api/tokens/create") => [401, 200, 200, 200],
        ("POST", "/api/tokens/revoke") => [401, 404, 404, 404],
        ("GET", "/api/v1/me") => [401, 200, 200, 200],
        // The catalog: every signed-in user; an unknown offering is "not found" for all.
        ("GET", "/catalog/{id}") => [303, 404, 404, 404],
        ("POST", "/api/catalog") => [401, 200, 200, 200],
        ("POST", "/api/catalog/offering" | "/api/catalog/preview") => [401, 404, 404, 404],
        ("POST", "/api/drafts/save" | "/api/drafts/load") => [401, 404, 404, 404],
        ("POST", "/api/drafts/discard") => [401, 200, 200, 200],
        // Requests: lists are filtered to the actor's teams; an unknown (or another team's,
        // see requests_git.rs) request is "not found"; submitting for an unknown offering too.
        ("GET", "/requests/{id}") => [303, 404, 404, 404],
        ("POST", "/api/requests") => [401, 200, 200, 200],
        ("POST", "/api/requests/get") => [401, 404, 404, 404],
        ("POST", "/api/requests/submit") => [401, 404, 404, 404],
        ("POST", "/api/requests/change" | "/api/requests/change-source") => [401, 404, 404, 404],
        // Forge webhooks carry no session: a signature decides (requests_pull.rs); with no
        // forge configured the route answers "not configured" to everyone.
        ("POST", "/api/hooks/forge") => [404; 4],
        // What every page needs, also before sign-in.
        ("POST", "/api/session" | "/api/login-options") => [200; 4],
        ("POST", "/api/system") => [401, 403, 403, 200],
        // Sign-in and sign-out are open to all; their protection (CSRF, dev-only, state)
        // has its own tests. SSO routes are absent without SSO configured (tests/oidc.rs).
        ("POST", "/auth/dev-login" | "/auth/logout") => [303; 4],
        ("GET", "/auth/oidc/login" | "/auth/oidc/callback") => [404; 4],
        _ => return None,
    })
}

fn every_route() -> Vec<(Method, String)> {
    let mut routes: Vec<(Method, String)> = slipway::http::plain_routes()
        .into_iter()
        .map(|(path, method, _)| (method, path.to_owned()))
        .collect();
    for listing in leptos_axum::generate_route_list(app::App) {
        routes.push((Method::GET, listing.path().to_owned()));
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((method, path.to_owned()));
    }
    routes.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    routes.dedup();
    routes
}

fn probe(method: &Method, path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::ORIGIN, ORIGIN);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    // A valid body, so that only authorization decides the answer.
    let body = match path {
        "/auth/dev-login" => "handle=alice",
        "/api/audit" => "filter[actor]=",
        "/api/tokens/create" => "name=probe&scopes=read&expires_in_days=7",
        "/api/tokens/revoke" => "id=no-such-token",
        "/api/admin/git-jobs/retry" => "id=no-such",
        "/api/admin/git-jobs/abandon" => "id=no-such&reason=probe",
        "/api/metrics/feedback" => {
            "feedback[request_id]=no-such&feedback[rating]=4&feedback[comment]=fine"
        }
        "/api/catalog/offering"
        | "/api/drafts/load"
        | "/api/drafts/discard"
        | "/api/requests/get"
        | "/api/status/request"
        | "/api/requests/change-source" => "offering=no-such&id=no-such&of=no-such",
        "/api/requests/change" => {
            return req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"of":"no-such","action":"delete","draft":null}"#,
                ))
                .unwrap();
        }
        "/api/catalog/preview" | "/api/drafts/save" | "/api/requests/submit" => {
            return req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"draft":{"offering":"no-such"}}"#))
                .unwrap();
        }
        _ => "",
    };
    req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn every_route_allows_and_denies_exactly_as_the_matrix_says() {
    let app = TestApp::new(true).await;
    let routes = every_route();
    let missing: Vec<String> = routes
        .iter()
        .filter(|(m, p)| expected(m, p).is_none())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the authorization matrix: {missing:?}"
    );
    assert!(
        routes.len() >= 14,
        "the enumeration found too few routes: {routes:?}"
    );

    let mut wrong = Vec::new();
    for (method, path) in &routes {
        let want = expected(method, path).unwrap();
        for (role, handle) in [None, Some("alice"), Some("bob"), Some("pat")]
            .into_iter()
            .enumerate()
        {
            // A fresh session per probe: probing sign-out must not end the next probe's session.
            let cookie = match handle {
                Some(h) => Some(app.login_as(h).await),
                None => None,
            };
            let request = probe(method, path, cookie.as_deref());
            // An event stream never ends: its status is all there is to read.
            let res = if path == "/api/status/events" {
                let response = app.router.clone().oneshot(request).await.unwrap();
                common::TestResponse {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: String::new(),
                }
            } else {
                app.send(request).await
            };
            if res.status != StatusCode::from_u16(want[role]).unwrap() {
                let body: String = res.body.chars().take(120).collect();
                wrong.push(format!(
                    "{method} {path} as {}: expected {}, got {} ({body})",
                    ROLES[role], want[role], res.status
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix violations:\n{}",
        wrong.join("\n")
    );
}
