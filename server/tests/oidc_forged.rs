//! ID tokens that must be refused. A real provider signs only good tokens, so these tests put
//! a small provider of their own on loopback (discovery, JWKS, token endpoint: the real wire
//! protocol) that hands the portal whatever token the test forged. The first test proves the
//! forger's honest token is accepted, so each refusal below is the verifier's doing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use base64::Engine as _;
use common::TestApp;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};
use slipway::config::OidcSettings;
use slipway::teams::TeamMapping;

const CLIENT_ID: &str = "slipway";
const KID: &str = "key-1";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The provider's published signing key (a fixed test key, not a secret).
fn provider_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// A provider that serves discovery and JWKS, and answers the token endpoint with the ID
/// token the test put in `next_id_token`.
struct ForgingProvider {
    issuer: String,
    next_id_token: Arc<Mutex<String>>,
    /// How often the portal fetched the keys.
    jwks_fetches: Arc<AtomicUsize>,
}

impl ForgingProvider {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let next_id_token = Arc::new(Mutex::new(String::new()));
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
        });
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": KID,
            "x": b64(provider_key().verifying_key().as_bytes()),
        }]});
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let fetches = jwks_fetches.clone();
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(move || async move { Json(discovery) }))
            .route(
                "/jwks",
                get(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Json(jwks)
                }),
            )
            .route(
                "/token",
                post(|State(token): State<Arc<Mutex<String>>>| async move {
                    let id_token = token.lock().unwrap().clone();
                    Json(json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
                }),
            )
            .with_state(next_id_token.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ForgingProvider {
            issuer,
            next_id_token,
            jwks_fetches,
        }
    }

    /// Claims of an honest token for `nonce`.
    fn honest_claims(&self, nonce: &str) -> Value {
        let now = slipway::db::now_ms() / 1000;
        json!({
            "iss": self.issuer, "aud": CLIENT_ID, "sub": "user-1", "iat": now, "exp": now + 300,
            "nonce": nonce, "name": "Fiona Forge", "email": "fiona@example.com", "groups": ["team-a"],
        })
    }
}

/// A compact JWS over `claims`.
fn sign(claims: &Value, key: &SigningKey, kid: &str) -> String {
    let header = b64(json!({"alg": "EdDSA", "typ": "JWT", "kid": kid})
        .to_string()
        .as_bytes());
    let payload = b64(claims.to_string().as_bytes());
    let signature = key.sign(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", b64(&signature.to_bytes()))
}

async fn app_for(provider: &ForgingProvider) -> TestApp {
    TestApp::with_settings(settings_for(provider)).await
}

fn settings_for(provider: &ForgingProvider) -> slipway::config::Settings {
    let mut settings = common::settings(&[]);
    settings.oidc = Some(OidcSettings {
        issuer: openidconnect::IssuerUrl::new(provider.issuer.clone()).unwrap(),
        client_id: CLIENT_ID.into(),
        client_secret: Some("secret".into()),
        scopes: vec!["openid".into()],
        groups_claim: "groups".into(),
        teams: TeamMapping::default(),
        provider_logout: true,
    });
    settings
}

/// Starts a sign-in, lets `forge` build the token from the request's nonce, and returns
/// where the portal's callback sends the browser.
async fn sign_in_with(
    provider: &ForgingProvider,
    app: &TestApp,
    forge: impl Fn(&str) -> String,
) -> String {
    let start = app.get("/auth/oidc/login", None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let url = url::Url::parse(start.header(header::LOCATION).unwrap()).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .into_owned()
    };
    *provider.next_id_token.lock().unwrap() = forge(&param("nonce"));
    let callback = format!("/auth/oidc/callback?code=any-code&state={}", param("state"));
    let done = app
        .get(&callback, start.cookie("slipway_oidc_state").as_deref())
        .await;
    done.header(header::LOCATION).unwrap().to_owned()
}

async fn assert_refused(forge: impl Fn(&ForgingProvider, &str) -> String) {
    let provider = ForgingProvider::start().await;
    let app = app_for(&provider).await;
    let location = sign_in_with(&provider, &app, |nonce| forge(&provider, nonce)).await;
    assert_eq!(location, "/login?error=invalid-id-token", "not refused");
    assert_eq!(app.count("sessions").await, 0, "no session");
    assert_eq!(app.count("users").await, 0, "no user");
    let audit = slipway::db::audit::recent(app.db(), 1).await.unwrap();
    assert_eq!(
        (audit[0].outcome.as_str(), audit[0].action.as_str()),
        ("denied", "login")
    );
}

#[tokio::test]
async fn the_forgers_honest_token_is_accepted() {
    let provider = ForgingProvider::start().await;
    let app = app_for(&provider).await;
    let location = sign_in_with(&provider, &app, |nonce| {
        sign(&provider.honest_claims(nonce), &provider_key(), KID)
    })
    .await;
    assert_eq!(location, "/catalog");
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    assert_refused(|p, nonce| {
        sign(
            &p.honest_claims(nonce),
            &SigningKey::from_bytes(&[9u8; 32]),
            "key-2",
        )
    })
    .await;
}

#[tokio::test]
async fn a_token_with_a_forged_signature_under_the_known_key_id_is_refused() {
    assert_refused(|p, nonce| {
        sign(
            &p.honest_claims(nonce),
            &SigningKey::from_bytes(&[9u8; 32]),
            KID,
        )
    })
    .await;
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    assert_refused(|p, nonce| {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        format!(
            "{header}.{}.",
            b64(p.honest_claims(nonce).to_string().as_bytes())
        )
    })
    .await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    assert_refused(|p, nonce| {
        let mut claims = p.honest_claims(nonce);
        claims["iss"] = json!("https://other-idp.example.com");
        sign(&claims, &provider_key(), KID)
    })
    .await;
}

#[tokio::test]
async fn a_token_for_another_client_is_refused() {
    assert_refused(|p, nonce| {
        let mut claims = p.honest_claims(nonce);
        claims["aud"] = json!("some-other-app");
        sign(&claims, &provider_key(), KID)
    })
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    assert_refused(|p, nonce| {
        let mut claims = p.honest_claims(nonce);
        let now = slipway::db::now_ms() / 1000;
        claims["iat"] = json!(now - 7200);
        claims["exp"] = json!(now - 3600);
        sign(&claims, &provider_key(), KID)
    })
    .await;
}

#[tokio::test]
async fn a_token_with_another_requests_nonce_is_refused() {
    assert_refused(|p, _nonce| {
        sign(
            &p.honest_claims("nonce-of-another-sign-in"),
            &provider_key(),
            KID,
        )
    })
    .await;
}

#[tokio::test]
async fn forged_key_ids_make_the_portal_fetch_the_keys_again_at_most_every_ten_seconds() {
    let provider = ForgingProvider::start().await;
    let app = app_for(&provider).await;
    let honest = sign_in_with(&provider, &app, |nonce| {
        sign(&provider.honest_claims(nonce), &provider_key(), KID)
    })
    .await;
    assert_eq!(honest, "/catalog");
    let loaded = provider.jwks_fetches.load(Ordering::SeqCst);
    // A flood of tokens naming keys the provider never published: the first one may make
    // the portal look again (the provider may have rotated its keys), the rest may not.
    for i in 0..8 {
        let location = sign_in_with(&provider, &app, |nonce| {
            sign(
                &provider.honest_claims(nonce),
                &SigningKey::from_bytes(&[9u8; 32]),
                &format!("made-up-{i}"),
            )
        })
        .await;
        assert_eq!(location, "/login?error=invalid-id-token");
    }
    let fetched = provider.jwks_fetches.load(Ordering::SeqCst) - loaded;
    assert_eq!(fetched, 1, "one forced refresh for eight unknown keys");
}

#[tokio::test]
async fn a_deactivated_users_sign_in_at_the_provider_is_refused_and_audited() {
    let provider = ForgingProvider::start().await;
    let app = app_for(&provider).await;
    let honest = |nonce: &str| sign(&provider.honest_claims(nonce), &provider_key(), KID);
    assert_eq!(sign_in_with(&provider, &app, honest).await, "/catalog");
    let (id,): (String,) = sqlx::query_as("SELECT id FROM users")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    slipway::db::users::deactivate(app.db(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.count("sessions").await, 0);

    assert_eq!(
        sign_in_with(&provider, &app, honest).await,
        "/login?error=deactivated"
    );
    assert_eq!(app.count("sessions").await, 0, "no session");
    let audit = slipway::db::audit::recent(app.db(), 1).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("login", "denied")
    );
    let page = app.get("/login?error=deactivated", None).await;
    assert!(page.body.contains("has been deactivated"), "{}", page.body);
}

#[tokio::test]
async fn sign_ins_under_way_are_capped_and_past_the_cap_nothing_is_stored() {
    let provider = ForgingProvider::start().await;
    let app = app_for(&provider).await;
    let now = slipway::db::now_ms();
    // The cap's worth of sign-ins under way (none abandoned yet).
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
         INSERT INTO oidc_pending (state, nonce, pkce_verifier, next_path, created_at, expires_at)
         SELECT 'state-' || i, 'n', 'v', '/', $2, $3 FROM n",
    )
    .bind(slipway::auth::oidc::MAX_PENDING)
    .bind(now)
    .bind(now + 600_000)
    .execute(app.db().pool())
    .await
    .unwrap();
    let res = app.get("/auth/oidc/login", None).await;
    assert_eq!(res.header(header::LOCATION), Some("/login?error=busy"));
    assert!(res.cookie("slipway_oidc_state").is_none());
    assert_eq!(
        app.count("oidc_pending").await,
        slipway::auth::oidc::MAX_PENDING
    );
    // Once abandoned ones expire, sign-ins start again.
    sqlx::query("UPDATE oidc_pending SET expires_at = $1 WHERE state = 'state-1'")
        .bind(now - 1)
        .execute(app.db().pool())
        .await
        .unwrap();
    let res = app.get("/auth/oidc/login", None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        res.header(header::LOCATION)
            .unwrap()
            .starts_with(&provider.issuer)
    );
}

#[tokio::test]
async fn a_flood_of_sign_ins_and_forged_callbacks_is_refused_past_the_limit_and_stores_little() {
    let provider = ForgingProvider::start().await;
    let mut settings = settings_for(&provider);
    settings.limits.sign_in_per_minute = 20;
    let app = TestApp::with_settings(settings).await;
    let audit = app.count("audit_log").await;
    let mut refused = 0;
    for i in 0..200 {
        let path = if i % 2 == 0 {
            "/auth/oidc/login"
        } else {
            "/auth/oidc/callback?error=access_denied&state=forged"
        };
        let res = app.get(path, None).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        } else {
            assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}: {}", res.body);
        }
    }
    assert_eq!(refused, 180);
    assert_eq!(
        app.count("oidc_pending").await,
        10,
        "one row per sign-in let through"
    );
    assert_eq!(
        app.count("audit_log").await,
        audit,
        "forged callbacks are not audited"
    );
    assert_eq!(app.count("users").await, 0);
}
