//! Webhooks from forges. The REST API for automation (`/api/v1/…`) is in [`super::rest`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::git::pulls::HookRefusal;
use crate::state::AppState;

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
