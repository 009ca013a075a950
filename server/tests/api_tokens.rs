//! Personal API tokens: shown once, hashed at rest, scoped, expiring, revocable, audited,
//! and accepted by the REST API only.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{TestApp, TestResponse};

/// Creates a token as the session's user; returns (secret, id).
async fn create_token(app: &TestApp, cookie: &str, scopes: &str) -> (String, String) {
    let form = format!(
        "name=ci&scopes={}&expires_in_days=30",
        scopes.replace(' ', "+")
    );
    let res = app.server_fn("tokens/create", Some(cookie), &form).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let created: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    (
        created["token"].as_str().unwrap().to_owned(),
        created["info"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn rest(app: &TestApp, method: Method, path: &str, token: &str) -> TestResponse {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.send(req).await
}

#[tokio::test]
async fn a_new_token_is_shown_once_stored_hashed_and_authenticates_the_rest_api() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let (secret, _) = create_token(&app, &alice, "read").await;
    assert!(
        secret.starts_with("slp_") && secret.len() == 4 + 43,
        "{secret}"
    );

    let listed = app.server_fn("tokens", Some(&alice), "").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        !listed.body.contains(&secret),
        "the listing never holds the secret"
    );
    let tokens: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(tokens[0]["prefix"], &secret[..10]);
    assert_eq!(tokens[0]["scopes"], serde_json::json!(["read"]));
    assert_eq!(tokens[0]["active"], true);

    let (stored,): (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(
        stored,
        slipway::auth::session::hash_token(&secret),
        "only the hash is stored"
    );

    let me = rest(&app, Method::GET, "/api/v1/me", &secret).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let me: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["name"], "Alice Archer");
    assert_eq!(me["teams"], serde_json::json!(["team-a"]));
    assert_eq!(
        me["auth"],
        serde_json::json!({"method": "token", "scopes": ["read"]})
    );

    let audit = slipway::db::audit::recent(app.db(), 1).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor_name.as_str()),
        ("token.create", "Alice Archer")
    );
}

#[tokio::test]
async fn a_read_token_is_refused_for_writes_before_any_handler_runs() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let (read, _) = create_token(&app, &alice, "read").await;
    let (write, _) = create_token(&app, &alice, "read write").await;
    let refused = rest(&app, Method::POST, "/api/v1/me", &read).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.header(header::WWW_AUTHENTICATE),
        Some("Bearer error=\"insufficient_scope\"")
    );
    // With write access the same call gets past authorization (and /me has no POST).
    assert_eq!(
        rest(&app, Method::POST, "/api/v1/me", &write).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn revoked_expired_and_unknown_tokens_are_refused() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let (revoked, revoked_id) = create_token(&app, &alice, "read").await;
    let (expired, expired_id) = create_token(&app, &alice, "read").await;

    let res = app
        .server_fn("tokens/revoke", Some(&alice), &format!("id={revoked_id}"))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind(slipway::db::now_ms() - 1000)
        .bind(&expired_id)
        .execute(app.db().pool())
        .await
        .unwrap();

    for token in [revoked.as_str(), expired.as_str(), "slp_made-up"] {
        let res = rest(&app, Method::GET, "/api/v1/me", token).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(
            res.header(header::WWW_AUTHENTICATE),
            Some("Bearer error=\"invalid_token\"")
        );
    }
    let listed: serde_json::Value =
        serde_json::from_str(&app.server_fn("tokens", Some(&alice), "").await.body).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["active"] == false)
    );
}

#[tokio::test]
async fn only_the_owner_or_an_admin_can_revoke_a_token() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let (secret, id) = create_token(&app, &alice, "read").await;

    let bob = app.login_as("bob").await;
    let res = app
        .server_fn("tokens/revoke", Some(&bob), &format!("id={id}"))
        .await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "someone else's token looks like no token"
    );
    assert_eq!(
        rest(&app, Method::GET, "/api/v1/me", &secret).await.status,
        StatusCode::OK,
        "still works"
    );
    let revocations = |entries: Vec<slipway::db::audit::AuditRow>| {
        entries
            .into_iter()
            .filter(|e| e.action == "token.revoke")
            .map(|e| (e.actor_name, e.target, e.outcome))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        revocations(slipway::db::audit::recent(app.db(), 50).await.unwrap()),
        vec![],
        "a refused revocation records no revocation"
    );

    let admin = app.login_as("pat").await;
    assert_eq!(
        app.server_fn("tokens/revoke", Some(&admin), &format!("id={id}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        rest(&app, Method::GET, "/api/v1/me", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        revocations(slipway::db::audit::recent(app.db(), 50).await.unwrap()),
        vec![("Pat Platform".to_owned(), Some(id), "ok".to_owned())],
        "the revocation is audited with who did it and which token"
    );
}

#[tokio::test]
async fn bad_token_requests_are_refused_per_field_and_store_nothing() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    for (form, field) in [
        ("name=+&scopes=read&expires_in_days=30", "Name:"),
        ("name=ci&scopes=admin&expires_in_days=30", "Access:"),
        ("name=ci&scopes=read&expires_in_days=9999", "Expires in:"),
    ] {
        let res = app.server_fn("tokens/create", Some(&alice), form).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
        assert!(res.body.contains(field), "{form}: {}", res.body);
    }
    assert_eq!(app.count("api_tokens").await, 0);
}

#[tokio::test]
async fn tokens_do_not_open_the_ui() {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let (secret, _) = create_token(&app, &alice, "read write").await;
    let page = rest(&app, Method::GET, "/catalog", &secret).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "pages want a session");
    let session: serde_json::Value =
        serde_json::from_str(&rest(&app, Method::POST, "/api/session", &secret).await.body)
            .unwrap();
    assert!(session["user"].is_null(), "server functions ignore tokens");
}
