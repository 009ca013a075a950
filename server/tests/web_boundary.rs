//! The web boundary: who may use the development login, and what from elsewhere may become a
//! link on a page.

mod common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header, request};
use common::repo::Repo;
use common::requests::{draft_in, submit};
use common::{ORIGIN, TestApp};

fn dev_login(peer: [u8; 4], forwarded: Option<(&str, &str)>) -> Request<Body> {
    let mut request = Request::post("/auth/dev-login")
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some((name, value)) = forwarded {
        request = request.header(name, value);
    }
    let mut request = request.body(Body::from("handle=pat")).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((peer, 51_000))));
    request
}

#[tokio::test]
async fn the_development_login_answers_only_a_browser_on_this_machine() {
    let app = TestApp::new(true).await;
    for (peer, forwarded) in [
        ([10, 0, 0, 7], None),
        ([127, 0, 0, 1], Some(("x-forwarded-for", "203.0.113.9"))),
        ([127, 0, 0, 1], Some(("forwarded", "for=203.0.113.9"))),
        ([127, 0, 0, 1], Some(("x-real-ip", "203.0.113.9"))),
        ([127, 0, 0, 1], Some(("via", "1.1 sidecar"))),
    ] {
        let res = app.send(dev_login(peer, forwarded)).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{peer:?} {forwarded:?}: {}",
            res.body
        );
        assert!(res.session_cookie().is_none());
    }
    assert_eq!(app.count("sessions").await, 0);
    let res = app.send(dev_login([127, 0, 0, 1], None)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.session_cookie().is_some());
}

#[tokio::test]
async fn a_forge_address_that_is_not_https_is_shown_but_never_a_link() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let id = submit(&app, &alice, &draft_in("dev", "team-a", "orders-db", 20)).await;
    sqlx::query("UPDATE requests SET pr_url = 'javascript:alert(document.cookie)' WHERE id = $1")
        .bind(&id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let page = app.get(&format!("/requests/{id}"), Some(&alice)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("javascript:alert(document.cookie)"),
        "shown as text"
    );
    assert!(!page.body.contains("href=\"javascript:"), "never a link");
    sqlx::query(
        "UPDATE requests SET pr_url = 'https://github.com/acme/gitops/pull/7' WHERE id = $1",
    )
    .bind(&id)
    .execute(app.db().pool())
    .await
    .unwrap();
    let page = app.get(&format!("/requests/{id}"), Some(&alice)).await;
    assert!(
        page.body
            .contains("href=\"https://github.com/acme/gitops/pull/7\"")
    );
}

#[tokio::test]
async fn pages_carry_a_nonce_policy_and_everything_else_a_closed_one() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let mut nonces = Vec::new();
    for path in ["/login", "/catalog"] {
        let page = app.get(path, Some(&alice)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let policy = page
            .header(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_owned();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("no nonce in {policy}"))
            .to_owned();
        assert!(nonce.len() >= 22, "128 bits: {nonce}");
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "style-src 'self';",
        ] {
            assert!(
                policy.contains(directive),
                "{directive} missing in {policy}"
            );
        }
        assert!(
            !policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"),
            "{policy}"
        );
        // Every inline script of the page carries it.
        let scripts = page.body.matches("<script").count();
        let with_nonce = page.body.matches(&format!("nonce=\"{nonce}\"")).count();
        assert!(
            scripts > 0 && with_nonce >= scripts,
            "{with_nonce} of {scripts} scripts carry the nonce"
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a nonce per response");
    let json = app.server_fn("session", Some(&alice), "").await;
    assert_eq!(
        json.header(header::CONTENT_SECURITY_POLICY),
        Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
    );
    assert_eq!(
        json.header(header::STRICT_TRANSPORT_SECURITY),
        None,
        "plain HTTP here"
    );
}

#[tokio::test]
async fn on_https_browsers_are_told_to_stay_on_https() {
    let mut settings = common::settings(&[]);
    settings.secure_cookies = true;
    let app = TestApp::with_settings(settings).await;
    let page = app.get("/login", None).await;
    assert_eq!(
        page.header(header::STRICT_TRANSPORT_SECURITY),
        Some("max-age=31536000")
    );
}

fn from(peer: [u8; 4], request: request::Builder) -> Request<Body> {
    let mut request = request.body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((peer, 51_000))));
    request
}

#[tokio::test]
async fn a_flood_of_sign_ins_is_refused_past_the_limit_and_leaves_the_database_bounded() {
    let idp_less = {
        let mut settings = common::settings(&["--dev-login"]);
        settings.limits.sign_in_per_minute = 20;
        settings.limits.api_per_minute = 50;
        settings
    };
    let app = TestApp::with_settings(idp_less).await;
    let (audit, sessions) = (app.count("audit_log").await, app.count("sessions").await);
    let mut refused = 0;
    for i in 0..200 {
        let path = if i % 2 == 0 {
            "/auth/oidc/login"
        } else {
            "/auth/oidc/callback?error=x"
        };
        let res = app.send(from([198, 51, 100, 7], Request::get(path))).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
            let wait: u64 = res.header(header::RETRY_AFTER).unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
            assert!(
                res.body.contains("\"code\":\"rate_limited\""),
                "{}",
                res.body
            );
        }
    }
    assert_eq!(refused, 180, "the first 20 pass, the rest wait");
    assert_eq!(
        app.count("audit_log").await,
        audit,
        "no audit row for any of them"
    );
    assert_eq!(app.count("sessions").await, sessions);
    // Another client is not held back by the first one's flood; the API has its own limit.
    let res = app
        .send(from([198, 51, 100, 8], Request::get("/auth/oidc/login")))
        .await;
    assert_ne!(res.status, StatusCode::TOO_MANY_REQUESTS);
    let mut api_refused = 0;
    for _ in 0..60 {
        let res = app
            .send(from(
                [198, 51, 100, 9],
                Request::post("/api/session").header(header::ORIGIN, ORIGIN),
            ))
            .await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            api_refused += 1;
        }
    }
    assert_eq!(api_refused, 10);
}

#[tokio::test]
async fn behind_a_proxy_the_client_is_the_address_the_proxy_added() {
    let mut settings = common::settings(&["--dev-login"]);
    settings.limits.sign_in_per_minute = 5;
    settings.limits.client_ip_header = Some(header::HeaderName::from_static("x-forwarded-for"));
    let app = TestApp::with_settings(settings).await;
    let status = |client: &'static str, spoofed: &'static str| {
        let app = &app;
        async move {
            app.send(from(
                [10, 0, 0, 2],
                Request::get("/auth/oidc/login")
                    .header("x-forwarded-for", format!("{spoofed}, {client}")),
            ))
            .await
            .status
        }
    };
    for i in 0..5 {
        assert_ne!(
            status("203.0.113.1", "1.1.1.1").await,
            StatusCode::TOO_MANY_REQUESTS,
            "{i}"
        );
    }
    // A client cannot escape its limit by putting other addresses first.
    assert_eq!(
        status("203.0.113.1", "9.9.9.9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(
        status("203.0.113.2", "1.1.1.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn audit_entries_past_their_retention_are_removed() {
    let app = TestApp::new(true).await;
    let now = slipway::db::now_ms();
    for (id, at) in [("old", now - 400 * 86_400_000), ("new", now - 86_400_000)] {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor_id, actor_name, action, target, request_id, outcome, detail)
             VALUES ($1, $2, NULL, 'x', 'login', NULL, NULL, 'ok', NULL)",
        )
        .bind(id)
        .bind(at)
        .execute(app.db().pool())
        .await
        .unwrap();
    }
    let removed = slipway::db::audit::purge_before(app.db(), now - 365 * 86_400_000)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let (left,): (String,) = sqlx::query_as("SELECT id FROM audit_log WHERE id IN ('old', 'new')")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(left, "new");
}
