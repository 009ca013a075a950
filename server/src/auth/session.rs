//! Session cookies. The cookie holds 32 random bytes (base64url); the database holds their
//! SHA-256. Cookies are `HttpOnly`, `SameSite=Lax`, `Path=/`, and on HTTPS `Secure` with the
//! `__Host-` prefix (which forbids a `Domain` and so keeps subdomains from planting one).

use app::domain::{CurrentUser, TokenScope};
use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};

use app::error::AppError;

use crate::auth::AuthState;
use crate::config::Settings;
use crate::db::{self, Db, audit};
use crate::error::ApiError;

/// The session token of the current request, as found in its cookie.
#[derive(Clone, Debug)]
pub struct SessionToken(pub String);

/// Cookie name for these settings.
pub fn cookie_name(settings: &Settings) -> &'static str {
    if settings.secure_cookies {
        "__Host-slipway_session"
    } else {
        "slipway_session"
    }
}

/// A fresh unguessable token: 32 random bytes, base64url (43 characters). Session cookies
/// and API tokens alike.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for a token.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of the cookie `name`, if the request carries it.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value with the portal's cookie policy: `HttpOnly`, `SameSite=Lax` (it must
/// come along on top-level navigations, e.g. the identity provider's redirect back), and
/// `Secure` on HTTPS.
pub fn cookie_header(
    settings: &Settings,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: std::time::Duration,
) -> HeaderValue {
    let max_age = time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookies)
        .path(path)
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("cookie text is a valid header value")
}

fn set_cookie(settings: &Settings, value: String, max_age: std::time::Duration) -> HeaderValue {
    cookie_header(settings, cookie_name(settings), value, "/", max_age)
}

/// Starts a session for a signed-in user: ends any session the browser already had
/// (rotation: a fixed token planted before login is worthless after it), stores the new one,
/// audits the login and returns the `Set-Cookie` header value.
pub async fn start(
    db: &Db,
    settings: &Settings,
    previous: Option<&SessionToken>,
    user: &CurrentUser,
    method: &str,
    sso: bool,
) -> db::Result<HeaderValue> {
    if let Some(previous) = previous {
        db::sessions::delete(db, &hash_token(&previous.0)).await?;
    }
    let token = new_token();
    db::sessions::create(db, &hash_token(&token), &user.id, settings.session_ttl, sso).await?;
    audit::record(
        db,
        audit::NewAuditEntry {
            actor: Some(user),
            action: "login",
            target: None,
            request_id: None,
            outcome: audit::AuditOutcome::Ok,
            detail: Some(method),
        },
    )
    .await?;
    Ok(set_cookie(settings, token, settings.session_ttl))
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(settings: &Settings) -> HeaderValue {
    set_cookie(settings, String::new(), std::time::Duration::ZERO)
}

/// Middleware: resolves the session cookie to a [`CurrentUser`] in the request extensions.
/// A database failure is answered with 503 rather than treating the user as signed out.
pub async fn load_user(
    State(state): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Static assets (the wasm, JS, CSS a page load fetches) need no user: no database trip.
    let path = request.uri().path();
    if path.starts_with("/pkg/") || path == "/favicon.svg" {
        return next.run(request).await;
    }
    // The REST API also takes personal API tokens; the UI's routes never do.
    if request.uri().path().starts_with("/api/v1/")
        && let Some(bearer) = bearer_token(request.headers())
    {
        return match db::tokens::authenticate(&state.db, &hash_token(&bearer)).await {
            Ok(Some((user, scopes))) => {
                let writes = !matches!(
                    *request.method(),
                    Method::GET | Method::HEAD | Method::OPTIONS
                );
                if writes && !scopes.contains(&TokenScope::Write) {
                    return api_auth_error(
                        StatusCode::FORBIDDEN,
                        "insufficient_scope",
                        "This token may only read.",
                    );
                }
                request.extensions_mut().insert(user);
                request.extensions_mut().insert(TokenAuth(scopes));
                request
                    .extensions_mut()
                    .insert(BearerToken(hash_token(&bearer)));
                next.run(request).await
            }
            Ok(None) => api_auth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The token is unknown, expired or revoked.",
            ),
            Err(error) => {
                tracing::error!(%error, "token lookup failed");
                ApiError::from(AppError::Unavailable("The token store".into())).into_response()
            }
        };
    }
    let name = cookie_name(&state.settings);
    if let Some(token) = cookie_value(request.headers(), name) {
        let idle = state.settings.session_idle;
        // A status stream's (re)connect is not the person's activity: it must not keep an
        // idle session alive.
        let activity = !request.uri().path().ends_with("/status/events");
        match db::sessions::user_for(&state.db, &hash_token(&token), idle, activity).await {
            Ok(Some(user)) => {
                request.extensions_mut().insert(user);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "session lookup failed");
                return ApiError::from(AppError::Unavailable("The session store".into()))
                    .into_response();
            }
        }
        request.extensions_mut().insert(SessionToken(token));
    }
    next.run(request).await
}

/// A request authenticated by an API token, with the token's scopes.
#[derive(Clone, Debug)]
pub struct TokenAuth(pub Vec<TokenScope>);

/// The hash of the API token a request was authenticated with (a status stream re-reads it,
/// as a browser's stream re-reads its session).
#[derive(Clone, Debug)]
pub struct BearerToken(pub String);

/// The token of an `Authorization: Bearer …` header.
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// RFC 6750 error answer: status, `WWW-Authenticate` naming the error, and the error body
/// with the same code.
fn api_auth_error(status: StatusCode, code: &'static str, message: &'static str) -> Response {
    let challenge = format!("Bearer error=\"{code}\"");
    ApiError::new(status, code, message)
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).expect("ASCII challenge"),
        )
        .into_response()
}

/// `POST /auth/logout`: ends the session, clears the cookie and audits it. An SSO session
/// continues at the provider's end-session endpoint (RP-initiated logout, the portal named by
/// its client id), which sends the browser back to the login page; others go there directly.
pub async fn logout(
    State(state): State<AuthState>,
    token: Option<Extension<SessionToken>>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    let mut sso = false;
    if let Some(Extension(token)) = token {
        match db::sessions::delete(&state.db, &hash_token(&token.0)).await {
            Ok(was_sso) => sso = was_sso,
            Err(error) => {
                tracing::error!(%error, "sign-out could not delete the session");
                return ApiError::from(AppError::Unavailable("The session store".into()))
                    .into_response();
            }
        }
        let entry = audit::NewAuditEntry {
            actor: user.as_deref(),
            action: "logout",
            target: None,
            request_id: None,
            outcome: audit::AuditOutcome::Ok,
            detail: None,
        };
        if let Err(error) = audit::record(&state.db, entry).await {
            tracing::error!(%error, "audit entry for sign-out not written");
        }
    }
    let target = match &state.oidc {
        Some(oidc) if sso => oidc.logout_url().await.map(|u| u.to_string()),
        _ => None,
    };
    let target = target.unwrap_or_else(|| "/login".to_owned());
    (
        [(header::SET_COOKIE, clear_cookie(&state.settings))],
        Redirect::to(&target),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in unpadded base64");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn the_stored_hash_is_sha256_hex_of_the_token() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; slipway_session=tok123"),
        );
        assert_eq!(
            cookie_value(&headers, "slipway_session").as_deref(),
            Some("tok123")
        );
        assert_eq!(cookie_value(&headers, "other"), None);
    }
}
