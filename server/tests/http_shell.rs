//! The HTTP surface through the whole middleware stack (no socket): health, the login
//! guard, sessions, CSRF, limits, server functions and the page shell.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestApp;

#[tokio::test]
async fn healthz_answers_ok_without_a_session() {
    let app = TestApp::new(false).await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "ok");
}

#[tokio::test]
async fn readyz_is_ready_when_the_database_is_migrated_and_the_catalog_loaded() {
    let app = TestApp::new(false).await;
    // A replica just started, its catalog not read yet, would answer every form 404: it is
    // not ready until the offering files were loaded once.
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"code": "not_ready", "message": "The catalog is not loaded yet."})
    );
    // Its repository cannot be fetched: still not ready, and why.
    assert!(app.state.catalog.refresh_files().await.is_err());
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        res.body
            .contains("The catalog could not be loaded: fetching the catalog's repository"),
        "{}",
        res.body
    );
    // Offering files that load.
    let app = TestApp::with_settings(common::settings(&[
        "--catalog-dir",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/devdata/catalog"),
    ]))
    .await;
    app.state.catalog.refresh_files().await.unwrap();
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"database": "ok", "catalog": "ok", "ready": true})
    );
}

#[tokio::test]
async fn readyz_is_unavailable_when_the_database_is_down() {
    let app = TestApp::new(false).await;
    app.db().close().await;
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"code": "not_ready", "message": "The database is unreachable."})
    );
}

#[tokio::test]
async fn anonymous_page_views_are_sent_to_the_login_page_keeping_the_path() {
    let app = TestApp::new(true).await;
    for path in ["/", "/catalog", "/admin", "/no/such/page?x=1"] {
        let res = app.get(path, None).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        let expected = format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        );
        assert_eq!(
            res.header(header::LOCATION),
            Some(expected.as_str()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_login_page_offers_dev_personas_under_a_warning_when_dev_login_is_on() {
    let app = TestApp::new(true).await;
    let res = app.get("/login", None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.body.contains("Development login — not for production"),
        "{}",
        res.body
    );
    assert!(res.body.contains("Continue as Alice Archer"));
    assert!(
        res.body.contains("/pkg/slipway.js"),
        "the page loads the front end for hydration"
    );
}

#[tokio::test]
async fn without_dev_login_the_login_page_offers_no_personas_and_the_route_is_gone() {
    let app = TestApp::new(false).await;
    let page = app.get("/login", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Continue as"), "{}", page.body);
    assert!(page.body.contains("No sign-in method is configured"));
    let res = app.post_form("/auth/dev-login", "handle=pat", None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn dev_login_sets_a_protected_session_cookie_and_lands_on_the_catalog() {
    let app = TestApp::new(true).await;
    let res = app.post_form("/auth/dev-login", "handle=alice", None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/catalog"));
    let cookie = res.set_cookie().expect("cookie set");
    assert!(cookie.starts_with("slipway_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP origin: no Secure flag"
    );

    let page = app.get("/catalog", res.session_cookie().as_deref()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Alice Archer"),
        "user menu shows the user"
    );
    assert!(
        page.body.contains("Development login is ON"),
        "banner on every page"
    );
    assert!(!page.body.contains(">Admin<"), "members get no admin link");
}

#[tokio::test]
async fn an_unknown_persona_is_refused_without_a_session() {
    let app = TestApp::new(true).await;
    let res = app
        .post_form("/auth/dev-login", "handle=mallory", None)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        res.header(header::LOCATION)
            .unwrap()
            .starts_with("/login?error=")
    );
    assert!(res.set_cookie().is_none());
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn signing_in_again_rotates_the_session() {
    let app = TestApp::new(true).await;
    let first = app.login_as("alice").await;
    let second = app
        .post_form("/auth/dev-login", "handle=alice", Some(&first))
        .await;
    let second = second.session_cookie().unwrap();
    assert_ne!(first, second);
    assert_eq!(
        app.get("/catalog", Some(&first)).await.status,
        StatusCode::SEE_OTHER,
        "old token is dead"
    );
    assert_eq!(
        app.get("/catalog", Some(&second)).await.status,
        StatusCode::OK
    );
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn a_cross_origin_post_is_refused_and_changes_nothing() {
    let app = TestApp::new(true).await;
    let req = Request::post("/auth/dev-login")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("handle=pat"))
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("did not come from Slipway"));
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn a_post_carrying_the_session_cookie_but_no_origin_is_refused() {
    let app = TestApp::new(true).await;
    let cookie = app.login_as("alice").await;
    let req = Request::post("/auth/logout")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("sessions").await,
        1,
        "the session survives the forged logout"
    );
}

#[tokio::test]
async fn logout_ends_the_session_clears_the_cookie_and_is_audited() {
    let app = TestApp::new(true).await;
    let cookie = app.login_as("bob").await;
    let res = app.post_form("/auth/logout", "", Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/login"));
    assert!(res.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(
        app.get("/catalog", Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );

    let actions: Vec<(String, String, String)> = slipway::db::audit::recent(app.db(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.actor_name, r.action, r.outcome))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("Bob Builder".into(), "logout".into(), "ok".into()),
            ("Bob Builder".into(), "login".into(), "ok".into()),
        ]
    );
}

#[tokio::test]
async fn an_unknown_path_shows_the_not_found_page_with_status_404() {
    let app = TestApp::new(true).await;
    let cookie = app.login_as("alice").await;
    let res = app.get("/no/such/page", Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.body.contains("This page does not exist"));
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_before_it_is_read() {
    let app = TestApp::new(true).await;
    let body = format!("handle={}", "a".repeat(2 * 1024 * 1024));
    let res = app.post_form("/auth/dev-login", &body, None).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn responses_carry_the_security_headers() {
    let app = TestApp::new(false).await;
    let res = app.get("/login", None).await;
    assert_eq!(res.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
    assert_eq!(res.header(header::X_FRAME_OPTIONS), Some("DENY"));
    assert_eq!(
        res.header(header::REFERRER_POLICY),
        Some("strict-origin-when-cross-origin")
    );
}

#[tokio::test]
async fn system_info_is_for_admins_only() {
    let app = TestApp::new(true).await;

    let anonymous = app.server_fn("system", None, "").await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.body
    );
    assert_eq!(anonymous.body, r#""Unauthenticated""#);

    let member = app
        .server_fn("system", Some(&app.login_as("alice").await), "")
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN, "{}", member.body);
    assert!(member.body.contains("Forbidden"));

    let admin = app
        .server_fn("system", Some(&app.login_as("pat").await), "")
        .await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);
    let info: serde_json::Value = serde_json::from_str(&admin.body).unwrap();
    assert_eq!(
        info["database_backend"],
        common::TestDb::expected_backend().name()
    );
    assert_eq!(info["migrations_applied"], app.db().migrations_known());
    assert_eq!(info["dev_login"], true);
}

#[tokio::test]
async fn session_info_names_the_user_and_their_teams() {
    let app = TestApp::new(true).await;
    let cookie = app.login_as("carol").await;
    let res = app.server_fn("session", Some(&cookie), "").await;
    assert_eq!(res.status, StatusCode::OK);
    let info: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(info["user"]["name"], "Carol Chen");
    assert_eq!(
        info["user"]["teams"],
        serde_json::json!(["team-a", "team-b"])
    );
    assert_eq!(info["user"]["is_admin"], false);
    assert_eq!(info["dev_login"], true);
}

#[tokio::test]
async fn admins_see_the_admin_link_and_page() {
    let app = TestApp::new(true).await;
    let cookie = app.login_as("pat").await;
    let res = app.get("/admin", Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.contains(">Admin<"), "admin link in the navigation");
    assert!(
        res.body.contains("Database backend"),
        "system table rendered on the server"
    );
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure_and_host_prefixed() {
    // Loopback, since the development login is refused anywhere else.
    let origin = "https://localhost:8443";
    let app = TestApp::with_settings(common::settings::settings_at(origin, &["--dev-login"])).await;
    let req = Request::post("/auth/dev-login")
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("handle=alice"))
        .unwrap();
    let res = app.send(req).await;
    let cookie = res.set_cookie().expect("cookie set");
    assert!(cookie.starts_with("__Host-slipway_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(
        !cookie.contains("Domain"),
        "__Host- cookies carry no Domain"
    );
}

/// The front end's files, chunks included, go out as the copies `make release` compressed
/// (`--precompress`) to a browser that accepts them, without a session, and as they are to
/// one that does not; caches key on the encoding (`Vary`), and keep for good only the files
/// whose name carries their content's hash.
#[tokio::test]
async fn static_files_are_served_precompressed_to_browsers_that_accept_it() {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("chunk_7.wasm"), "plain wasm").unwrap();
    std::fs::write(pkg.join("chunk_7.wasm.br"), "brotli copy").unwrap();
    std::fs::write(pkg.join("chunk_7.wasm.gz"), "gzip copy").unwrap();
    std::fs::write(pkg.join("chunk_7.Ab3-_xYz0123456789AbCd.wasm"), "hashed").unwrap();
    let app = TestApp::with_site(common::settings(&[]), site.path()).await;

    let get = |encoding: Option<&'static str>| {
        let mut request = Request::get("/pkg/chunk_7.wasm");
        if let Some(encoding) = encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        app.send(request.body(Body::empty()).unwrap())
    };
    let brotli = get(Some("gzip, deflate, br, zstd")).await;
    assert_eq!(brotli.status, StatusCode::OK);
    assert_eq!(brotli.body, "brotli copy");
    assert_eq!(brotli.header(header::CONTENT_ENCODING), Some("br"));
    assert_eq!(
        brotli.header(header::CONTENT_TYPE),
        Some("application/wasm")
    );
    assert!(
        brotli
            .header(header::VARY)
            .is_some_and(|v| v.contains("accept-encoding"))
    );

    let gzip = get(Some("gzip")).await;
    assert_eq!(
        (gzip.body.as_str(), gzip.header(header::CONTENT_ENCODING)),
        ("gzip copy", Some("gzip"))
    );

    let plain = get(None).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.body, "plain wasm");
    assert_eq!(plain.header(header::CONTENT_ENCODING), None);
    // A name without a content hash may change content: browsers ask again.
    assert_eq!(plain.header(header::CACHE_CONTROL), None);

    // A name with one never does: kept for a year, never asked again.
    let hashed = app
        .get("/pkg/chunk_7.Ab3-_xYz0123456789AbCd.wasm", None)
        .await;
    assert_eq!(hashed.body, "hashed");
    assert_eq!(
        hashed.header(header::CACHE_CONTROL),
        Some("public, max-age=31536000, immutable")
    );
    // The split loader of an unhashed build: a placeholder where the hash would be.
    std::fs::write(pkg.join("__wasm_split.______________________.js"), "loader").unwrap();
    let loader = app
        .get("/pkg/__wasm_split.______________________.js", None)
        .await;
    assert_eq!(loader.body, "loader");
    assert_eq!(loader.header(header::CACHE_CONTROL), None);
    let missing = app
        .get("/pkg/chunk_8.Ab3-_xYz0123456789AbCd.wasm", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header(header::CACHE_CONTROL), None);
}
