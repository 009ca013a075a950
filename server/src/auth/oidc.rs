//! Single sign-on with OpenID Connect: authorization code flow with PKCE (S256), `state`
//! and `nonce`, ID token verification (signature against the provider's JWKS, issuer,
//! audience, expiry, nonce) and RP-initiated logout. Works with any standard provider
//! (Keycloak, Dex, Entra ID, Okta, Google).
//!
//! ```text
//!  GET /auth/oidc/login?next=/x          GET /auth/oidc/callback?code&state
//!   │ state, nonce, PKCE verifier          │ state == cookie?  (login CSRF, session injection)
//!   │  → oidc_pending row (10 min)         │ DELETE pending row RETURNING … (single use: replay)
//!   │  → state cookie (Path=/auth/oidc)    │ code + PKCE verifier → token endpoint
//!   └─ 303 provider /authorize            │ verify ID token (JWKS; unknown key → rediscover once)
//!                                         │ groups claim → teams; upsert user; new session
//!                                         └─ 303 next
//! ```
//! Discovery (and with it the JWKS) is cached for an hour and fetched again at once when a
//! token is signed by a key the cache does not know (the provider rotated its keys).

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::CurrentUser;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope, reqwest,
};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::auth::AuthState;
use crate::auth::session::{self, SessionToken, cookie_value};
use crate::config::{OidcSettings, Settings};
use crate::db::{self, Db, audit, users::NewLogin};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long a user may take at the provider before the sign-in attempt expires.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// Cookie binding a sign-in attempt to the browser that started it.
/// The cookie binding a sign-in to the browser that started it. On HTTPS it carries the
/// `__Host-` prefix (no `Domain`, `Path=/`), so a sibling subdomain cannot plant one.
fn state_cookie_name(settings: &Settings) -> &'static str {
    if settings.secure_cookies {
        "__Host-slipway_oidc_state"
    } else {
        "slipway_oidc_state"
    }
}
/// Discovery and JWKS are fetched again after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Most sign-ins under way at once (each waits at most its ten minutes at the provider).
pub const MAX_PENDING: i64 = 10_000;

/// Forced refreshes (unknown signing key) happen at most this often.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a sign-in was refused. `Display` is what the user reads on the login page.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or its discovery document is unusable.
    #[error("The identity provider could not be reached. Please try again shortly.")]
    Discovery(String),
    /// The provider answered the authorization request with an error.
    #[error("The identity provider refused the sign-in ({0}).")]
    ProviderRefused(String),
    /// The callback lacks `code` or `state`.
    #[error("The sign-in response was incomplete. Please sign in again.")]
    BadCallback,
    /// The `state` does not belong to this browser.
    #[error("The sign-in response does not belong to this browser session. Please sign in again.")]
    StateMismatch,
    /// Unknown, already used or expired `state`.
    #[error("This sign-in link has expired or was already used. Please sign in again.")]
    UnknownState,
    /// The code could not be exchanged for tokens.
    #[error("The identity provider did not accept the sign-in code. Please sign in again.")]
    TokenExchange(String),
    /// The ID token failed verification.
    #[error("The identity token could not be verified, so you were not signed in.")]
    InvalidIdToken(String),
    /// No groups claim in the token.
    #[error(
        "Your account carries no `{0}` claim, so Slipway cannot tell your teams. Ask your platform team to add it."
    )]
    MissingGroups(String),
    /// Groups present, but none is a team and the user is no admin.
    #[error("None of your groups is a Slipway team. Ask your platform team for access.")]
    NoTeams,
    /// The database failed.
    #[error("Signing in failed on our side. Please try again shortly.")]
    Storage(#[from] db::Error),
    /// Too many sign-ins under way.
    #[error("Too many sign-ins are under way. Please try again in a few minutes.")]
    Busy,
    /// An administrator deactivated the account.
    #[error("Your Slipway account has been deactivated. Ask your platform team.")]
    Deactivated,
}

impl OidcError {
    /// Short code for logs and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Discovery(_) => "discovery",
            OidcError::ProviderRefused(_) => "provider-refused",
            OidcError::BadCallback => "bad-callback",
            OidcError::StateMismatch => "state-mismatch",
            OidcError::UnknownState => "unknown-state",
            OidcError::TokenExchange(_) => "token-exchange",
            OidcError::InvalidIdToken(_) => "invalid-id-token",
            OidcError::MissingGroups(_) => "missing-groups",
            OidcError::NoTeams => "no-teams",
            OidcError::Storage(_) => "storage",
            OidcError::Busy => "busy",
            OidcError::Deactivated => "deactivated",
        }
    }

    /// Whether the callback was shown to belong to this browser's sign-in before it failed.
    fn is_verified(&self) -> bool {
        !matches!(
            self,
            OidcError::BadCallback | OidcError::StateMismatch | OidcError::UnknownState
        )
    }

    fn detail(&self) -> String {
        match self {
            OidcError::Discovery(d)
            | OidcError::ProviderRefused(d)
            | OidcError::TokenExchange(d)
            | OidcError::InvalidIdToken(d) => format!("{}: {d}", self.code()),
            OidcError::Storage(e) => format!("storage: {e}"),
            other => other.code().to_owned(),
        }
    }
}

struct Provider {
    client: Client,
    end_session: Option<EndSessionUrl>,
    fetched: Instant,
}

/// The OIDC relying party: cached provider metadata plus the flow's two halves.
pub struct Oidc {
    settings: OidcSettings,
    redirect_url: RedirectUrl,
    post_logout_url: PostLogoutRedirectUrl,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<Provider>>>,
    last_forced: std::sync::Mutex<Option<Instant>>,
}

/// A verified sign-in, ready to become a session.
#[derive(Debug)]
pub struct VerifiedLogin {
    /// The user as the database will store them.
    pub login: NewLogin,
    /// Where the user wanted to go.
    pub next: String,
}

impl Oidc {
    /// A relying party for `settings`, answering at `public_origin`.
    pub fn new(settings: OidcSettings, public_origin: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // Never follow redirects from the provider's endpoints (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Oidc {
            redirect_url: RedirectUrl::new(format!("{public_origin}/auth/oidc/callback"))?,
            post_logout_url: PostLogoutRedirectUrl::new(format!("{public_origin}/login"))?,
            settings,
            http,
            provider: RwLock::new(None),
            last_forced: std::sync::Mutex::new(None),
        })
    }

    /// The provider's metadata and keys: cached, fetched again when older than an hour, or
    /// at once when `force`d (a token named a key we do not have) unless a forced fetch
    /// happened within the last few seconds (forged tokens must not make us hammer the IdP).
    async fn provider(&self, force: bool) -> Result<Arc<Provider>, OidcError> {
        let asked = Instant::now();
        if let Some(p) = self.provider.read().await.as_ref() {
            let fresh = p.fetched.elapsed() < METADATA_TTL;
            let recently_forced = self
                .last_forced
                .lock()
                .is_ok_and(|t| t.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL));
            if (!force && fresh) || (force && recently_forced) {
                return Ok(p.clone());
            }
        }
        let mut slot = self.provider.write().await;
        // Another request may have fetched it while this one waited for the lock.
        if let Some(p) = slot.as_ref()
            && p.fetched >= asked
        {
            return Ok(p.clone());
        }
        if force && let Ok(mut last) = self.last_forced.lock() {
            *last = Some(Instant::now());
        }
        let metadata =
            ProviderMetadataWithLogout::discover_async(self.settings.issuer.clone(), &self.http)
                .await
                .map_err(|e| OidcError::Discovery(error_chain(&e)))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_url.clone());
        let provider = Arc::new(Provider {
            client,
            end_session,
            fetched: Instant::now(),
        });
        tracing::info!(issuer = %self.settings.issuer.as_str(), forced = force, "OIDC provider metadata and keys loaded");
        *slot = Some(provider.clone());
        Ok(provider)
    }

    /// First half: records a pending sign-in and returns the provider URL to send the user
    /// to, and the state to bind to the browser.
    pub async fn begin(&self, db: &Db, next: &str) -> Result<(url::Url, String), OidcError> {
        let provider = self.provider(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self
            .settings
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
        {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let now = db::now_ms();
        // Anyone may start a sign-in: their number is bounded, abandoned ones go first.
        sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1")
            .bind(now)
            .execute(db.pool())
            .await
            .map_err(db::Error::from)?;
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_pending")
            .fetch_one(db.pool())
            .await
            .map_err(db::Error::from)?;
        if pending >= MAX_PENDING {
            return Err(OidcError::Busy);
        }
        sqlx::query(
            "INSERT INTO oidc_pending (state, nonce, pkce_verifier, next_path, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state.secret())
        .bind(nonce.secret())
        .bind(verifier.secret())
        .bind(next)
        .bind(now)
        .bind(now + i64::try_from(PENDING_TTL.as_millis()).unwrap_or(600_000))
        .execute(db.pool())
        .await
        .map_err(db::Error::from)?;
        Ok((url, state.secret().clone()))
    }

    /// Second half: checks the callback, exchanges the code and verifies the ID token.
    pub async fn complete(
        &self,
        db: &Db,
        callback: &CallbackParams,
        browser_state: Option<&str>,
    ) -> Result<VerifiedLogin, OidcError> {
        // The state first: nothing else of a callback counts before it is this browser's.
        let Some(state) = &callback.state else {
            return Err(OidcError::BadCallback);
        };
        if browser_state != Some(state.as_str()) {
            return Err(OidcError::StateMismatch);
        }
        // Deleting and reading in one statement makes the state single-use even when the
        // same callback arrives twice at once.
        let pending: Option<(String, String, String, i64)> = sqlx::query_as(
            "DELETE FROM oidc_pending WHERE state = $1 RETURNING nonce, pkce_verifier, next_path, expires_at",
        )
        .bind(state)
        .fetch_optional(db.pool())
        .await
        .map_err(db::Error::from)?;
        let Some((nonce, verifier, next, expires_at)) = pending else {
            return Err(OidcError::UnknownState);
        };
        if expires_at <= db::now_ms() {
            return Err(OidcError::UnknownState);
        }
        if let Some(error) = &callback.error {
            let description = callback.error_description.as_deref().unwrap_or_default();
            return Err(OidcError::ProviderRefused(
                format!("{error} {description}").trim().to_owned(),
            ));
        }
        let Some(code) = &callback.code else {
            return Err(OidcError::BadCallback);
        };

        let provider = self.provider(false).await?;
        let token_response = provider
            .client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|e| OidcError::TokenExchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::TokenExchange(error_chain(&e)))?;
        let id_token = openidconnect::TokenResponse::id_token(&token_response)
            .ok_or_else(|| OidcError::InvalidIdToken("no id_token in the token response".into()))?;
        let nonce = Nonce::new(nonce);

        let verified = match id_token.claims(&provider.client.id_token_verifier(), &nonce) {
            Ok(claims) => Ok(claims.clone()),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                // Signed with a key we have not seen: the provider may have rotated keys.
                let fresh = self.provider(true).await?;
                id_token
                    .claims(&fresh.client.id_token_verifier(), &nonce)
                    .cloned()
            }
            Err(e) => Err(e),
        };
        let claims = verified.map_err(|e| OidcError::InvalidIdToken(error_chain(&e)))?;

        // The signature covers the payload, so reading extra claims from it is safe now.
        let raw = id_token.to_string();
        let payload = raw
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .ok_or_else(|| OidcError::InvalidIdToken("unreadable payload".into()))?;
        let groups = read_groups(&payload, &self.settings.groups_claim)
            .ok_or_else(|| OidcError::MissingGroups(self.settings.groups_claim.clone()))?;
        let mapped = self.settings.teams.map(&groups);
        if mapped.teams.is_empty() && !mapped.is_admin {
            return Err(OidcError::NoTeams);
        }

        let subject = claims.subject().as_str();
        let email = claims
            .email()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default();
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
            .unwrap_or_else(|| {
                if email.is_empty() {
                    subject.to_owned()
                } else {
                    email.clone()
                }
            });
        Ok(VerifiedLogin {
            login: NewLogin {
                subject: format!("{}|{subject}", self.settings.issuer.as_str()),
                display_name: name,
                email,
                is_admin: mapped.is_admin,
                teams: mapped.teams,
            },
            next,
        })
    }

    /// Where to send the browser after the local session ended: the provider's end-session
    /// endpoint (RP-initiated logout) when it has one, else the login page. The portal names
    /// itself by its client id, which RP-Initiated Logout 1.0 accepts in place of an ID token
    /// hint, so sessions need not keep the ID token (and the claims in it).
    pub async fn logout_url(&self) -> Option<url::Url> {
        if !self.settings.provider_logout {
            return None;
        }
        let provider = self.provider(false).await.ok()?;
        let endpoint = provider.end_session.clone()?;
        let request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.settings.client_id.clone()))
            .set_post_logout_redirect_uri(self.post_logout_url.clone());
        Some(request.http_get_url())
    }
}

/// Groups from a claim that holds an array of strings (or a single string).
fn read_groups(payload: &serde_json::Value, claim: &str) -> Option<Vec<String>> {
    match payload.get(claim)? {
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
        ),
        serde_json::Value::String(one) => Some(vec![one.clone()]),
        _ => None,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Query of `GET /auth/oidc/login`.
#[derive(Debug, Deserialize)]
pub struct LoginParams {
    next: Option<String>,
}

/// Query of `GET /auth/oidc/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    /// Authorization code.
    pub code: Option<String>,
    /// State sent in the authorization request.
    pub state: Option<String>,
    /// Provider error code.
    pub error: Option<String>,
    /// Provider error text.
    pub error_description: Option<String>,
}

/// Only local absolute paths may be redirect targets after sign-in (no open redirect).
pub fn safe_next(origin: &str, next: Option<&str>) -> String {
    const HOME: &str = "/catalog";
    let Some(next) = next else {
        return HOME.to_owned();
    };
    // Browsers drop tabs and line breaks from URLs, so `/\t/evil.example` would become
    // `//evil.example`: anything not printable is refused outright.
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    let (Ok(base), true) = (url::Url::parse(origin), plain) else {
        return HOME.to_owned();
    };
    // Resolved as the browser will resolve it, it must stay on the portal's own origin.
    let Ok(resolved) = base.join(next) else {
        return HOME.to_owned();
    };
    let path = resolved.path();
    if resolved.origin() != base.origin() || path.starts_with("//") || path.starts_with("/auth/") {
        return HOME.to_owned();
    }
    let mut local = path.to_owned();
    if let Some(query) = resolved.query() {
        local.push('?');
        local.push_str(query);
    }
    if let Some(fragment) = resolved.fragment() {
        local.push('#');
        local.push_str(fragment);
    }
    local
}

fn state_cookie(settings: &Settings, value: &str, max_age: Duration) -> HeaderValue {
    let path = if settings.secure_cookies {
        "/"
    } else {
        "/auth/oidc"
    };
    session::cookie_header(
        settings,
        state_cookie_name(settings),
        value.to_owned(),
        path,
        max_age,
    )
}

/// Back to the login page with the error's code: the page shows a fixed message for it
/// ([`app::domain::login_message`]), never text from the address.
fn login_error(error: &OidcError) -> Response {
    Redirect::to(&format!("/login?error={}", error.code())).into_response()
}

/// `GET /auth/oidc/login`: starts a sign-in at the provider.
pub async fn login(State(state): State<AuthState>, Query(params): Query<LoginParams>) -> Response {
    let Some(oidc) = &state.oidc else {
        return crate::error::ApiError::not_found("Single sign-on").into_response();
    };
    let next = safe_next(&state.settings.public_origin, params.next.as_deref());
    match oidc.begin(&state.db, &next).await {
        Ok((url, browser_state)) => (
            [(
                header::SET_COOKIE,
                state_cookie(&state.settings, &browser_state, PENDING_TTL),
            )],
            Redirect::to(url.as_str()),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(reason = %error.detail(), "cannot start OIDC sign-in");
            login_error(&error)
        }
    }
}

/// `GET /auth/oidc/callback`: completes the sign-in and starts a session.
pub async fn callback(
    State(state): State<AuthState>,
    Query(params): Query<CallbackParams>,
    headers: HeaderMap,
    previous: Option<Extension<SessionToken>>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return crate::error::ApiError::not_found("Single sign-on").into_response();
    };
    let clear_state = state_cookie(&state.settings, "", Duration::ZERO);
    let browser_state = cookie_value(&headers, state_cookie_name(&state.settings));
    let outcome = async {
        let verified = oidc
            .complete(&state.db, &params, browser_state.as_deref())
            .await?;
        let user = db::users::upsert_login(&state.db, &verified.login)
            .await?
            .ok_or(OidcError::Deactivated)?;
        let cookie = session::start(
            &state.db,
            &state.settings,
            previous.as_deref(),
            &user,
            "oidc",
            true,
        )
        .await?;
        Ok::<_, OidcError>((cookie, verified.next))
    };
    match outcome.await {
        Ok((cookie, next)) => {
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, cookie);
            headers.append(header::SET_COOKIE, clear_state);
            response
        }
        Err(error) if !error.is_verified() => {
            // Anyone can call the callback: a response that is not this browser's sign-in
            // writes nothing to the database (no audit entry either; the log has it).
            tracing::warn!(reason = %error.detail(), "OIDC callback refused before its state was verified");
            let mut response = login_error(&error);
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_state);
            response
        }
        Err(error) => {
            tracing::warn!(reason = %error.detail(), "OIDC sign-in refused");
            let entry = audit::NewAuditEntry {
                actor: None::<&CurrentUser>,
                action: "login",
                target: None,
                request_id: None,
                outcome: if matches!(error, OidcError::Storage(_) | OidcError::Discovery(_)) {
                    audit::AuditOutcome::Error
                } else {
                    audit::AuditOutcome::Denied
                },
                detail: Some(error.code()),
            };
            if let Err(e) = audit::record(&state.db, entry).await {
                tracing::error!(error = %e, "audit entry for a refused sign-in not written");
            }
            let mut response = login_error(&error);
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_state);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_accepted_as_next() {
        let origin = "https://slipway.example.com";
        let next = |n| safe_next(origin, Some(n));
        assert_eq!(next("/requests?team=a"), "/requests?team=a");
        assert_eq!(next("/requests/x#timeline"), "/requests/x#timeline");
        assert_eq!(
            next("/a/../requests"),
            "/requests",
            "resolved as the browser does"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r//evil.example",
            "/ /evil.example",
            "/\u{7f}/evil.example",
            "/auth/oidc/login",
            "/x/../auth/oidc/login",
            "catalog",
            "",
        ] {
            assert_eq!(next(bad), "/catalog", "{bad:?}");
        }
        assert_eq!(safe_next(origin, None), "/catalog");
    }

    #[test]
    fn groups_are_read_from_arrays_and_single_strings() {
        let payload = serde_json::json!({"groups": ["a", 1, "b"], "role": "x", "n": 3});
        assert_eq!(
            read_groups(&payload, "groups"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(read_groups(&payload, "role"), Some(vec!["x".into()]));
        assert_eq!(read_groups(&payload, "n"), None);
        assert_eq!(read_groups(&payload, "missing"), None);
    }
}
