//! The one error type the UI sees. It carries a message fit for a person and nothing from
//! the inside (no SQL, Git or Kubernetes text): the server logs the cause and maps it here.

use http::StatusCode;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// An error as shown to the user, with the HTTP status it stands for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    /// The visitor is not signed in.
    #[error("Please sign in to continue.")]
    Unauthenticated,
    /// Signed in, but not allowed to do this.
    #[error("You are not allowed to {0}.")]
    Forbidden(String),
    /// The thing asked for does not exist (or is not visible to this user).
    #[error("{0} was not found.")]
    NotFound(String),
    /// The input was refused; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The thing changed, or is being changed, since the caller last saw it (a plan confirmed
    /// after it changed, an idempotency key still in flight); the message says what.
    #[error("{0}")]
    Conflict(String),
    /// Values were refused; each error names its field (JSON Pointer).
    #[error("{} value(s) need attention.", .0.len())]
    Validation(Vec<crate::catalog::FieldError>),
    /// A part the portal depends on is down; the message names it.
    #[error("{0} is unavailable right now. Please try again shortly.")]
    Unavailable(String),
    /// Anything else. Details are in the server log under this reference.
    #[error("Something went wrong on our side (reference {0}).")]
    Internal(String),
    /// Transport or encoding failure of a server function call.
    #[error("The request could not be completed: {0}")]
    ServerFn(ServerFnErrorErr),
}

impl AppError {
    /// The HTTP status code this error stands for.
    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Invalid(_) | AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::ServerFn(ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_)) => {
                StatusCode::BAD_REQUEST
            }
            AppError::ServerFn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::ServerFn(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_the_status_a_client_expects() {
        assert_eq!(
            AppError::Unauthenticated.status_code(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            AppError::Forbidden("x".into()).status_code(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            AppError::NotFound("x".into()).status_code(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            AppError::Unavailable("Git".into()).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn internal_errors_show_only_a_reference() {
        let shown = AppError::Internal("01J9".into()).to_string();
        assert_eq!(shown, "Something went wrong on our side (reference 01J9).");
    }
}
