//! The request service: submission and the ledger as pages see it.
//!
//! ```text
//!  submit ──▶ CatalogService::prepare (same validation and rendering as the preview)
//!         ──▶ early "already exists" check against the last fetched branch (advisory:
//!             the writer decides, on the branch it pushes to)
//!         ──▶ db::requests::submit (request + `submitted` + git job + audit, one transaction)
//!         ──▶ wake the Git writer
//! ```
//! Members see and submit for their own teams; administrators for all. A request of
//! another team is "not found", not "forbidden": its existence is not disclosed.

use std::sync::Arc;

use app::catalog::{FieldError, NAME_PATH, RequestDraft};
use app::domain::CurrentUser;
use app::error::AppError;
use app::ports::RequestPort;
use app::requests::{
    Action, GitProgress, RequestDetail, RequestEvent, RequestFilter, RequestPage, RequestSummary,
    Stage, Submitted,
};
use async_trait::async_trait;
use tokio::sync::Notify;

use crate::db::requests::{self as store, ListQuery, NewRequest, RequestRow};
use crate::db::{self, Db};
use crate::services::audit::rfc3339;
use crate::services::catalog::CatalogService;

/// Requests per page.
const PAGE_SIZE: i64 = 50;

/// Implements [`RequestPort`].
pub struct RequestService {
    db: Db,
    catalog: Arc<CatalogService>,
    repository: String,
    commit_url: Option<String>,
    writer: Arc<Notify>,
    pull_request_environments: Vec<String>,
}

impl RequestService {
    /// A service committing to `repository` (a writer key) through the writer woken by
    /// `writer`; commits are linked with `commit_url` (`{sha}` replaced) when set; requests
    /// for `pull_request_environments` go through pull requests.
    pub fn new(
        db: Db,
        catalog: Arc<CatalogService>,
        repository: String,
        commit_url: Option<String>,
        writer: Arc<Notify>,
        pull_request_environments: Vec<String>,
    ) -> Self {
        RequestService {
            db,
            catalog,
            repository,
            commit_url,
            writer,
            pull_request_environments,
        }
    }

    fn may_see(actor: &CurrentUser, row: &RequestRow) -> bool {
        actor.is_admin || actor.teams.contains(&row.team)
    }

    fn link(&self, sha: Option<&str>) -> Option<String> {
        Some(self.commit_url.as_ref()?.replace("{sha}", sha?))
    }
}

fn internal(error: &dyn std::fmt::Display) -> AppError {
    let reference = uuid::Uuid::now_v7().simple().to_string();
    tracing::error!(%error, reference, "request service failure");
    AppError::Internal(reference)
}

fn summary(row: &RequestRow) -> RequestSummary {
    RequestSummary {
        id: row.id.clone(),
        action: Action::parse(&row.action).unwrap_or(Action::Create),
        offering: format!("{}@{}", row.offering, row.offering_version),
        kind: row.kind.clone(),
        name: row.name.clone(),
        team: row.team.clone(),
        environment: row.environment.clone(),
        requested_by: row.requester_name.clone(),
        stage: Stage::parse(&row.state),
        created_at: rfc3339(row.created_at),
    }
}

fn blank_is_none(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[async_trait]
impl RequestPort for RequestService {
    async fn submit(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<Submitted, AppError> {
        let id = db::new_id();
        let (offering, rendered) = self.catalog.prepare(actor, draft, &id)?;
        let exists = |detail: String| {
            AppError::Validation(vec![FieldError {
                path: NAME_PATH.into(),
                message: format!(
                    "A {} named {:?} already exists for {} in {} ({detail}).",
                    offering.summary.kind, draft.name, draft.team, draft.environment
                ),
            }])
        };
        if let Some(other) = store::pending_for_path(&self.db, &self.repository, &rendered.path)
            .await
            .map_err(|e| internal(&e))?
        {
            return Err(exists(format!("request {other} is on its way to Git")));
        }
        // Best effort: with the remote down the request is still taken, and the writer
        // refuses to overwrite a file a create finds in place.
        if self.catalog.fetch_throttled().await.is_ok()
            && self.catalog.current_file(&rendered.path).await?.1.is_some()
        {
            return Err(exists(format!("{} is in the repository", rendered.path)));
        }
        let body = serde_json::to_string(draft).map_err(|e| internal(&e))?;
        let summary = &offering.summary;
        store::submit(
            &self.db,
            &NewRequest {
                id: &id,
                action: Action::Create.as_str(),
                offering: &summary.id,
                offering_version: &summary.version,
                api_version: &summary.api_version,
                kind: &summary.kind,
                name: &draft.name,
                team: &draft.team,
                environment: &draft.environment,
                requested_by: (&actor.id, &actor.name, &actor.email),
                body: &body,
                repository: &self.repository,
                path: &rendered.path,
                content: &rendered.content,
                write_mode: if self.pull_request_environments.contains(&draft.environment) {
                    "pull-request"
                } else {
                    "direct"
                },
            },
            actor,
        )
        .await
        .map_err(|e| internal(&e))?;
        self.writer.notify_one();
        // The form did its job; a later visit starts fresh.
        if let Err(error) = db::drafts::delete(&self.db, &actor.id, &draft.offering).await {
            tracing::warn!(%error, "the draft of a submitted form was not discarded");
        }
        Ok(Submitted { id })
    }

    async fn get(&self, actor: &CurrentUser, id: &str) -> Result<RequestDetail, AppError> {
        let not_found = || AppError::NotFound(format!("The request {id:?}"));
        let row = store::get(&self.db, id)
            .await
            .map_err(|e| internal(&e))?
            .filter(|row| Self::may_see(actor, row))
            .ok_or_else(not_found)?;
        let events = store::events(&self.db, id)
            .await
            .map_err(|e| internal(&e))?
            .into_iter()
            .map(|e| RequestEvent {
                url: e.url.clone().or_else(|| self.link(e.sha.as_deref())),
                kind: e.kind,
                at: rfc3339(e.at),
                actor: e.actor_name.unwrap_or_else(|| "Slipway".into()),
                sha: e.sha,
                message: e.message,
            })
            .collect();
        let git = match store::job(&self.db, id).await.map_err(|e| internal(&e))? {
            Some((status, attempts, next, last_error)) if status == "pending" => {
                Some(GitProgress {
                    attempts,
                    last_error,
                    next_attempt_at: rfc3339(next),
                })
            }
            _ => None,
        };
        Ok(RequestDetail {
            summary: summary(&row),
            path: row.path.clone(),
            content: row.content.clone(),
            commit: row.commit_sha.clone(),
            pull_request: row.pr_url.clone(),
            events,
            git,
        })
    }

    async fn list(
        &self,
        actor: &CurrentUser,
        filter: &RequestFilter,
    ) -> Result<RequestPage, AppError> {
        let only_team;
        let teams: Option<&[String]> = match blank_is_none(&filter.team) {
            Some(team) if actor.is_admin || actor.teams.iter().any(|t| t == team) => {
                only_team = [team.to_owned()];
                Some(&only_team)
            }
            // Another team's list is empty, not an error: nothing about it is disclosed.
            Some(_) => Some(&[]),
            None if actor.is_admin => None,
            None => Some(&actor.teams),
        };
        let rows = store::list(
            &self.db,
            &ListQuery {
                teams,
                state: blank_is_none(&filter.stage),
                environment: blank_is_none(&filter.environment),
                q: blank_is_none(&filter.q),
                before: blank_is_none(&filter.before),
            },
            PAGE_SIZE + 1,
        )
        .await
        .map_err(|e| internal(&e))?;
        let more = rows.len() > usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
        let requests: Vec<RequestSummary> = rows
            .iter()
            .take(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX))
            .map(summary)
            .collect();
        let next = more
            .then(|| requests.last().map(|r| r.id.clone()))
            .flatten();
        Ok(RequestPage { requests, next })
    }
}
