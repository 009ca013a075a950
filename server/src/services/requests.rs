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

use std::collections::HashMap;
use std::sync::Arc;

use app::catalog::{FieldError, NAME_PATH, RequestDraft};
use app::domain::CurrentUser;
use app::error::AppError;
use app::ports::RequestPort;
use app::requests::{
    Action, ChangeSource, GitProgress, RequestDetail, RequestEvent, RequestFilter, RequestPage,
    RequestSummary, Stage, Submitted,
};
use async_trait::async_trait;
use serde_json::Value;
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
    commit_url: Option<String>,
    routes: HashMap<String, WriteRoute>,
    default: WriteRoute,
}

/// Where an environment's requests are queued.
#[derive(Clone, Debug)]
pub struct WriteRoute {
    /// The writer's repository key.
    pub repository: String,
    /// Wakes that writer.
    pub waker: Arc<Notify>,
    /// Through pull requests.
    pub pull_request: bool,
}

impl RequestService {
    /// A service queueing each environment's requests for its writer (`routes`; others:
    /// `default`); commits are linked with `commit_url` (`{sha}` replaced) when set.
    pub fn new(
        db: Db,
        catalog: Arc<CatalogService>,
        commit_url: Option<String>,
        routes: HashMap<String, WriteRoute>,
        default: WriteRoute,
    ) -> Self {
        RequestService {
            db,
            catalog,
            commit_url,
            routes,
            default,
        }
    }

    fn route(&self, environment: &str) -> &WriteRoute {
        self.routes.get(environment).unwrap_or(&self.default)
    }

    fn may_see(actor: &CurrentUser, row: &RequestRow) -> bool {
        actor.is_admin || actor.teams.contains(&row.team)
    }

    fn link(&self, sha: Option<&str>) -> Option<String> {
        Some(self.commit_url.as_ref()?.replace("{sha}", sha?))
    }
}

impl RequestService {
    /// Stores a request with its event, job and audit entry, and wakes the writer.
    #[expect(
        clippy::too_many_arguments,
        reason = "one request's parts, all required"
    )]
    async fn store(
        &self,
        actor: &CurrentUser,
        id: &str,
        action: Action,
        offering: &crate::catalog::Offering,
        draft: &RequestDraft,
        path: &str,
        content: &str,
    ) -> Result<(), AppError> {
        let body = serde_json::to_string(draft).map_err(|e| internal(&e))?;
        let summary = &offering.summary;
        let route = self.route(&draft.environment);
        store::submit(
            &self.db,
            &NewRequest {
                id,
                action: action.as_str(),
                offering: &summary.id,
                offering_version: &summary.version,
                api_version: &summary.api_version,
                kind: &summary.kind,
                name: &draft.name,
                team: &draft.team,
                environment: &draft.environment,
                requested_by: (&actor.id, &actor.name, &actor.email),
                body: &body,
                repository: &route.repository,
                path,
                content,
                write_mode: if route.pull_request {
                    "pull-request"
                } else {
                    "direct"
                },
            },
            actor,
        )
        .await
        .map_err(|e| internal(&e))?;
        route.waker.notify_one();
        Ok(())
    }

    /// The request `id` if the actor may see it.
    async fn visible(&self, actor: &CurrentUser, id: &str) -> Result<RequestRow, AppError> {
        store::get(&self.db, id)
            .await
            .map_err(|e| internal(&e))?
            .filter(|row| Self::may_see(actor, row))
            .ok_or_else(|| AppError::NotFound(format!("The request {id:?}")))
    }

    /// The claim's file as the branch holds it now (the last fetch, when the remote is down).
    async fn current_manifests(&self, row: &RequestRow) -> Result<Vec<Value>, AppError> {
        if let Err(error) = self.catalog.fetch_now(&row.environment).await {
            tracing::warn!(%error, "editing from the last fetched state of the repository");
        }
        let (_, current) = self
            .catalog
            .current_file(&row.environment, &row.path)
            .await?;
        let Some(text) = current else {
            return Err(AppError::Invalid(format!(
                "{} is no longer in the repository, so there is nothing to change.",
                row.path
            )));
        };
        serde_saphyr::from_multiple::<Value>(&text).map_err(|e| {
            AppError::Invalid(format!(
                "{} in the repository is not valid YAML: {e}",
                row.path
            ))
        })
    }

    async fn refuse_if_pending(&self, row: &RequestRow) -> Result<(), AppError> {
        if let Some(other) = store::pending_for_path(&self.db, &row.repository, &row.path)
            .await
            .map_err(|e| internal(&e))?
        {
            return Err(AppError::Invalid(format!(
                "A change to this claim (request {other}) is still on its way to Git; try again once it is committed."
            )));
        }
        Ok(())
    }
}

/// Keys of the claim's `spec` the offering's form knows (claim offerings only).
fn known_keys(offering: &crate::catalog::Offering) -> Option<Vec<String>> {
    matches!(offering.output, crate::catalog::offering::Output::Claim)
        .then(|| offering.form.fields.iter().map(|f| f.key.clone()).collect())
}

/// Carries over from `old` what the form does not manage: labels and annotations the new
/// manifest lacks, and (claim offerings) `spec` keys the form does not know.
fn preserve(new: &mut Value, old: &Value, known: Option<&[String]>) -> Vec<String> {
    let mut kept = Vec::new();
    for part in ["labels", "annotations"] {
        if let Some(Value::Object(old_map)) = old.pointer(&format!("/metadata/{part}")) {
            for (key, value) in old_map {
                if key.starts_with("slipway.dev/") {
                    continue;
                }
                let Some(metadata) = new.get_mut("metadata").and_then(Value::as_object_mut) else {
                    continue;
                };
                let map = metadata
                    .entry(part)
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(map) = map.as_object_mut()
                    && !map.contains_key(key)
                {
                    map.insert(key.clone(), value.clone());
                    kept.push(format!("metadata.{part}.{key}"));
                }
            }
        }
    }
    if let (Some(known), Some(Value::Object(old_spec))) = (known, old.get("spec")) {
        for (key, value) in old_spec {
            if known.iter().any(|k| k == key) {
                continue;
            }
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert(key.clone(), value.clone());
                kept.push(format!("spec.{key}"));
            }
        }
    }
    kept
}

/// A manifest without the annotations that change with every request.
fn without_stamp(manifest: &Value) -> Value {
    let mut copy = manifest.clone();
    if let Some(annotations) = copy
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.retain(|k, _| {
            !matches!(
                k.as_str(),
                "slipway.dev/request-id" | "slipway.dev/requested-by" | "slipway.dev/offering"
            )
        });
    }
    copy
}

fn internal(error: &dyn std::fmt::Display) -> AppError {
    crate::error::internal("request service failure", error)
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
        let repository = &self.route(&draft.environment).repository;
        if let Some(other) = store::pending_for_path(&self.db, repository, &rendered.path)
            .await
            .map_err(|e| internal(&e))?
        {
            return Err(exists(format!("request {other} is on its way to Git")));
        }
        // Best effort: with the remote down the request is still taken, and the writer
        // refuses to overwrite a file a create finds in place.
        if self
            .catalog
            .fetch_throttled(&draft.environment)
            .await
            .is_ok()
            && self
                .catalog
                .current_file(&draft.environment, &rendered.path)
                .await?
                .1
                .is_some()
        {
            return Err(exists(format!("{} is in the repository", rendered.path)));
        }
        self.store(
            actor,
            &id,
            Action::Create,
            &offering,
            draft,
            &rendered.path,
            &rendered.content,
        )
        .await?;
        // The form did its job; a later visit starts fresh.
        if let Err(error) = db::drafts::delete(&self.db, &actor.id, &draft.offering).await {
            tracing::warn!(%error, "the draft of a submitted form was not discarded");
        }
        Ok(Submitted { id })
    }

    async fn get(&self, actor: &CurrentUser, id: &str) -> Result<RequestDetail, AppError> {
        let row = self.visible(actor, id).await?;
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
        let can_rate = row.requested_by == actor.id
            && db::metrics::was_ready(&self.db, id)
                .await
                .map_err(|e| internal(&e))?;
        let feedback = db::metrics::feedback_of(&self.db, id)
            .await
            .map_err(|e| internal(&e))?
            .map(|(rating, comment)| app::metrics::GivenFeedback { rating, comment });
        Ok(RequestDetail {
            can_rate,
            feedback,
            summary: summary(&row),
            path: row.path.clone(),
            content: row.content.clone(),
            commit: row.commit_sha.clone(),
            pull_request: row.pr_url.clone(),
            events,
            git,
        })
    }

    async fn change_source(&self, actor: &CurrentUser, of: &str) -> Result<ChangeSource, AppError> {
        let row = self.visible(actor, of).await?;
        self.refuse_if_pending(&row).await?;
        let offering = self.catalog.find(actor, &row.offering)?;
        let manifests = self.current_manifests(&row).await?;
        let main = manifests.first().cloned().unwrap_or(Value::Null);
        let known = known_keys(&offering);
        let values = match &known {
            Some(known) => Value::Object(
                main.get("spec")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| known.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            // A template's output cannot be read back into values: the last request's
            // values are the form, and the file's own extras are kept at submission.
            None => {
                serde_json::from_str::<RequestDraft>(&row.body)
                    .map_err(|e| internal(&e))?
                    .values
            }
        };
        // What an edit would keep: the same rule submit_change applies, on the form's part.
        let preserved = preserve(
            &mut serde_json::json!({"metadata": {}, "spec": values.clone()}),
            &main,
            known.as_deref(),
        );
        Ok(ChangeSource {
            of: row.id.clone(),
            draft: RequestDraft {
                offering: row.offering.clone(),
                environment: row.environment.clone(),
                team: row.team.clone(),
                name: row.name.clone(),
                values,
            },
            path: row.path.clone(),
            preserved,
        })
    }

    async fn submit_change(
        &self,
        actor: &CurrentUser,
        of: &str,
        action: Action,
        draft: Option<&RequestDraft>,
    ) -> Result<Submitted, AppError> {
        let row = self.visible(actor, of).await?;
        self.refuse_if_pending(&row).await?;
        let offering = self.catalog.find(actor, &row.offering)?;
        let current = self.current_manifests(&row).await?;
        let id = db::new_id();
        let original: RequestDraft = serde_json::from_str(&row.body).map_err(|e| internal(&e))?;
        match action {
            Action::Create => Err(AppError::Invalid(
                "A new claim is requested from the catalog, not as a change.".into(),
            )),
            Action::Delete => {
                let same = RequestDraft {
                    offering: row.offering.clone(),
                    environment: row.environment.clone(),
                    team: row.team.clone(),
                    name: row.name.clone(),
                    values: original.values,
                };
                self.store(actor, &id, Action::Delete, &offering, &same, &row.path, "")
                    .await?;
                Ok(Submitted { id })
            }
            Action::Update => {
                let draft = draft
                    .ok_or_else(|| AppError::Invalid("An update needs the edited form.".into()))?;
                if (
                    &draft.offering,
                    &draft.environment,
                    &draft.team,
                    &draft.name,
                ) != (&row.offering, &row.environment, &row.team, &row.name)
                {
                    return Err(AppError::Invalid(
                        "An edit keeps the offering, environment, team and name; request a new claim to change them.".into(),
                    ));
                }
                let (_, mut rendered) = self.catalog.prepare(actor, draft, &id)?;
                if rendered.path != row.path {
                    return Err(AppError::Invalid(format!(
                        "The offering now places this claim at {} instead of {}; ask the platform team to move it.",
                        rendered.path, row.path
                    )));
                }
                if let (Some(new), Some(old)) = (rendered.manifests.first_mut(), current.first()) {
                    preserve(new, old, known_keys(&offering).as_deref());
                }
                let unchanged = rendered.manifests.len() == current.len()
                    && rendered
                        .manifests
                        .iter()
                        .zip(&current)
                        .all(|(a, b)| without_stamp(a) == without_stamp(b));
                if unchanged {
                    return Err(AppError::Invalid(
                        "Nothing to change: these are the values the repository already holds."
                            .into(),
                    ));
                }
                let content = crate::catalog::render::to_yaml(&rendered.manifests)
                    .map_err(|e| AppError::Invalid(e.to_string()))?;
                self.store(
                    actor,
                    &id,
                    Action::Update,
                    &offering,
                    draft,
                    &row.path,
                    &content,
                )
                .await?;
                Ok(Submitted { id })
            }
        }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{preserve, without_stamp};

    #[test]
    fn an_edit_keeps_spec_keys_the_form_does_not_know_and_foreign_metadata() {
        let old = json!({
            "metadata": {"name": "db", "labels": {"slipway.dev/team": "a", "cost": "42"},
                         "annotations": {"slipway.dev/request-id": "old", "pager": "x"}},
            "spec": {"size": "small", "writeConnectionSecretToRef": {"name": "s"}, "legacyFlag": true},
        });
        let mut new = json!({
            "metadata": {"name": "db", "labels": {"slipway.dev/team": "a"},
                         "annotations": {"slipway.dev/request-id": "new"}},
            "spec": {"size": "large"},
        });
        let known = ["size".to_owned(), "writeConnectionSecretToRef".to_owned()];
        let kept = preserve(&mut new, &old, Some(&known));
        assert_eq!(
            new["spec"],
            json!({"size": "large", "legacyFlag": true}),
            "a known key the user cleared stays cleared"
        );
        assert_eq!(new["metadata"]["labels"]["cost"], "42");
        assert_eq!(new["metadata"]["annotations"]["pager"], "x");
        assert_eq!(
            new["metadata"]["annotations"]["slipway.dev/request-id"],
            "new"
        );
        assert_eq!(
            kept,
            [
                "metadata.labels.cost",
                "metadata.annotations.pager",
                "spec.legacyFlag"
            ]
        );
    }

    #[test]
    fn the_request_stamp_does_not_count_as_a_change() {
        let a = json!({"metadata": {"annotations": {"slipway.dev/request-id": "1", "x": "y"}}});
        let b = json!({"metadata": {"annotations": {"slipway.dev/request-id": "2", "x": "y"}}});
        let c = json!({"metadata": {"annotations": {"slipway.dev/request-id": "2", "x": "z"}}});
        assert_eq!(without_stamp(&a), without_stamp(&b));
        assert_ne!(without_stamp(&a), without_stamp(&c));
    }
}
