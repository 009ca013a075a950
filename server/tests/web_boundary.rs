//! The web boundary: who may use the development login, what from elsewhere may become a
//! link on a page, rate limits, body limits, cross-origin writes, status streams that end
//! with their session, deactivated users, housekeeping and what Prometheus may carry.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header, request};
use common::repo::Repo;
use common::requests::{draft_in, submit};
use common::sse::SseStream;
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
async fn housekeeping_removes_old_audit_entries_expired_sessions_and_abandoned_sign_ins() {
    let app = TestApp::new(true).await;
    let cookie = app.login_as("alice").await;
    let now = slipway::db::now_ms();
    let day = 86_400_000;
    for (id, at) in [("old", now - 400 * day), ("new", now - day)] {
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
    // Sign-ins begun at the provider: one abandoned, one still under way.
    for (state, expires) in [("abandoned", now - 1), ("under-way", now + 600_000)] {
        sqlx::query(
            "INSERT INTO oidc_pending (state, nonce, pkce_verifier, next_path, created_at, expires_at)
             VALUES ($1, 'n', 'v', '/', $2, $3)",
        )
        .bind(state)
        .bind(now - 700_000)
        .bind(expires)
        .execute(app.db().pool())
        .await
        .unwrap();
    }
    // A second session of alice's, past its lifetime.
    let user: (String,) = sqlx::query_as("SELECT user_id FROM sessions")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    slipway::db::sessions::create(app.db(), "expired", &user.0, Duration::ZERO, false)
        .await
        .unwrap();

    let done =
        slipway::http::serve::housekeeping(app.db(), Duration::from_secs(365 * 86_400)).await;
    assert_eq!(
        done,
        slipway::http::serve::Housekept {
            sessions: 1,
            sign_ins: 1,
            audit_entries: 1
        }
    );
    let (left,): (String,) = sqlx::query_as("SELECT id FROM audit_log WHERE id IN ('old', 'new')")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(left, "new");
    let (pending,): (String,) = sqlx::query_as("SELECT state FROM oidc_pending")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(pending, "under-way");
    assert_eq!(
        app.get("/catalog", Some(&cookie)).await.status,
        StatusCode::OK,
        "the live session stays"
    );
}

/// Test settings with the development login, changed by `change`.
fn settings_with(change: impl FnOnce(&mut slipway::config::Settings)) -> slipway::config::Settings {
    let mut settings = common::settings(&["--dev-login"]);
    change(&mut settings);
    settings
}

fn ledger_message(team: &str, request_id: &str) -> app::status::StatusMessage {
    app::status::StatusMessage::Ledger {
        request_id: request_id.into(),
        team: team.into(),
        kind: app::requests::EventKind::Synced,
    }
}

#[tokio::test]
async fn an_open_stream_closes_within_the_check_interval_once_its_session_ends() {
    let app = TestApp::with_settings(settings_with(|s| {
        s.streams.check_every = Duration::from_millis(200);
    }))
    .await;
    // Two sessions of one user, a stream on each; one signs out.
    let laptop = app.login_as("alice").await;
    let phone = app.login_as("alice").await;
    let mut signed_out = SseStream::open(&app, &laptop, None).await;
    let mut still_in = SseStream::open(&app, &phone, None).await;
    assert_eq!(app.state.streams.open(), 2);
    let out = app.post_form("/auth/logout", "", Some(&laptop)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);

    assert!(
        signed_out.ends_within(Duration::from_secs(5)).await,
        "the signed-out session's stream is closed"
    );
    assert!(
        !still_in.ends_within(Duration::from_millis(600)).await,
        "the other session's stream stays"
    );
    app.state
        .status
        .hub()
        .publish(ledger_message("team-a", "r1"));
    let event = still_in
        .next(Duration::from_secs(5))
        .await
        .expect("delivered");
    assert_eq!(event.event, "ledger");
    // Its place under the caps is freed with it.
    assert_eq!(app.state.streams.open(), 1);
    // Reconnecting with the ended session is refused.
    let again = SseStream::try_open(&app, &laptop, None).await;
    assert_eq!(
        again.err().map(|r| r.status),
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn a_stream_follows_its_users_new_teams_and_asks_the_page_to_reload() {
    let app = TestApp::with_settings(settings_with(|s| {
        s.streams.check_every = Duration::from_millis(200);
    }))
    .await;
    let alice = app.login_as("alice").await;
    let mut stream = SseStream::open(&app, &alice, None).await;
    let hub = app.state.status.hub().clone();
    hub.publish(ledger_message("team-a", "before"));
    let first = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.data["request_id"], "before");

    // The identity provider moved her to team-b; she signed in elsewhere, which replaced her
    // memberships. This session's stream must follow.
    let moved = slipway::db::users::NewLogin {
        subject: "dev|alice".into(),
        display_name: "Alice Archer".into(),
        email: "alice@dev.slipway.invalid".into(),
        is_admin: false,
        teams: vec!["team-b".into()],
    };
    slipway::db::users::upsert_login(app.db(), &moved)
        .await
        .unwrap()
        .unwrap();
    stream
        .until(Duration::from_secs(5), |e| e.event == "reset")
        .await;
    hub.publish(ledger_message("team-a", "old-team"));
    hub.publish(ledger_message("team-b", "new-team"));
    let next = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        next.data["request_id"], "new-team",
        "the old team's message is not sent: {next:?}"
    );
}

#[tokio::test]
async fn streams_are_capped_per_user_and_in_total_and_refusals_are_counted() {
    let app = TestApp::with_settings(settings_with(|s| {
        s.streams.per_user = 2;
        s.streams.total = 3;
    }))
    .await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let carol = app.login_as("carol").await;
    let first = SseStream::open(&app, &alice, None).await;
    let _second = SseStream::open(&app, &alice, None).await;
    let third = SseStream::try_open(&app, &alice, None)
        .await
        .err()
        .expect("refused");
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        third.body.contains("\"code\":\"too_many_streams\""),
        "{}",
        third.body
    );
    assert_eq!(third.header(header::RETRY_AFTER), Some("30"));

    let _bobs = SseStream::open(&app, &bob, None).await;
    let full = SseStream::try_open(&app, &carol, None)
        .await
        .err()
        .expect("refused");
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        full.body.contains("\"code\":\"streams_full\""),
        "{}",
        full.body
    );

    // A closed tab frees its place.
    drop(first);
    let _carols = SseStream::open(&app, &carol, None).await;

    let exposition = app.state.telemetry.render(&app.state.status.clusters());
    for line in [
        "slipway_status_streams_refused_total{limit=\"per_user\"} 1",
        "slipway_status_streams_refused_total{limit=\"total\"} 1",
        "slipway_status_streams_open 3",
    ] {
        assert!(exposition.contains(line), "{line} in:\n{exposition}");
    }
}

/// The `id` of the user a dev persona became.
async fn user_id(app: &TestApp, handle: &str) -> String {
    let (id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE subject = $1")
        .bind(format!("dev|{handle}"))
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn a_deactivated_user_is_shut_out_at_once_and_it_is_audited() {
    let app = TestApp::with_settings(settings_with(|s| {
        s.streams.check_every = Duration::from_millis(200);
    }))
    .await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let admin = app.login_as("pat").await;
    let created = app
        .server_fn(
            "tokens/create",
            Some(&alice),
            "name=ci&scopes=read&expires_in_days=30",
        )
        .await;
    let token: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let me = |token: String| {
        Request::get("/api/v1/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(app.send(me(token.clone())).await.status, StatusCode::OK);
    let mut stream = SseStream::open(&app, &alice, None).await;
    let (alice_id, bob_id, admin_id) = (
        user_id(&app, "alice").await,
        user_id(&app, "bob").await,
        user_id(&app, "pat").await,
    );

    // A member cannot deactivate anyone, even a real user of another team; nor can an
    // administrator deactivate themselves.
    let refused = app
        .server_fn(
            "admin/users/deactivate",
            Some(&alice),
            &format!("id={bob_id}"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(app.get("/catalog", Some(&bob)).await.status, StatusCode::OK);
    let own = app
        .server_fn(
            "admin/users/deactivate",
            Some(&admin),
            &format!("id={admin_id}"),
        )
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", own.body);

    let done = app
        .server_fn(
            "admin/users/deactivate",
            Some(&admin),
            &format!("id={alice_id}"),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    // At once: the session, the token; the stream within its check interval.
    assert_eq!(
        app.get("/catalog", Some(&alice)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.send(me(token.clone())).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(stream.ends_within(Duration::from_secs(5)).await);
    assert_eq!(
        app.get("/catalog", Some(&bob)).await.status,
        StatusCode::OK,
        "bob stays"
    );
    // Signing in again is refused, and says why.
    let again = app.post_form("/auth/dev-login", "handle=alice", None).await;
    assert_eq!(
        again.header(header::LOCATION),
        Some("/login?error=deactivated")
    );
    assert!(again.session_cookie().is_none());

    let audit = slipway::db::audit::recent(app.db(), 50).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "user.deactivate")
        .expect("audited");
    assert_eq!(entry.actor_name, "Pat Platform");
    assert!(entry.target.as_deref().unwrap().contains("Alice Archer"));
    assert_eq!(
        entry.detail.as_deref(),
        Some("1 session ended, 1 token revoked")
    );
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "user.deactivate")
            .count(),
        1,
        "the refused attempts changed nothing"
    );

    // Reactivated, she signs in again; the revoked token stays revoked.
    let back = app
        .server_fn(
            "admin/users/reactivate",
            Some(&admin),
            &format!("id={alice_id}"),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    app.login_as("alice").await;
    assert_eq!(app.send(me(token)).await.status, StatusCode::UNAUTHORIZED);
    let listed = app.server_fn("admin/users", Some(&admin), "").await;
    let listed: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == alice_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (row["sessions"].as_i64(), row["tokens"].as_i64()),
        (Some(1), Some(0))
    );
    assert!(row["deactivated_at"].is_null());
}

#[tokio::test]
async fn the_api_is_limited_per_user_wherever_the_calls_come_from() {
    let app = TestApp::with_settings(settings_with(|s| s.limits.user_per_minute = 30)).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let mut refused = 0;
    for i in 0..40u8 {
        let request = Request::post("/api/session")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &alice);
        let res = app.send(from([198, 51, 100, i], request)).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
            assert!(res.header(header::RETRY_AFTER).is_some());
        }
    }
    assert_eq!(refused, 10, "30 pass from 40 addresses, the rest wait");
    let res = app.server_fn("session", Some(&bob), "").await;
    assert_eq!(res.status, StatusCode::OK, "another user is not held back");
    let exposition = app.state.telemetry.render(&app.state.status.clusters());
    assert!(
        exposition.contains("slipway_rate_limited_total{limit=\"user\"} 10"),
        "{exposition}"
    );
}

#[tokio::test]
async fn a_body_too_large_is_refused_with_413_also_when_it_comes_in_chunks() {
    let app = TestApp::with_settings(settings_with(|s| s.max_body_bytes = 64 * 1024)).await;
    let alice = app.login_as("alice").await;
    let before = app.count("drafts").await;
    // 200 chunks of 1 KiB, no Content-Length: only reading tells the size.
    let chunks = futures_util::stream::iter(
        (0..200).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 1024]))),
    );
    let request = Request::post("/api/drafts/save")
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, &alice)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunks))
        .unwrap();
    assert!(request.headers().get(header::CONTENT_LENGTH).is_none());
    let res = app.send(request).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    assert!(
        res.body.contains("\"code\":\"payload_too_large\""),
        "{}",
        res.body
    );
    assert_eq!(app.count("drafts").await, before);
}

#[tokio::test]
async fn a_server_function_called_with_the_cookie_from_elsewhere_is_refused_and_changes_nothing() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let create = |origin: Option<&str>, referer: Option<&str>| {
        let mut request = Request::post("/api/tokens/create")
            .header(header::COOKIE, &alice)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        if let Some(referer) = referer {
            request = request.header(header::REFERER, referer);
        }
        request
            .body(Body::from(
                "name=csrf&scopes=read+write&expires_in_days=365",
            ))
            .unwrap()
    };
    for (origin, referer) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (Some("null"), Some(format!("{ORIGIN}/tokens"))),
        (None, Some("https://evil.example/page".to_owned())),
        (None, None),
    ] {
        let res = app.send(create(origin, referer.as_deref())).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{origin:?} {referer:?}: {}",
            res.body
        );
        assert!(res.body.contains("\"code\":\"cross_origin_refused\""));
    }
    assert_eq!(app.count("api_tokens").await, 0, "no token was made");
    // The portal's own page, by Origin or (where a browser sent none) by Referer, passes.
    let by_referer = app
        .send(create(None, Some(&format!("{ORIGIN}/tokens"))))
        .await;
    assert_eq!(by_referer.status, StatusCode::OK, "{}", by_referer.body);
    let by_origin = app.send(create(Some(ORIGIN), None)).await;
    assert_eq!(by_origin.status, StatusCode::OK, "{}", by_origin.body);
    assert_eq!(app.count("api_tokens").await, 2);
}

#[tokio::test]
async fn prometheus_labels_never_carry_a_user_or_a_team() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let carol = app.login_as("carol").await;
    submit(&app, &alice, &draft_in("dev", "team-a", "orders-db", 20)).await;
    submit(&app, &carol, &draft_in("dev", "team-b", "billing-db", 20)).await;
    for cookie in [&alice, &carol] {
        app.get("/requests", Some(cookie)).await;
        app.server_fn("requests", Some(cookie), "").await;
    }
    let exposition = app.state.telemetry.render(&app.state.status.clusters());
    let mut users: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT id, subject, display_name, email FROM users")
            .fetch_all(app.db().pool())
            .await
            .unwrap();
    assert!(users.len() >= 2);
    let teams: Vec<(String,)> = sqlx::query_as("SELECT name FROM teams")
        .fetch_all(app.db().pool())
        .await
        .unwrap();
    let mut forbidden: Vec<String> = teams.into_iter().map(|(t,)| t).collect();
    for (id, subject, name, email) in users.drain(..) {
        forbidden.extend([id, subject, name, email]);
    }
    let labels: Vec<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Some(&l[l.find('{')?..=l.rfind('}')?]))
        .collect();
    assert!(
        labels.iter().any(|l| l.contains("offering=")),
        "requests were counted: {exposition}"
    );
    for label in labels {
        for value in &forbidden {
            assert!(!label.contains(value.as_str()), "{value:?} in {label}");
        }
    }
}

#[tokio::test]
async fn an_anonymous_post_is_answered_without_its_body_being_read() {
    let app = TestApp::new(true).await;
    // A body that never ends: reading it would never finish.
    let endless = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let request = Request::post("/catalog")
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from_stream(endless))
        .unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(5), app.send(request))
        .await
        .expect("answered before any body arrived");
    assert_eq!(
        answered.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        answered.body
    );
}
