//! Single sign-on against a real OpenID Provider: panva's `oidc-provider` (npm), started on
//! loopback for each test by `end2end/oidc/provider.mjs`. The portal runs in-process (router
//! without a socket); a cookie-keeping HTTP client plays the browser at the provider and
//! fills in its real login form.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use axum::http::{StatusCode, header};
use common::{ORIGIN, TestApp};
use slipway::config::OidcSettings;
use slipway::teams::TeamMapping;

const CLIENT_ID: &str = "slipway";
const CLIENT_SECRET: &str = "slipway-test-secret";

/// The provider process; killed when dropped.
struct Idp {
    child: Child,
    issuer: String,
}

impl Idp {
    /// Starts the provider on `port` (0: any free port) and waits for its ready line.
    fn start(port: u16) -> Idp {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .args(["--port", &port.to_string()])
            .args(["--redirect-uri", &format!("{ORIGIN}/auth/oidc/callback")])
            .args(["--post-logout-uri", &format!("{ORIGIN}/login")])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (make test installs it and oidc-provider)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("{\"ready\""))
            .expect("the provider prints its ready line");
        // Keep reading: a provider writing into a closed pipe would die of EPIPE.
        std::thread::spawn(move || lines.for_each(drop));
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
        Idp {
            child,
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
        }
    }

    fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oidc_settings(idp: &Idp) -> OidcSettings {
    OidcSettings {
        issuer: openidconnect::IssuerUrl::new(idp.issuer.clone()).unwrap(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        scopes: vec![
            "openid".into(),
            "profile".into(),
            "email".into(),
            "groups".into(),
        ],
        groups_claim: "groups".into(),
        provider_logout: true,
        // Teams are the groups named team-*; "platform-admins" makes an admin.
        teams: TeamMapping::new(
            &[],
            Some("^team-[a-z0-9-]+$"),
            None,
            Some("platform-admins"),
        )
        .unwrap(),
    }
}

async fn app_with(idp: &Idp) -> TestApp {
    let mut settings = common::settings(&[]);
    settings.oidc = Some(oidc_settings(idp));
    TestApp::with_settings(settings).await
}

/// What the portal's callback receives: its path and query, and the state cookie.
struct Callback {
    path_and_query: String,
    state_cookie: String,
}

/// Starts a sign-in at the portal, logs in at the provider's form, and stops where the
/// provider sends the browser back to the portal.
async fn sign_in_at_provider(app: &TestApp, user: &str, password: &str, next: &str) -> Callback {
    let start = app
        .get(&format!("/auth/oidc/login?next={next}"), None)
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let state_cookie = start.cookie("slipway_oidc_state").expect("state cookie");
    assert!(state_cookie.starts_with("slipway_oidc_state="));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = reqwest::Url::parse(start.header(header::LOCATION).unwrap()).unwrap();
    for _ in 0..10 {
        let mut response = browser.get(url.clone()).send().await.unwrap();
        if response.status() == StatusCode::OK {
            // The provider's login form.
            let body = response.text().await.unwrap();
            assert!(
                body.contains("name=\"password\""),
                "expected the login form: {body}"
            );
            let action = url.join(&format!("{}/login", url.path())).unwrap();
            response = browser
                .post(action)
                .form(&[("username", user), ("password", password)])
                .send()
                .await
                .unwrap();
        }
        assert!(
            response.status().is_redirection(),
            "provider answered {}",
            response.status()
        );
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        let next_url = url.join(location).unwrap();
        if next_url.as_str().starts_with(ORIGIN) {
            let path_and_query = format!(
                "{}?{}",
                next_url.path(),
                next_url.query().unwrap_or_default()
            );
            return Callback {
                path_and_query,
                state_cookie,
            };
        }
        url = next_url;
    }
    panic!("the provider never sent the browser back");
}

#[tokio::test]
async fn the_authorization_request_uses_pkce_s256_state_nonce_and_the_scopes() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let start = app.get("/auth/oidc/login", None).await;
    let url = url::Url::parse(start.header(header::LOCATION).unwrap()).unwrap();
    assert!(url.as_str().starts_with(&format!("{}/auth?", idp.issuer)));
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "base64url SHA-256");
    assert!(query["state"].len() >= 16 && query["nonce"].len() >= 16);
    assert_eq!(query["scope"], "openid profile email groups");
    assert_eq!(
        query["redirect_uri"],
        format!("{ORIGIN}/auth/oidc/callback")
    );
    let cookie = start.set_cookie().unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/auth/oidc"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
}

#[tokio::test]
async fn a_member_signs_in_through_the_real_provider_with_teams_from_groups() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let callback = sign_in_at_provider(&app, "carol", "carol-pw", "/requests").await;
    assert!(
        callback
            .path_and_query
            .starts_with("/auth/oidc/callback?code=")
    );

    let done = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.header(header::LOCATION),
        Some("/requests"),
        "back where the user wanted to go"
    );
    let session = done.session_cookie().expect("session cookie");

    let page = app.get("/catalog", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Carol Chen"));
    let user = slipway::db::sessions::user_for(
        app.db(),
        &slipway::auth::session::hash_token(session.split('=').nth(1).unwrap()),
        std::time::Duration::from_secs(60),
        false,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        user.teams,
        vec!["team-a", "team-b"],
        "unrelated-group is not a team"
    );
    assert_eq!(user.email, "carol@example.com");
    assert!(!user.is_admin);
    let audit = slipway::db::audit::recent(app.db(), 1).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("login", "ok")
    );
}

#[tokio::test]
async fn members_of_the_admin_group_are_administrators() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let callback = sign_in_at_provider(&app, "pat", "pat-pw", "/admin").await;
    let done = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    assert_eq!(done.header(header::LOCATION), Some("/admin"));
    let (is_admin,): (i64,) =
        sqlx::query_as("SELECT is_admin FROM users WHERE email = 'pat@example.com'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(is_admin, 1);
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_creates_no_second_session() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let callback = sign_in_at_provider(&app, "alice", "alice-pw", "/catalog").await;
    let first = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    assert_eq!(first.header(header::LOCATION), Some("/catalog"));
    let replay = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    assert_eq!(replay.status, StatusCode::SEE_OTHER);
    let location = replay.header(header::LOCATION).unwrap();
    assert_eq!(location, "/login?error=unknown-state");
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn a_callback_from_another_browser_is_refused_and_leaves_the_real_one_working() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let callback = sign_in_at_provider(&app, "alice", "alice-pw", "/catalog").await;
    // An attacker sends the victim a callback link: the victim's browser has no (or another) state cookie.
    for cookie in [None, Some("slipway_oidc_state=someone-elses-state")] {
        let res = app.get(&callback.path_and_query, cookie).await;
        assert_eq!(
            res.header(header::LOCATION),
            Some("/login?error=state-mismatch")
        );
    }
    assert_eq!(app.count("sessions").await, 0);
    let legit = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    assert_eq!(legit.header(header::LOCATION), Some("/catalog"));
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn a_user_without_a_groups_claim_is_refused_with_a_clear_message() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let callback = sign_in_at_provider(&app, "nogroups", "nogroups-pw", "/catalog").await;
    let res = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    assert_eq!(
        res.header(header::LOCATION),
        Some("/login?error=missing-groups")
    );
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("users").await, 0);
    let audit = slipway::db::audit::recent(app.db(), 1).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("login", "denied")
    );
}

#[tokio::test]
async fn a_provider_error_on_the_callback_is_shown_and_signs_nobody_in() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let start = app.get("/auth/oidc/login", None).await;
    let cookie = start.cookie("slipway_oidc_state").unwrap();
    let state = cookie.split('=').nth(1).unwrap();
    let res = app
        .get(&format!("/auth/oidc/callback?error=access_denied&error_description=User+cancelled&state={state}"), Some(&cookie))
        .await;
    // The provider's words are logged and audited, never put in the address.
    assert_eq!(
        res.header(header::LOCATION),
        Some("/login?error=provider-refused")
    );
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("oidc_pending").await, 0, "the sign-in is used up");
    let audit = slipway::db::audit::recent(app.db(), 1).await.unwrap();
    assert_eq!(audit[0].outcome.as_str(), "denied");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_continues_at_the_providers_end_session() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let callback = sign_in_at_provider(&app, "bob", "bob-pw", "/catalog").await;
    let done = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    let session = done.session_cookie().expect("session cookie");
    let out = app.post_form("/auth/logout", "", Some(&session)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let location = url::Url::parse(out.header(header::LOCATION).unwrap()).unwrap();
    assert_eq!(
        format!(
            "{}{}",
            location.origin().ascii_serialization(),
            location.path()
        ),
        format!("{}/session/end", idp.issuer)
    );
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["post_logout_redirect_uri"], format!("{ORIGIN}/login"));
    assert_eq!(query["client_id"], CLIENT_ID, "the portal names itself");
    assert!(
        !query.contains_key("id_token_hint"),
        "sessions keep no ID token to hint with"
    );
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn keys_rotated_by_the_provider_are_picked_up_without_a_restart() {
    let idp = Idp::start(0);
    let port = idp.port();
    let app = app_with(&idp).await;
    let first = sign_in_at_provider(&app, "alice", "alice-pw", "/catalog").await;
    assert_eq!(
        app.get(&first.path_and_query, Some(&first.state_cookie))
            .await
            .header(header::LOCATION),
        Some("/catalog")
    );

    // Same issuer, new signing key: the portal's cached JWKS no longer has it.
    drop(idp);
    let _restarted = Idp::start(port);
    let second = sign_in_at_provider(&app, "alice", "alice-pw", "/catalog").await;
    let res = app
        .get(&second.path_and_query, Some(&second.state_cookie))
        .await;
    assert_eq!(
        res.header(header::LOCATION),
        Some("/catalog"),
        "signed in with the rotated key"
    );
    assert_eq!(app.count("sessions").await, 2);
}

#[tokio::test]
async fn a_next_that_a_browser_would_turn_into_another_origin_lands_on_the_catalog() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    // Browsers drop the tab: `/\t/evil.example` would be `//evil.example` after sign-in.
    for next in [
        "%2F%09%2Fevil.example",
        "%2F%0A%2Fevil.example",
        "https%3A%2F%2Fevil.example",
    ] {
        let callback = sign_in_at_provider(&app, "carol", "carol-pw", next).await;
        let done = app
            .get(&callback.path_and_query, Some(&callback.state_cookie))
            .await;
        assert_eq!(done.header(header::LOCATION), Some("/catalog"), "{next}");
    }
}

#[tokio::test]
async fn callbacks_that_are_no_browsers_sign_in_write_nothing() {
    let idp = Idp::start(0);
    let app = app_with(&idp).await;
    let start = app.get("/auth/oidc/login", None).await;
    let cookie = start.cookie("slipway_oidc_state").unwrap();
    let (audit, pending) = (
        app.count("audit_log").await,
        app.count("oidc_pending").await,
    );
    for query in [
        "error=x",
        "error=access_denied&state=forged",
        "code=c&state=forged",
        "state=forged",
    ] {
        for cookie in [None, Some(cookie.as_str())] {
            let res = app
                .get(&format!("/auth/oidc/callback?{query}"), cookie)
                .await;
            assert_eq!(res.status, StatusCode::SEE_OTHER, "{query}");
            let location = res.header(header::LOCATION).unwrap();
            assert!(location.starts_with("/login?error="), "{location}");
        }
    }
    assert_eq!(
        app.count("audit_log").await,
        audit,
        "no audit row per anonymous call"
    );
    assert_eq!(
        app.count("oidc_pending").await,
        pending,
        "the real sign-in is untouched"
    );
}

#[tokio::test]
async fn on_https_the_state_cookie_has_the_host_prefix() {
    let idp = Idp::start(0);
    let mut settings = common::settings(&[]);
    settings.oidc = Some(oidc_settings(&idp));
    settings.secure_cookies = true;
    let app = TestApp::with_settings(settings).await;
    let start = app.get("/auth/oidc/login", None).await;
    let cookie = start.set_cookie().unwrap();
    assert!(cookie.starts_with("__Host-slipway_oidc_state="), "{cookie}");
    for attribute in ["Secure", "Path=/;", "HttpOnly"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    // A cookie of the old name (a sibling subdomain can set that one) is not the state.
    let state = start.cookie("__Host-slipway_oidc_state").unwrap();
    let value = state.split('=').nth(1).unwrap();
    let planted = format!("slipway_oidc_state={value}");
    let res = app
        .get(
            &format!("/auth/oidc/callback?code=c&state={value}"),
            Some(&planted),
        )
        .await;
    assert_eq!(
        res.header(header::LOCATION),
        Some("/login?error=state-mismatch")
    );
}

#[tokio::test]
async fn the_login_page_shows_only_its_own_messages() {
    let app = TestApp::new(true).await;
    let page = app
        .get(
            "/login?error=Your+account+is+locked.+Call+0800-PHISH+now",
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("0800-PHISH"),
        "text from the address is never shown"
    );
    assert!(page.body.contains("Signing in failed. Please try again."));
    let page = app.get("/login?error=unknown-state", None).await;
    assert!(
        page.body
            .contains("This sign-in link has expired or was already used.")
    );
}

#[tokio::test]
async fn with_provider_logout_off_signing_out_ends_the_slipway_session_only() {
    let idp = Idp::start(0);
    let mut settings = common::settings(&[]);
    settings.oidc = Some(OidcSettings {
        provider_logout: false,
        ..oidc_settings(&idp)
    });
    let app = TestApp::with_settings(settings).await;
    let callback = sign_in_at_provider(&app, "bob", "bob-pw", "/catalog").await;
    let done = app
        .get(&callback.path_and_query, Some(&callback.state_cookie))
        .await;
    let session = done.session_cookie().expect("session cookie");
    let out = app.post_form("/auth/logout", "", Some(&session)).await;
    assert_eq!(out.header(header::LOCATION), Some("/login"));
    assert_eq!(app.count("sessions").await, 0);
}
