//! Ports: the traits server functions call. The server crate implements them (with the
//! database, Git, Kubernetes, OIDC); tests may implement them with anything. Every method
//! takes the actor explicitly, so authorization is decided in one place, the services, for
//! the UI, the REST API and the CLI alike.

use std::sync::Arc;

use async_trait::async_trait;

use crate::catalog::{
    CatalogFilter, CatalogPage, OfferingDetail, Preview, RequestDraft, SavedDraft,
};
use crate::domain::{
    ApiToken, AuditEntry, AuditFilter, AuditPage, CreatedApiToken, CurrentUser, LoginOptions,
    NewApiToken, SystemInfo, UserSummary,
};
use crate::error::AppError;
use crate::metrics::{Dashboard, MetricsQuery, NewFeedback};
use crate::promotions::{ClaimAcross, PromotionPlan};
use crate::requests::{
    Action, ApprovalItem, ChangeSource, GitJob, RequestDetail, RequestFilter, RequestPage,
    Submitted,
};
use crate::status::{ClaimRow, ClusterView, RequestStatus};

/// Facts about the running portal.
#[async_trait]
pub trait SystemPort: Send + Sync + 'static {
    /// Version, backend and mode; administrators only.
    async fn system_info(&self, actor: &CurrentUser) -> Result<SystemInfo, AppError>;
    /// Whether the development login is on (shown as a banner on every page).
    fn dev_login_enabled(&self) -> bool;
    /// What the login page offers.
    async fn login_options(&self) -> Result<LoginOptions, AppError>;
}

/// The audit log.
#[async_trait]
pub trait AuditPort: Send + Sync + 'static {
    /// A page of entries matching `filter`, newest first; administrators only.
    async fn list(&self, actor: &CurrentUser, filter: &AuditFilter) -> Result<AuditPage, AppError>;
    /// Every entry matching `filter` (up to a bound), newest first, for export; administrators
    /// only. The export is itself audited.
    async fn export(
        &self,
        actor: &CurrentUser,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, AppError>;
}

/// Personal API tokens. Each user manages their own.
#[async_trait]
pub trait TokenPort: Send + Sync + 'static {
    /// The actor's tokens, newest first.
    async fn list(&self, actor: &CurrentUser) -> Result<Vec<ApiToken>, AppError>;
    /// Creates a token for the actor; the secret is in the result and nowhere else.
    async fn create(
        &self,
        actor: &CurrentUser,
        new: NewApiToken,
    ) -> Result<CreatedApiToken, AppError>;
    /// Revokes one of the actor's tokens (administrators: anyone's).
    async fn revoke(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError>;
}

/// Users as administrators manage them. Who someone is and which teams they are in comes
/// from the identity provider at each sign-in; what the portal decides is whether they may
/// sign in at all.
#[async_trait]
pub trait UserPort: Send + Sync + 'static {
    /// Every user, most recently signed in first (administrators only).
    async fn list(&self, actor: &CurrentUser) -> Result<Vec<UserSummary>, AppError>;
    /// Deactivates user `id` (administrators only, never themselves; audited): their sessions
    /// end and their tokens are revoked at once, and sign-in is refused from then on.
    async fn deactivate(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError>;
    /// Lets a deactivated user sign in again (administrators only; audited). Tokens revoked by
    /// the deactivation stay revoked.
    async fn reactivate(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError>;
}

/// The catalog, drafts and previews. Offerings restricted to teams are visible only to
/// members of those teams (and administrators).
#[async_trait]
pub trait CatalogPort: Send + Sync + 'static {
    /// A page of the offerings the actor may see.
    async fn list(
        &self,
        actor: &CurrentUser,
        filter: &CatalogFilter,
    ) -> Result<CatalogPage, AppError>;
    /// One offering with its form.
    async fn get(&self, actor: &CurrentUser, id: &str) -> Result<OfferingDetail, AppError>;
    /// The JSON Schema of one offering's values (the Kubernetes structural dialect, with the
    /// `x-ui-*` and `x-slipway-*` hints the form reads).
    async fn schema(&self, actor: &CurrentUser, id: &str) -> Result<serde_json::Value, AppError>;
    /// Validates a draft with the offering's schema and rules ([`AppError::Validation`] with
    /// every problem), renders it and compares it with the repository.
    async fn preview(&self, actor: &CurrentUser, draft: &RequestDraft)
    -> Result<Preview, AppError>;
    /// Saves the actor's draft for the draft's offering (replacing an earlier one).
    async fn save_draft(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<SavedDraft, AppError>;
    /// The actor's saved draft for an offering.
    async fn load_draft(
        &self,
        actor: &CurrentUser,
        offering: &str,
    ) -> Result<Option<SavedDraft>, AppError>;
    /// Discards the actor's draft for an offering.
    async fn discard_draft(&self, actor: &CurrentUser, offering: &str) -> Result<(), AppError>;
}

/// Requests: submission (validated, rendered, queued for the Git writer in one transaction)
/// and their ledger. Members see and submit for their own teams; administrators for all.
#[async_trait]
pub trait RequestPort: Send + Sync + 'static {
    /// Validates and renders `draft` like a preview, then stores the request, its
    /// `submitted` event and its Git job at once. The Git writer does the rest.
    async fn submit(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<Submitted, AppError>;
    /// [`RequestPort::submit`] under an idempotency key of the actor: the same key and draft
    /// again answer the request the first made; the key with another draft is refused, and a
    /// submission with the key still under way is a [`AppError::Conflict`].
    async fn submit_once(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
        key: &str,
    ) -> Result<Submitted, AppError>;
    /// One request with its timeline.
    async fn get(&self, actor: &CurrentUser, id: &str) -> Result<RequestDetail, AppError>;
    /// The form an edit of request `of`'s claim starts from, pre-filled from the file in Git.
    async fn change_source(&self, actor: &CurrentUser, of: &str) -> Result<ChangeSource, AppError>;
    /// Day-2: a new request updating (with `draft`) or deleting the claim of request `of`.
    async fn submit_change(
        &self,
        actor: &CurrentUser,
        of: &str,
        action: Action,
        draft: Option<&RequestDraft>,
    ) -> Result<Submitted, AppError>;
    /// A page of the requests of the actor's teams, newest first.
    async fn list(
        &self,
        actor: &CurrentUser,
        filter: &RequestFilter,
    ) -> Result<RequestPage, AppError>;
    /// Git jobs that failed or keep failing, newest first (administrators only).
    async fn git_jobs(&self, actor: &CurrentUser) -> Result<Vec<GitJob>, AppError>;
    /// Sends a failed Git job back to its writer (administrators only; audited).
    async fn retry_git_job(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError>;
    /// Gives up on a pending Git job, failing its request with `reason` (administrators
    /// only; audited).
    async fn abandon_git_job(
        &self,
        actor: &CurrentUser,
        id: &str,
        reason: &str,
    ) -> Result<(), AppError>;
    /// The requests awaiting an approval the actor may give, oldest first.
    async fn approvals(&self, actor: &CurrentUser) -> Result<Vec<ApprovalItem>, AppError>;
    /// Approves or rejects request `id` with `comment` (never one's own; audited). The last
    /// approval needed sends it to the Git writer; a rejection ends it.
    async fn decide(
        &self,
        actor: &CurrentUser,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), AppError>;
}

/// Live status from the control plane. Members see their teams' claims; administrators all.
#[async_trait]
pub trait StatusPort: Send + Sync + 'static {
    /// A request's live status and resource tree.
    async fn request_status(
        &self,
        actor: &CurrentUser,
        id: &str,
    ) -> Result<RequestStatus, AppError>;
    /// The claims of the actor's teams (every team's for administrators), with live status.
    async fn claims(&self, actor: &CurrentUser) -> Result<Vec<ClaimRow>, AppError>;
    /// Every cluster: reachability, kinds watched, object counts, last event, lag.
    async fn clusters(&self, actor: &CurrentUser) -> Result<Vec<ClusterView>, AppError>;
}

/// Promotions: a claim carried to the next environment of its path, gated by its source.
/// Members promote their own teams' claims; administrators any.
#[async_trait]
pub trait PromotionPort: Send + Sync + 'static {
    /// What promoting the claim of request `of` to `target` would write, and every gate's
    /// verdict on its source now.
    async fn plan(
        &self,
        actor: &CurrentUser,
        of: &str,
        target: &str,
    ) -> Result<PromotionPlan, AppError>;
    /// Promotes the claim of request `of` to `target`: an ordinary request there (create or
    /// update) naming its source, after the gates pass; a refused gate is
    /// [`AppError::Invalid`] naming it and what the source shows, and is counted. With the
    /// `token` of the plan shown, refused when the plan would now be another.
    async fn promote(
        &self,
        actor: &CurrentUser,
        of: &str,
        target: &str,
        token: Option<&str>,
    ) -> Result<Submitted, AppError>;
    /// The claim of request `of` in every environment, and the request's promotion chain.
    async fn across(&self, actor: &CurrentUser, of: &str) -> Result<ClaimAcross, AppError>;
}

/// Adoption metrics from the ledger, and feedback. Members see their teams' figures;
/// administrators everyone's.
#[async_trait]
pub trait MetricsPort: Send + Sync + 'static {
    /// The dashboard of `query`'s period, team and offering, within the actor's teams.
    async fn dashboard(
        &self,
        actor: &CurrentUser,
        query: &MetricsQuery,
    ) -> Result<Dashboard, AppError>;
    /// The requester rates the offering of one of their requests that has been Ready.
    async fn rate(&self, actor: &CurrentUser, feedback: &NewFeedback) -> Result<(), AppError>;
}

/// Everything server functions may call, handed to Leptos as context.
#[derive(Clone)]
pub struct Ports {
    /// See [`SystemPort`].
    pub system: Arc<dyn SystemPort>,
    /// See [`AuditPort`].
    pub audit: Arc<dyn AuditPort>,
    /// See [`TokenPort`].
    pub tokens: Arc<dyn TokenPort>,
    /// See [`UserPort`].
    pub users: Arc<dyn UserPort>,
    /// See [`CatalogPort`].
    pub catalog: Arc<dyn CatalogPort>,
    /// See [`RequestPort`].
    pub requests: Arc<dyn RequestPort>,
    /// See [`StatusPort`].
    pub status: Arc<dyn StatusPort>,
    /// See [`MetricsPort`].
    pub metrics: Arc<dyn MetricsPort>,
    /// See [`PromotionPort`].
    pub promotions: Arc<dyn PromotionPort>,
}

/// The signed-in user of the request being served, if any.
///
/// The server's session middleware puts a [`CurrentUser`] into the request's extensions;
/// leptos_axum hands those request parts to both page rendering and server functions.
pub fn current_user() -> Option<CurrentUser> {
    leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned())
}

/// The signed-in user, or [`AppError::Unauthenticated`].
pub fn require_user() -> Result<CurrentUser, AppError> {
    current_user().ok_or(AppError::Unauthenticated)
}

/// The ports provided by the server, or an internal error naming the wiring fault.
pub fn ports() -> Result<Ports, AppError> {
    leptos::prelude::use_context::<Ports>()
        .ok_or_else(|| AppError::Internal("ports-missing-from-context".into()))
}

/// Runs one port call for the signed-in user: the ports and the user from context (an
/// anonymous caller gets [`AppError::Unauthenticated`]), the response's status from the
/// error. What every server function does.
pub async fn as_user<T, F, Fut>(call: F) -> Result<T, AppError>
where
    F: FnOnce(Ports, CurrentUser) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let result = match (ports(), require_user()) {
        (Ok(ports), Ok(user)) => call(ports, user).await,
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    respond(result)
}

/// Gives a server function's HTTP response the status its error stands for (server_fn
/// answers every error with 500 otherwise), then passes the result through.
pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(error) = &result
        && let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
    {
        response.set_status(error.status_code());
    }
    result
}
