//! One error path. Internal failures become [`AppError::Internal`] through `From` (logged
//! here, once, with a short reference; the user never sees SQL, Git or Kubernetes text), and
//! every endpoint outside Leptos answers errors in one JSON body, [`ErrorBody`], with a
//! stable machine-readable `code`.
//!
//! ```text
//!  db::Error / git::Error ──From──▶ AppError ──▶ server fn (Leptos encoding)
//!                                                      └──▶ ApiError ──▶ {"code", "message"}
//!  middleware refusals (CSRF, tokens, size, sign-in) ───────▶ ApiError ──▶ {"code", "message"}
//! ```

use app::catalog::FieldError;
use app::error::AppError;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Logs `error` with `context` and returns a user-facing error carrying a reference.
pub fn internal(context: &'static str, error: &dyn std::fmt::Display) -> AppError {
    let reference = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    tracing::error!(%reference, %error, "{context}");
    AppError::Internal(reference)
}

impl From<crate::db::Error> for AppError {
    fn from(error: crate::db::Error) -> Self {
        match error {
            crate::db::Error::Conflict(other) => AppError::Invalid(format!(
                "A change to this claim (request {other}) is still on its way to Git; try again once it is committed."
            )),
            crate::db::Error::Taken { .. } => AppError::Invalid(
                "The name of this cluster-wide resource is taken by another request now; choose another name in a new request.".into(),
            ),
            crate::db::Error::Refused(message) => AppError::Invalid(message),
            crate::db::Error::KeyTakenOver => AppError::Conflict(
                "This submission's Idempotency-Key was taken over by a retry; the retry's request is the one made.".into(),
            ),
            other => internal("database failure", &other),
        }
    }
}

impl From<crate::git::Error> for AppError {
    fn from(error: crate::git::Error) -> Self {
        internal("repository failure", &error)
    }
}

/// The result of blocking work run with `spawn_blocking`: a panic there is an internal
/// error like any other.
pub fn joined<T>(result: Result<T, tokio::task::JoinError>) -> Result<T, AppError> {
    result.map_err(|error| internal("a blocking task failed", &error))
}

/// The JSON body of every error answered outside Leptos.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable (`not_found`, `invalid_token`, …).
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Values refused, each at its field (validation errors only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// An error answer of a non-Leptos endpoint: status, body and extra headers.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
    /// Extra headers (`WWW-Authenticate`, `Retry-After` …).
    pub headers: HeaderMap,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                fields: Vec::new(),
            },
            headers: HeaderMap::new(),
        }
    }

    /// The same error with a header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Not signed in.
    pub fn unauthenticated() -> Self {
        ApiError::from(AppError::Unauthenticated)
    }

    /// No such thing (or not visible).
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::from(AppError::NotFound(what.into()))
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let code = match &error {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Invalid(_) => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::Validation(_) => "validation_failed",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
            AppError::ServerFn(_) => "bad_request",
        };
        let fields = match &error {
            AppError::Validation(fields) => fields.clone(),
            _ => Vec::new(),
        };
        ApiError {
            status: error.status_code(),
            body: ErrorBody {
                code,
                message: error.to_string(),
                fields,
            },
            headers: HeaderMap::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

/// The answer to a body larger than the portal accepts.
pub fn payload_too_large() -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The request body is larger than the portal accepts.",
    )
    .into_response()
}
