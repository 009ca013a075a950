//! The REST API for automation (`/api/v1/…`), authenticated by a session cookie or a
//! personal API token (`Authorization: Bearer slp_…`). Token scopes are enforced before any
//! handler runs: `read` for GET, `write` for anything else.

use app::domain::{CurrentUser, TokenScope};
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::session::TokenAuth;
use crate::error::ApiError;
use crate::git::pulls::HookRefusal;
use crate::state::AppState;

/// `GET /api/v1/me`: who the caller is, their teams, and how they authenticated.
pub async fn me(
    user: Option<Extension<CurrentUser>>,
    token: Option<Extension<TokenAuth>>,
) -> Response {
    let Some(Extension(user)) = user else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign in or send an API token.",
        )
        .into_response();
    };
    let auth = match token {
        Some(Extension(TokenAuth(scopes))) => {
            json!({ "method": "token", "scopes": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>() })
        }
        None => {
            json!({ "method": "session", "scopes": [TokenScope::Read.as_str(), TokenScope::Write.as_str()] })
        }
    };
    Json(json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "teams": user.teams,
        "is_admin": user.is_admin,
        "auth": auth,
    }))
    .into_response()
}

/// `POST /api/hooks/forge`: pull-request webhooks from GitHub, GitLab or Gitea. No session:
/// the delivery is authenticated by its signature (or GitLab's token), and the pull
/// request's state is read back from the forge, never taken from the payload.
pub async fn forge_hook(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut outcome = Err(HookRefusal::NotConfigured);
    for writer in state.environments.writers() {
        match writer.on_hook(&headers, &body).await {
            Err(HookRefusal::NotConfigured) => continue,
            Ok(false) if outcome.is_ok() => continue,
            other => {
                let done = matches!(other, Ok(true) | Err(_));
                outcome = other;
                if done {
                    break;
                }
            }
        }
    }
    match outcome {
        Ok(recorded) => (
            StatusCode::OK,
            if recorded {
                "recorded"
            } else {
                "nothing to record"
            },
        )
            .into_response(),
        Err(HookRefusal::NotConfigured) => ApiError::new(
            StatusCode::NOT_FOUND,
            "webhooks_not_configured",
            "Webhooks are not configured.",
        )
        .into_response(),
        Err(HookRefusal::BadSignature) => {
            tracing::warn!("a forge webhook with a wrong signature was refused");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "The delivery's signature does not match.",
            )
            .into_response()
        }
        Err(HookRefusal::Failed(error)) => {
            tracing::error!(%error, "a forge webhook could not be handled");
            // 5xx: the forge delivers again later.
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "retry_later",
                "The delivery could not be handled now; deliver it again.",
            )
            .into_response()
        }
    }
}
