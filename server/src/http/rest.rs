#![allow(
    unused_qualifications,
    reason = "utoipa's path macro names the IntoParams types by their full path"
)]

//! The REST API, `/api/v1/…`: every flow of the portal for scripts, CI pipelines and the
//! `slipway` client, authenticated by a personal API token (`Authorization: Bearer slp_…`;
//! `read` for GET, `write` for anything else) or the browser's session. Each handler is one
//! port call, the same as the page's server function: no rule is implemented twice.
//!
//! ```text
//!  routes() ──▶ (path, method, handler) ─┬─▶ the router (http::plain_routes)
//!                                        └─▶ must equal ApiDoc's operations (a test)
//!  errors: AppError ──▶ ApiError {"code", "message", "fields"}        lists: cursor paging
//!  reads polled (a request, its status, claims, metrics): ETag / If-None-Match ──▶ 304
//!  POST /requests with Idempotency-Key: one request per key and body
//! ```

use app::catalog::{CatalogFilter, OfferingDetail, Preview, RequestDraft};
use app::domain::{AuditFilter, AuditPage, CurrentUser};
use app::metrics::{Dashboard, MetricsQuery};
use app::promotions::{ClaimAcross, PromotionPlan};
use app::requests::{
    Action, ApprovalItem, RequestDetail, RequestFilter, RequestSummary, Submitted,
};
use app::status::{ClaimRow, RequestStatus};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::session::TokenAuth;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The header naming a submission's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The signed-in caller (token or session); anonymous callers get 401 in the one JSON shape.
pub struct Actor(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .map(Actor)
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// A JSON body; a malformed one is a 400 in the one JSON shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| Body(value))
            .map_err(|rejection| {
                // A body too large keeps its own answer; any other unreadable body is a 400.
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "The request body is larger than the portal accepts.",
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        rejection.body_text(),
                    )
                }
            })
    }
}

/// Query parameters; malformed ones are a 400 in the one JSON shape.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    rejection.body_text(),
                )
            })
    }
}

/// `value` as JSON with an `ETag` of its content; `304 Not Modified` when the client already
/// has it (`If-None-Match`). Reads that clients poll cost them nothing while nothing changed.
fn etagged<T: Serialize>(headers: &HeaderMap, value: &T) -> Response {
    use sha2::{Digest as _, Sha256};
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(error) => {
            return ApiError::from(crate::error::internal("encoding a response", &error))
                .into_response();
        }
    };
    let digest = format!("{:x}", Sha256::digest(&body));
    let tag = format!("\"{}\"", &digest[..32]);
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == tag || v == "*");
    // Hex digits in quotes: always a valid header value.
    let tag_value = HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\""));
    let caching = [
        (header::ETAG, tag_value),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        ),
    ];
    if matches {
        (StatusCode::NOT_MODIFIED, caching).into_response()
    } else {
        (
            caching,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

fn json<T: Serialize>(value: T) -> Response {
    axum::Json(value).into_response()
}

fn created(submitted: Submitted) -> Response {
    let location = format!("/api/v1/requests/{}", submitted.id);
    let mut response = (StatusCode::CREATED, axum::Json(submitted)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Who is calling.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// User id.
    id: String,
    /// Display name.
    name: String,
    /// E-mail.
    email: String,
    /// Teams (from the identity provider's groups).
    teams: Vec<String>,
    /// A platform administrator.
    is_admin: bool,
    /// How the caller authenticated.
    auth: Auth,
}

/// How a caller authenticated.
#[derive(Serialize, ToSchema)]
pub struct Auth {
    /// `token` or `session`.
    method: String,
    /// What the credentials may do: `read`, `write`.
    scopes: Vec<String>,
}

/// `GET /api/v1/me`.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn me(Actor(user): Actor, token: Option<axum::Extension<TokenAuth>>) -> Response {
    let (auth, scopes) = match token {
        Some(axum::Extension(TokenAuth(scopes))) => (
            "token",
            scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        ),
        None => ("session", vec!["read".to_owned(), "write".to_owned()]),
    };
    json(Me {
        id: user.id,
        name: user.name,
        email: user.email,
        teams: user.teams,
        is_admin: user.is_admin,
        auth: Auth {
            method: auth.to_owned(),
            scopes,
        },
    })
}

/// Catalog search.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Free text (id, title, description, kind, tags).
    #[serde(default)]
    q: String,
    /// Only offerings with this tag.
    #[serde(default)]
    tag: String,
    /// `template`, `xrd` or `promise`.
    #[serde(default)]
    source: String,
    /// Only offerings available in this environment.
    #[serde(default)]
    environment: String,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
}

/// A page of offerings.
#[derive(Serialize, ToSchema)]
pub struct CatalogList {
    /// The offerings.
    items: Vec<app::catalog::OfferingSummary>,
    /// Offerings matching in all.
    total: usize,
    /// The cursor of the next page, if any.
    next_cursor: Option<String>,
}

/// `GET /api/v1/catalog`.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = CatalogList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn catalog_list(
    State(state): State<AppState>,
    Actor(user): Actor,
    Params(query): Params<CatalogQuery>,
) -> Result<Response, ApiError> {
    let page = match query.cursor.as_deref() {
        None | Some("") => 1,
        Some(cursor) => cursor
            .parse::<u32>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_cursor",
                    "This cursor is not one the API gave.",
                )
            })?,
    };
    let found = state
        .ports
        .catalog
        .list(
            &user,
            &CatalogFilter {
                q: query.q,
                tag: query.tag,
                source: query.source,
                environment: query.environment,
                page,
            },
        )
        .await?;
    let shown = (found.page as usize) * (found.page_size as usize);
    Ok(json(CatalogList {
        next_cursor: (shown < found.total).then(|| (found.page + 1).to_string()),
        items: found.items,
        total: found.total,
    }))
}

/// `GET /api/v1/catalog/{id}`.
#[utoipa::path(get, path = "/api/v1/catalog/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Offering id")),
    responses((status = 200, body = OfferingDetail), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn catalog_get(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(state.ports.catalog.get(&user, &id).await?))
}

/// `GET /api/v1/catalog/{id}/schema`.
#[utoipa::path(get, path = "/api/v1/catalog/{id}/schema", tag = "catalog",
    params(("id" = String, Path, description = "Offering id")),
    responses((status = 200, description = "The values' JSON Schema (Kubernetes structural dialect)",
        body = serde_json::Value), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn catalog_schema(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(state.ports.catalog.schema(&user, &id).await?))
}

/// `POST /api/v1/preview`.
#[utoipa::path(post, path = "/api/v1/preview", tag = "requests", request_body = RequestDraft,
    responses((status = 200, description = "The file it would commit and its diff", body = Preview),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    Actor(user): Actor,
    Body(draft): Body<RequestDraft>,
) -> Result<Response, ApiError> {
    Ok(json(state.ports.catalog.preview(&user, &draft).await?))
}

/// Request list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    /// Only this team's.
    team: Option<String>,
    /// Only this stage (`committed`, `ready`, …).
    stage: Option<String>,
    /// Only this environment.
    environment: Option<String>,
    /// Name or kind contains.
    q: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of requests, newest first.
#[derive(Serialize, ToSchema)]
pub struct RequestList {
    /// The requests.
    items: Vec<RequestSummary>,
    /// The cursor of the next page, if any.
    next_cursor: Option<String>,
}

/// `GET /api/v1/requests`.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(RequestQuery),
    responses((status = 200, body = RequestList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn requests_list(
    State(state): State<AppState>,
    Actor(user): Actor,
    Params(query): Params<RequestQuery>,
) -> Result<Response, ApiError> {
    let page = state
        .ports
        .requests
        .list(
            &user,
            &RequestFilter {
                team: query.team,
                stage: query.stage,
                environment: query.environment,
                q: query.q,
                before: query.cursor,
            },
        )
        .await?;
    Ok(json(RequestList {
        items: page.requests,
        next_cursor: page.next,
    }))
}

/// `POST /api/v1/requests`.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = RequestDraft,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key and body again answer the request the first made")),
    responses((status = 201, description = "Submitted; the writer commits it", body = Submitted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A read-only token", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn requests_create(
    State(state): State<AppState>,
    Actor(user): Actor,
    headers: HeaderMap,
    Body(draft): Body<RequestDraft>,
) -> Result<Response, ApiError> {
    let submitted = match headers.get(IDEMPOTENCY_KEY) {
        Some(key) => {
            let key = key.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "An Idempotency-Key is 1 to 255 visible ASCII characters.",
                )
            })?;
            state.ports.requests.submit_once(&user, &draft, key).await?
        }
        None => state.ports.requests.submit(&user, &draft).await?,
    };
    Ok(created(submitted))
}

/// `GET /api/v1/requests/{id}`.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The request and its timeline (ETag)", body = RequestDetail),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn requests_get(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Ok(etagged(
        &headers,
        &state.ports.requests.get(&user, &id).await?,
    ))
}

/// `GET /api/v1/requests/{id}/status`.
#[utoipa::path(get, path = "/api/v1/requests/{id}/status", tag = "status",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Live status and resource tree (ETag)", body = RequestStatus),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn requests_status(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Ok(etagged(
        &headers,
        &state.ports.status.request_status(&user, &id).await?,
    ))
}

/// `GET /api/v1/requests/{id}/claim`.
#[utoipa::path(get, path = "/api/v1/requests/{id}/claim", tag = "requests",
    params(("id" = String, Path, description = "Any request of the claim")),
    responses((status = 200, description = "The form an edit starts from, read from the file in Git", body = app::requests::ChangeSource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn claim_get(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(state.ports.requests.change_source(&user, &id).await?))
}

/// `PUT /api/v1/requests/{id}/claim`.
#[utoipa::path(put, path = "/api/v1/requests/{id}/claim", tag = "requests",
    params(("id" = String, Path, description = "Any request of the claim")),
    request_body(content = RequestDraft, description = "The whole form; offering, environment, team and name stay"),
    responses((status = 201, description = "An update request", body = Submitted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn claim_update(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
    Body(draft): Body<RequestDraft>,
) -> Result<Response, ApiError> {
    Ok(created(
        state
            .ports
            .requests
            .submit_change(&user, &id, Action::Update, Some(&draft))
            .await?,
    ))
}

/// `DELETE /api/v1/requests/{id}/claim`.
#[utoipa::path(delete, path = "/api/v1/requests/{id}/claim", tag = "requests",
    params(("id" = String, Path, description = "Any request of the claim")),
    responses((status = 201, description = "A delete request", body = Submitted),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn claim_delete(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(created(
        state
            .ports
            .requests
            .submit_change(&user, &id, Action::Delete, None)
            .await?,
    ))
}

/// `GET /api/v1/requests/{id}/across`.
#[utoipa::path(get, path = "/api/v1/requests/{id}/across", tag = "promotions",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The claim in every environment and the chain", body = ClaimAcross),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn requests_across(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(state.ports.promotions.across(&user, &id).await?))
}

/// `GET /api/v1/requests/{id}/promotions/{target}`.
#[utoipa::path(get, path = "/api/v1/requests/{id}/promotions/{target}", tag = "promotions",
    params(("id" = String, Path, description = "Any request of the claim"),
        ("target" = String, Path, description = "The environment to promote to")),
    responses((status = 200, description = "The gates, kept fields and diff", body = PromotionPlan),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn promotion_plan(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path((id, target)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(json(
        state.ports.promotions.plan(&user, &id, &target).await?,
    ))
}

/// Confirms a promotion.
#[derive(Deserialize, ToSchema)]
pub struct Promote {
    /// The `token` of the plan shown: refused (409) if the plan is now another.
    #[serde(default)]
    token: Option<String>,
}

/// `POST /api/v1/requests/{id}/promotions/{target}`.
#[utoipa::path(post, path = "/api/v1/requests/{id}/promotions/{target}", tag = "promotions",
    params(("id" = String, Path, description = "Any request of the claim"),
        ("target" = String, Path, description = "The environment to promote to")),
    request_body = Promote,
    responses((status = 201, description = "The request in the target", body = Submitted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, description = "A gate refused", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn promotion_create(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path((id, target)): Path<(String, String)>,
    Body(body): Body<Promote>,
) -> Result<Response, ApiError> {
    Ok(created(
        state
            .ports
            .promotions
            .promote(&user, &id, &target, body.token.as_deref())
            .await?,
    ))
}

/// `GET /api/v1/claims`.
#[utoipa::path(get, path = "/api/v1/claims", tag = "status",
    responses((status = 200, description = "The caller's teams' claims with live status (ETag)", body = Vec<ClaimRow>),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 401, body = ErrorBody)))]
pub async fn claims(
    State(state): State<AppState>,
    Actor(user): Actor,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Ok(etagged(&headers, &state.ports.status.claims(&user).await?))
}

/// `GET /api/v1/status/events`.
#[utoipa::path(get, path = "/api/v1/status/events", tag = "status",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, description = "Server-Sent Events: `claim`, `ledger`, `cluster`, `reset` (each a StatusMessage as JSON), only of the caller's teams",
        content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn status_events(
    state: State<AppState>,
    user: Option<axum::Extension<CurrentUser>>,
    session: Option<axum::Extension<crate::auth::session::SessionToken>>,
    bearer: Option<axum::Extension<crate::auth::session::BearerToken>>,
    headers: HeaderMap,
) -> Response {
    super::stream::events(state, user, session, bearer, headers).await
}

/// `GET /api/v1/approvals`.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals",
    responses((status = 200, description = "Requests awaiting an approval the caller may give", body = Vec<ApprovalItem>),
        (status = 401, body = ErrorBody)))]
pub async fn approvals(
    State(state): State<AppState>,
    Actor(user): Actor,
) -> Result<Response, ApiError> {
    Ok(json(state.ports.requests.approvals(&user).await?))
}

/// An approver's decision.
#[derive(Deserialize, ToSchema)]
pub struct Decision {
    /// Approve (`true`) or reject.
    approve: bool,
    /// Why (required to reject; at most 1000 characters).
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/approvals/{id}`.
#[utoipa::path(post, path = "/api/v1/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, description = "Request id")), request_body = Decision,
    responses((status = 204, description = "Recorded"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn approvals_decide(
    State(state): State<AppState>,
    Actor(user): Actor,
    Path(id): Path<String>,
    Body(decision): Body<Decision>,
) -> Result<Response, ApiError> {
    state
        .ports
        .requests
        .decide(&user, &id, decision.approve, &decision.comment)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Dashboard scope.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsParams {
    /// Period in days: 7, 30, 90 or 365.
    days: Option<u32>,
    /// Only this team.
    team: Option<String>,
    /// Only this offering.
    offering: Option<String>,
    /// At most this many rows per long table, those that weigh most (`cut` names the tables
    /// cut and their full length); every row when absent.
    rows: Option<u32>,
}

/// A dashboard table's scope; its CSV has every row.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Period in days: 7, 30, 90 or 365.
    days: Option<u32>,
    /// Only this team.
    team: Option<String>,
    /// Only this offering.
    offering: Option<String>,
}

impl From<ExportParams> for MetricsQuery {
    fn from(p: ExportParams) -> Self {
        MetricsQuery {
            days: p.days,
            team: p.team,
            offering: p.offering,
            rows: None,
        }
    }
}

impl From<MetricsParams> for MetricsQuery {
    fn from(p: MetricsParams) -> Self {
        MetricsQuery {
            days: p.days,
            team: p.team,
            offering: p.offering,
            rows: p.rows,
        }
    }
}

/// `GET /api/v1/metrics`.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "metrics", params(MetricsParams),
    responses((status = 200, description = "The dashboard (ETag)", body = Dashboard),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    Actor(user): Actor,
    Params(params): Params<MetricsParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Ok(etagged(
        &headers,
        &state.ports.metrics.dashboard(&user, &params.into()).await?,
    ))
}

/// `GET /api/v1/metrics/export/{table}`.
#[utoipa::path(get, path = "/api/v1/metrics/export/{table}", tag = "metrics",
    params(("table" = String, Path, description = "weeks, offerings, teams, environments, stages, failures, dora, feedback, promotions or refusals"),
        ExportParams),
    responses((status = 200, description = "The table as CSV", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn metrics_export(
    state: State<AppState>,
    user: Option<axum::Extension<CurrentUser>>,
    table: Path<String>,
    Params(params): Params<ExportParams>,
) -> Result<Response, ApiError> {
    super::exports::metrics_csv(state, user, table, Query(params.into())).await
}

/// Audit filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Part of the actor's name.
    actor: Option<String>,
    /// Exact action (`request.create`, `login` …).
    action: Option<String>,
    /// `ok`, `denied` or `error`.
    outcome: Option<String>,
    /// The `next_before` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/v1/audit`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "A page of the audit log (administrators)", body = AuditPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    Actor(user): Actor,
    Params(params): Params<AuditParams>,
) -> Result<Response, ApiError> {
    let filter = AuditFilter {
        actor: params.actor,
        action: params.action,
        outcome: params.outcome,
        before: params.cursor,
    };
    Ok(json(state.ports.audit.list(&user, &filter).await?))
}

/// The document: every operation above, with the types they take and answer.
#[derive(OpenApi)]
#[openapi(
    info(title = "Slipway API", version = "1",
        description = "Self-service requests committed to Git, their live status, promotions, approvals and metrics. Authenticate with a personal API token: `Authorization: Bearer slp_…` (scope `read` for GET, `write` for anything else). Errors are `{\"code\", \"message\", \"fields\"}`."),
    paths(me, catalog_list, catalog_get, catalog_schema, preview, requests_list, requests_create,
        requests_get, requests_status, claim_get, claim_update, claim_delete, requests_across, promotion_plan,
        promotion_create, claims, status_events, approvals, approvals_decide, metrics,
        metrics_export, audit, openapi_json, reference),
    // The status stream's message, and the types below the recursive ones (a form's fields, a
    // resource tree), which are named rather than inlined.
    components(schemas(ErrorBody, app::status::StatusMessage, app::catalog::Field,
        app::catalog::FieldKind, app::catalog::UiHints, app::catalog::Rule,
        app::structure::Structure, app::structure::ListType, app::status::ResourceNode,
        app::status::Condition, app::domain::Health, app::domain::HealthState)),
    modifiers(&BearerAuth),
    tags((name = "catalog"), (name = "requests"), (name = "status"), (name = "promotions"),
        (name = "approvals"), (name = "metrics"), (name = "audit"), (name = "session"),
        (name = "reference"))
)]
pub struct ApiDoc;

/// Declares the token scheme and asks for it on every operation.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A personal API token (Tokens page, or `slipway login`)",
                    ))
                    .build(),
            ),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "token",
            Vec::<String>::new(),
        )]);
    }
}

/// The OpenAPI document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::LazyLock<utoipa::openapi::OpenApi> =
        std::sync::LazyLock::new(ApiDoc::openapi);
    &DOCUMENT
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "reference", security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = serde_json::Value)))]
pub async fn openapi_json() -> Response {
    json(document())
}

/// `GET /api/v1/docs`.
#[utoipa::path(get, path = "/api/v1/docs", tag = "reference", security(()),
    responses((status = 200, description = "The reference, as a page", content_type = "text/html", body = String)))]
pub async fn reference() -> Response {
    Html(super::reference::page(document())).into_response()
}

/// Every route of the API: (path, method, handler). The router is built from this list, and
/// a test holds it equal to the document's operations.
pub fn routes() -> Vec<(&'static str, Method, MethodRouter<AppState>)> {
    vec![
        ("/api/v1/me", Method::GET, get(me)),
        ("/api/v1/catalog", Method::GET, get(catalog_list)),
        ("/api/v1/catalog/{id}", Method::GET, get(catalog_get)),
        (
            "/api/v1/catalog/{id}/schema",
            Method::GET,
            get(catalog_schema),
        ),
        ("/api/v1/preview", Method::POST, post(preview)),
        ("/api/v1/requests", Method::GET, get(requests_list)),
        ("/api/v1/requests", Method::POST, post(requests_create)),
        ("/api/v1/requests/{id}", Method::GET, get(requests_get)),
        (
            "/api/v1/requests/{id}/status",
            Method::GET,
            get(requests_status),
        ),
        ("/api/v1/requests/{id}/claim", Method::GET, get(claim_get)),
        (
            "/api/v1/requests/{id}/claim",
            Method::PUT,
            put(claim_update),
        ),
        (
            "/api/v1/requests/{id}/claim",
            Method::DELETE,
            delete(claim_delete),
        ),
        (
            "/api/v1/requests/{id}/across",
            Method::GET,
            get(requests_across),
        ),
        (
            "/api/v1/requests/{id}/promotions/{target}",
            Method::GET,
            get(promotion_plan),
        ),
        (
            "/api/v1/requests/{id}/promotions/{target}",
            Method::POST,
            post(promotion_create),
        ),
        ("/api/v1/claims", Method::GET, get(claims)),
        ("/api/v1/status/events", Method::GET, get(status_events)),
        ("/api/v1/approvals", Method::GET, get(approvals)),
        (
            "/api/v1/approvals/{id}",
            Method::POST,
            post(approvals_decide),
        ),
        ("/api/v1/metrics", Method::GET, get(metrics)),
        (
            "/api/v1/metrics/export/{table}",
            Method::GET,
            get(metrics_export),
        ),
        ("/api/v1/audit", Method::GET, get(audit)),
        ("/api/v1/openapi.json", Method::GET, get(openapi_json)),
        ("/api/v1/docs", Method::GET, get(reference)),
    ]
}
