//! Turning internal failures into what the user may see. Policy: the cause is logged here,
//! once, with a short reference; the user gets [`AppError::Internal`] with that reference
//! and never the raw SQL, Git or Kubernetes text.

use app::error::AppError;

/// Logs `error` with `context` and returns a user-facing error carrying a reference.
pub fn internal(context: &'static str, error: &dyn std::fmt::Display) -> AppError {
    let reference = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    tracing::error!(%reference, %error, "{context}");
    AppError::Internal(reference)
}
