//! Server functions: the UI's only way to the server. Each is thin — one port call for the
//! signed-in user through [`crate::ports::as_user`] (context in, error mapped to its HTTP
//! status) — and the ports decide who may do what.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::catalog::{
    CatalogFilter, CatalogPage, OfferingDetail, Preview, RequestDraft, SavedDraft,
};

use crate::domain::{
    ApiToken, AuditFilter, AuditPage, CreatedApiToken, LoginOptions, SessionInfo, SystemInfo,
    UserSummary,
};
use crate::error::AppError;
use crate::metrics::{Dashboard, MetricsQuery, NewFeedback};
use crate::promotions::{ClaimAcross, PromotionPlan};
use crate::requests::{
    Action, ApprovalItem, ChangeSource, GitJob, RequestDetail, RequestFilter, RequestPage,
    Submitted,
};
use crate::status::{ClaimRow, ClusterView, RequestStatus};

/// Who is signed in, and whether the development login is on.
#[server(endpoint = "session")]
pub async fn get_session_info() -> Result<SessionInfo, AppError> {
    use crate::ports::{current_user, ports, respond};
    respond(ports().map(|p| SessionInfo {
        user: current_user(),
        dev_login: p.system.dev_login_enabled(),
    }))
}

/// What the login page offers (SSO, development personas).
#[server(endpoint = "login-options")]
pub async fn get_login_options() -> Result<LoginOptions, AppError> {
    use crate::ports::{ports, respond};
    respond(async { ports()?.system.login_options().await }.await)
}

/// Version, database backend and mode of the running portal (administrators only).
#[server(endpoint = "system")]
pub async fn get_system_info() -> Result<SystemInfo, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.system.system_info(&user).await }).await
}

/// A page of the audit log (administrators only).
#[server(endpoint = "audit")]
pub async fn get_audit_page(
    // All-empty filters encode to nothing in a form body; `default` reads that back.
    #[server(default)] filter: AuditFilter,
) -> Result<AuditPage, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.audit.list(&user, &filter).await }).await
}

/// The signed-in user's API tokens.
#[server(endpoint = "tokens")]
pub async fn list_api_tokens() -> Result<Vec<ApiToken>, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.tokens.list(&user).await }).await
}

/// Creates an API token; `scopes` is space-separated (`read`, `read write`).
#[server(endpoint = "tokens/create")]
pub async fn create_api_token(
    name: String,
    scopes: String,
    expires_in_days: u32,
) -> Result<CreatedApiToken, AppError> {
    use crate::domain::NewApiToken;
    use crate::ports::as_user;
    as_user(|p, user| async move {
        let new = NewApiToken::parse(&name, &scopes, expires_in_days).map_err(AppError::Invalid)?;
        p.tokens.create(&user, new).await
    })
    .await
}

/// Revokes an API token.
#[server(endpoint = "tokens/revoke")]
pub async fn revoke_api_token(id: String) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.tokens.revoke(&user, &id).await }).await
}

/// Every user (administrators only).
#[server(endpoint = "admin/users")]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.users.list(&user).await }).await
}

/// Deactivates a user: sessions ended, tokens revoked (administrators only).
#[server(endpoint = "admin/users/deactivate")]
pub async fn deactivate_user(id: String) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.users.deactivate(&user, &id).await }).await
}

/// Lets a deactivated user sign in again (administrators only).
#[server(endpoint = "admin/users/reactivate")]
pub async fn reactivate_user(id: String) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.users.reactivate(&user, &id).await }).await
}

/// A page of the catalog.
#[server(endpoint = "catalog")]
pub async fn list_offerings(
    #[server(default)] filter: CatalogFilter,
) -> Result<CatalogPage, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.catalog.list(&user, &filter).await }).await
}

/// One offering with its form.
#[server(endpoint = "catalog/offering")]
pub async fn get_offering(id: String) -> Result<OfferingDetail, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.catalog.get(&user, &id).await }).await
}

/// Validates a request form on the server and shows what it would commit.
#[server(endpoint = "catalog/preview", input = Json)]
pub async fn preview_request(draft: RequestDraft) -> Result<Preview, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.catalog.preview(&user, &draft).await }).await
}

/// Saves the signed-in user's draft of a request form.
#[server(endpoint = "drafts/save", input = Json)]
pub async fn save_draft(draft: RequestDraft) -> Result<SavedDraft, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.catalog.save_draft(&user, &draft).await }).await
}

/// The signed-in user's saved draft for an offering, if any.
#[server(endpoint = "drafts/load")]
pub async fn load_draft(offering: String) -> Result<Option<SavedDraft>, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.catalog.load_draft(&user, &offering).await }).await
}

/// Discards the signed-in user's draft for an offering.
#[server(endpoint = "drafts/discard")]
pub async fn discard_draft(offering: String) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.catalog.discard_draft(&user, &offering).await }).await
}

/// Submits a request form: validated and rendered on the server, then queued for Git.
#[server(endpoint = "requests/submit", input = Json)]
pub async fn submit_request(draft: RequestDraft) -> Result<Submitted, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.submit(&user, &draft).await }).await
}

/// One request with its timeline.
#[server(endpoint = "requests/get")]
pub async fn get_request(id: String) -> Result<RequestDetail, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.get(&user, &id).await }).await
}

/// A page of the signed-in user's teams' requests.
#[server(endpoint = "requests")]
pub async fn list_requests(
    #[server(default)] filter: RequestFilter,
) -> Result<RequestPage, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.list(&user, &filter).await }).await
}

/// The pre-filled form for editing the claim of request `of`.
#[server(endpoint = "requests/change-source")]
pub async fn get_change_source(of: String) -> Result<ChangeSource, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.change_source(&user, &of).await }).await
}

/// Submits an update (with the edited form) or a deletion of the claim of request `of`.
#[server(endpoint = "requests/change", input = Json)]
pub async fn submit_change(
    of: String,
    action: Action,
    draft: Option<RequestDraft>,
) -> Result<Submitted, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move {
        p.requests
            .submit_change(&user, &of, action, draft.as_ref())
            .await
    })
    .await
}

/// What promoting the claim of request `of` to `target` would write, and its gates now.
#[server(endpoint = "promotions/plan")]
pub async fn get_promotion_plan(of: String, target: String) -> Result<PromotionPlan, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.promotions.plan(&user, &of, &target).await }).await
}

/// Promotes the claim of request `of` to `target` (gates checked again on the server); with
/// the `token` of the plan shown, only if the plan is still that one.
#[server(endpoint = "promotions/promote")]
pub async fn promote(
    of: String,
    target: String,
    #[server(default)] token: Option<String>,
) -> Result<Submitted, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move {
        p.promotions
            .promote(&user, &of, &target, token.as_deref())
            .await
    })
    .await
}

/// The claim of request `of` in every environment, and the request's promotion chain.
#[server(endpoint = "promotions/across")]
pub async fn get_claim_across(of: String) -> Result<ClaimAcross, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.promotions.across(&user, &of).await }).await
}

/// A request's live status and resource tree.
#[server(endpoint = "status/request")]
pub async fn get_request_status(id: String) -> Result<RequestStatus, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.status.request_status(&user, &id).await }).await
}

/// The signed-in user's teams' claims with their live status.
#[server(endpoint = "status/claims")]
pub async fn list_claims() -> Result<Vec<ClaimRow>, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.status.claims(&user).await }).await
}

/// The clusters as the watchers see them.
#[server(endpoint = "status/clusters")]
pub async fn list_clusters() -> Result<Vec<ClusterView>, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.status.clusters(&user).await }).await
}

/// The metrics dashboard of a period, team and offering (within the user's teams).
#[server(endpoint = "metrics/dashboard")]
pub async fn get_dashboard(#[server(default)] query: MetricsQuery) -> Result<Dashboard, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.metrics.dashboard(&user, &query).await }).await
}

/// Rates the offering of one of the user's requests that has been Ready.
#[server(endpoint = "metrics/feedback")]
pub async fn rate_offering(feedback: NewFeedback) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.metrics.rate(&user, &feedback).await }).await
}

/// Git jobs that failed or keep failing (administrators only).
#[server(endpoint = "admin/git-jobs")]
pub async fn list_git_jobs() -> Result<Vec<GitJob>, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.git_jobs(&user).await }).await
}

/// Sends a failed Git job back to its writer (administrators only).
#[server(endpoint = "admin/git-jobs/retry")]
pub async fn retry_git_job(id: String) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.retry_git_job(&user, &id).await }).await
}

/// Gives up on a pending Git job (administrators only).
#[server(endpoint = "admin/git-jobs/abandon")]
pub async fn abandon_git_job(id: String, reason: String) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.abandon_git_job(&user, &id, &reason).await }).await
}

/// The requests awaiting an approval the signed-in user may give.
#[server(endpoint = "approvals")]
pub async fn list_approvals() -> Result<Vec<ApprovalItem>, AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.approvals(&user).await }).await
}

/// Approves (or rejects) a request awaiting approval, with a comment.
#[server(endpoint = "approvals/decide")]
pub async fn decide_approval(id: String, approve: bool, comment: String) -> Result<(), AppError> {
    use crate::ports::as_user;
    as_user(|p, user| async move { p.requests.decide(&user, &id, approve, &comment).await }).await
}
