//! The request service: submission and the ledger as pages see it.
//!
//! ```text
//!  submit ──▶ CatalogService::prepare (same validation and rendering as the preview)
//!         ──▶ Environment: early "already exists" check against its clone, fetched if older
//!             than a few seconds, waited for briefly (advisory: the writer decides, on the
//!             branch it pushes to)
//!         ──▶ db::requests::submit (request + `submitted` + git job + audit, one transaction;
//!             a second pending change to the same file is refused by a unique index)
//!         ──▶ Ledger::announce, wake the environment's writer
//! ```
//! Members see and submit for their own teams; administrators for all. A request of
//! another team is "not found", not "forbidden": its existence is not disclosed.

use std::sync::Arc;
use std::time::Duration;

use app::catalog::{ENVIRONMENT_PATH, FieldError, NAME_PATH, RequestDraft};
use app::domain::CurrentUser;
use app::error::AppError;
use app::ports::RequestPort;
use app::requests::{
    Action, ApprovalItem, ChangeSource, GitJob, GitProgress, RequestDetail, RequestEvent,
    RequestFilter, RequestPage, RequestSummary, Submitted,
};
use async_trait::async_trait;
use serde_json::Value;

use crate::db::outbox::JobStatus;
use crate::db::requests::{self as store, ListQuery, ListedRequest, NewRequest, RequestRow};
use crate::db::{self, Db};
use crate::environment::Environments;
use crate::ledger::Ledger;
use crate::policy::{Approval, Subject, Verdict};
use crate::services::catalog::{CatalogService, FETCH_EVERY, diff_lines};
use crate::time::rfc3339;

/// Requests per page.
const PAGE_SIZE: i64 = 50;

/// What a request must respect besides its values: the cluster-scoped name it takes, and
/// the policies' claim limit and approvals.
struct Guard<'a> {
    cluster_name: Option<&'a store::ClusterName>,
    verdict: &'a Verdict,
    /// The request a promotion promotes.
    promoted_from: Option<&'a str>,
    /// The submitter's idempotency key and claim, filled in with the request.
    idempotency_key: Option<(&'a str, &'a str)>,
}

/// "1 approval from platform (prod-databases)".
fn need_line(need: &Approval) -> String {
    format!(
        "{} approval(s) from {} or an administrator ({})",
        need.required,
        need.approvers.join(", "),
        need.policy
    )
}

/// Implements [`RequestPort`].
pub struct RequestService {
    db: Db,
    catalog: Arc<CatalogService>,
    environments: Arc<Environments>,
    ledger: Ledger,
    commit_url: Option<String>,
}

impl RequestService {
    /// A service queueing each environment's requests for its writer; commits are linked
    /// with `commit_url` (`{sha}` replaced) when set.
    pub fn new(
        db: Db,
        catalog: Arc<CatalogService>,
        environments: Arc<Environments>,
        ledger: Ledger,
        commit_url: Option<String>,
    ) -> Self {
        RequestService {
            db,
            catalog,
            environments,
            ledger,
            commit_url,
        }
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
        guard: Guard<'_>,
    ) -> Result<(), AppError> {
        let body = serde_json::to_string(draft)
            .map_err(|e| crate::error::internal("encoding a request", &e))?;
        let approvals = &guard.verdict.approvals;
        let needs_json = (!approvals.is_empty())
            .then(|| serde_json::to_string(approvals))
            .transpose()
            .map_err(|e| crate::error::internal("encoding approvals", &e))?;
        let needs_text = approvals
            .iter()
            .map(need_line)
            .collect::<Vec<_>>()
            .join("; ");
        let summary = &offering.summary;
        let environment = self.environments.get(&draft.environment).ok_or_else(|| {
            AppError::NotFound(format!("The environment {:?}", draft.environment))
        })?;
        let stored = store::submit(
            &self.db,
            &NewRequest {
                id,
                action,
                offering: &summary.id,
                offering_version: &summary.version,
                api_version: &summary.api_version,
                kind: &summary.kind,
                name: &draft.name,
                team: &draft.team,
                environment: &draft.environment,
                requested_by: (&actor.id, &actor.name, &actor.email),
                body: &body,
                repository: environment.repository(),
                path,
                content,
                write_mode: environment.mode,
                cluster_name: guard.cluster_name,
                max_claims: guard
                    .verdict
                    .max_claims
                    .as_ref()
                    .filter(|_| action == Action::Create)
                    .map(|(max, policy)| (*max, policy.as_str())),
                approvals: needs_json
                    .as_deref()
                    .map(|json| (json, needs_text.as_str())),
                promoted_from: guard.promoted_from,
                idempotency_key: guard.idempotency_key,
            },
            actor,
        )
        .await;
        let appended = match stored {
            Ok(appended) => appended,
            // Another submission for the same file won the race inside the database.
            Err(db::Error::Conflict(other)) if action == Action::Create => {
                return Err(AppError::Validation(vec![FieldError {
                    path: NAME_PATH.into(),
                    message: format!(
                        "A {} named {:?} already exists for {} in {} (request {other} is on its way to Git).",
                        summary.kind, draft.name, draft.team, draft.environment
                    ),
                }]));
            }
            Err(db::Error::Refused(message)) => {
                return Err(AppError::Validation(vec![FieldError {
                    path: ENVIRONMENT_PATH.into(),
                    message,
                }]));
            }
            Err(db::Error::Taken { .. }) => {
                return Err(AppError::Validation(vec![FieldError {
                    path: NAME_PATH.into(),
                    message: format!(
                        "A {} is one per cluster, and the name {:?} is already taken in {}; choose another name.",
                        summary.kind, draft.name, draft.environment
                    ),
                }]));
            }
            Err(error) => return Err(error.into()),
        };
        self.ledger.announce(appended);
        environment.writer.waker().notify_one();
        Ok(())
    }

    /// The request `id` if the actor may see it.
    pub(crate) async fn visible(
        &self,
        actor: &CurrentUser,
        id: &str,
    ) -> Result<RequestRow, AppError> {
        store::get(&self.db, id)
            .await?
            .filter(|row| Self::may_see(actor, row))
            .ok_or_else(|| AppError::NotFound(format!("The request {id:?}")))
    }

    /// The claim's file as the environment's clone holds it, fetched first: an edit starts
    /// from the branch as it is. One fetch per clone at a time (callers join the one under
    /// way) and waited for at most a few seconds; on failure the last fetched state is used,
    /// and the writer decides on the branch it pushes to.
    async fn current_manifests(&self, row: &RequestRow) -> Result<Vec<Value>, AppError> {
        if let Err(error) = self.catalog.refresh(&row.environment, Duration::ZERO).await {
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

    /// A change acts only on a file of the request's team: every manifest in it carries the
    /// team's label, and the newest change Slipway brought into the branch there was that
    /// team's. Anything else — a file put there by hand, or another team's — is refused.
    async fn refuse_unless_owned(
        &self,
        row: &RequestRow,
        current: &[Value],
    ) -> Result<(), AppError> {
        let foreign = current.iter().find_map(|m| {
            let label = m.pointer("/metadata/labels/slipway.dev~1team");
            (label.and_then(Value::as_str) != Some(row.team.as_str())).then(|| match label {
                Some(Value::String(team)) => format!("the team {team}"),
                Some(other) => format!("the team {other}"),
                None => "no team".to_owned(),
            })
        });
        if let Some(owner) = foreign {
            return Err(AppError::Forbidden(format!(
                "change {}: the file there is labelled for {owner}, not {}",
                row.path, row.team
            )));
        }
        match store::last_writer(&self.db, &row.repository, &row.path).await? {
            Some(team) if team == row.team => Ok(()),
            writer => Err(AppError::Forbidden(format!(
                "change {}: {}",
                row.path,
                writer.map_or_else(
                    || "no request of the team put the file there".to_owned(),
                    |team| format!("the file there was last written for the team {team}")
                )
            ))),
        }
    }

    async fn refuse_if_pending(&self, row: &RequestRow) -> Result<(), AppError> {
        if let Some(other) = store::pending_for_path(&self.db, &row.repository, &row.path).await? {
            return Err(AppError::Invalid(format!(
                "A change to this claim (request {other}) is still on its way to Git; try again once it is committed."
            )));
        }
        Ok(())
    }
}

/// `value` with every object's keys in sorted order.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
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

/// A request as lists show it.
pub(crate) fn summary(row: &RequestRow) -> RequestSummary {
    listed(row.listed())
}

/// A request read for a list ([`store::list`]), as lists show it.
fn listed(row: ListedRequest) -> RequestSummary {
    RequestSummary {
        offering: format!("{}@{}", row.offering, row.offering_version),
        id: row.id,
        action: row.action,
        kind: row.kind,
        name: row.name,
        team: row.team,
        environment: row.environment,
        requested_by: row.requester_name,
        stage: row.state,
        created_at: rfc3339(row.created_at),
    }
}

fn require_admin(actor: &CurrentUser, what: &str) -> Result<(), AppError> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(what.to_owned()))
    }
}

fn blank_is_none(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl RequestService {
    /// A new claim from `draft` (a promotion names its source in `promoted_from`; a
    /// submission under an idempotency key fills it in with the request).
    pub(crate) async fn create(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
        promoted_from: Option<&str>,
        idempotency_key: Option<(&str, &str)>,
    ) -> Result<Submitted, AppError> {
        let id = db::new_id();
        let prepared = self.catalog.prepare(actor, draft, &id)?;
        let (offering, rendered, verdict) =
            (prepared.offering, prepared.rendered, prepared.verdict);
        let exists = |detail: String| {
            AppError::Validation(vec![FieldError {
                path: NAME_PATH.into(),
                message: format!(
                    "A {} named {:?} already exists for {} in {} ({detail}).",
                    offering.summary.kind, draft.name, draft.team, draft.environment
                ),
            }])
        };
        let repository = self
            .environments
            .get(&draft.environment)
            .map(|e| e.repository().to_owned())
            .unwrap_or_default();
        if let Some(other) = store::pending_for_path(&self.db, &repository, &rendered.path).await? {
            return Err(exists(format!("request {other} is on its way to Git")));
        }
        // Best effort: with the remote down (or slow) the request is still taken, and the
        // writer refuses to overwrite a file a create finds in place.
        if self
            .catalog
            .refresh(&draft.environment, FETCH_EVERY)
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
        let main = rendered.manifests.first();
        let text = |pointer: &str| {
            main.and_then(|m| m.pointer(pointer))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let cluster = self
            .environments
            .get(&draft.environment)
            .map(|e| e.cluster_key().to_owned())
            .unwrap_or_default();
        let cluster_name = (!offering.namespaced).then(|| store::ClusterName {
            cluster,
            api_group: text("/apiVersion")
                .rsplit_once('/')
                .map_or("", |(g, _)| g)
                .to_owned(),
            kind: text("/kind").to_owned(),
            name: text("/metadata/name").to_owned(),
        });
        if let Some(key) = &cluster_name
            && let Some(path) = self
                .catalog
                .object_elsewhere(&draft.environment, key, &rendered.path)
                .await?
        {
            return Err(AppError::Validation(vec![FieldError {
                path: NAME_PATH.into(),
                message: format!(
                    "A {} is one per cluster, and {path} in the repository already names {:?} there; choose another name.",
                    key.kind, key.name
                ),
            }]));
        }
        self.store(
            actor,
            &id,
            Action::Create,
            &offering,
            draft,
            &rendered.path,
            &rendered.content,
            Guard {
                cluster_name: cluster_name.as_ref(),
                verdict: &verdict,
                promoted_from,
                idempotency_key,
            },
        )
        .await?;
        // The form did its job; a later visit starts fresh. (A promotion used no form.)
        if promoted_from.is_none()
            && let Err(error) = db::drafts::delete(&self.db, &actor.id, &draft.offering).await
        {
            tracing::warn!(%error, "the draft of a submitted form was not discarded");
        }
        Ok(Submitted { id })
    }

    /// A change of request `of`'s claim (a promotion names its source in `promoted_from`).
    pub(crate) async fn change(
        &self,
        actor: &CurrentUser,
        of: &str,
        action: Action,
        draft: Option<&RequestDraft>,
        promoted_from: Option<&str>,
    ) -> Result<Submitted, AppError> {
        let row = self.visible(actor, of).await?;
        self.refuse_if_pending(&row).await?;
        let offering = self.catalog.find(actor, &row.offering)?;
        let current = self.current_manifests(&row).await?;
        self.refuse_unless_owned(&row, &current).await?;
        let id = db::new_id();
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
                    values: row.values(),
                };
                let verdict = self.catalog.policies().check(&Subject {
                    environment: &row.environment,
                    offering: &row.offering,
                    team: &row.team,
                    name: &row.name,
                    values: None,
                    user: actor,
                });
                if !verdict.errors.is_empty() {
                    return Err(AppError::Validation(verdict.errors));
                }
                self.store(
                    actor,
                    &id,
                    Action::Delete,
                    &offering,
                    &same,
                    &row.path,
                    "",
                    Guard {
                        cluster_name: None,
                        verdict: &verdict,
                        promoted_from,
                        idempotency_key: None,
                    },
                )
                .await?;
                Ok(Submitted { id })
            }
            Action::Update => {
                let draft = draft
                    .ok_or_else(|| AppError::Invalid("An update needs the edited form.".into()))?;
                let (content, verdict) =
                    self.render_update(actor, &row, &offering, &current, draft, &id)?;
                self.store(
                    actor,
                    &id,
                    Action::Update,
                    &offering,
                    draft,
                    &row.path,
                    &content,
                    Guard {
                        cluster_name: None,
                        verdict: &verdict,
                        promoted_from,
                        idempotency_key: None,
                    },
                )
                .await?;
                Ok(Submitted { id })
            }
        }
    }
}

impl RequestService {
    /// The file an update of `row`'s claim with `draft` writes (stamped with `id`) and the
    /// policies' verdict on it: the same checks, rendering and kept keys for an edit, a
    /// promotion and their previews. Refused when nothing would change.
    fn render_update(
        &self,
        actor: &CurrentUser,
        row: &RequestRow,
        offering: &crate::catalog::Offering,
        current: &[Value],
        draft: &RequestDraft,
        id: &str,
    ) -> Result<(String, Verdict), AppError> {
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
        let prepared = self.catalog.prepare(actor, draft, id)?;
        let (mut rendered, verdict) = (prepared.rendered, prepared.verdict);
        if rendered.path != row.path {
            return Err(AppError::Invalid(format!(
                "The offering now places this claim at {} instead of {}; ask the platform team to move it.",
                rendered.path, row.path
            )));
        }
        if let (Some(new), Some(old)) = (rendered.manifests.first_mut(), current.first()) {
            preserve(new, old, known_keys(offering).as_deref());
        }
        let unchanged = rendered.manifests.len() == current.len()
            && rendered
                .manifests
                .iter()
                .zip(current)
                .all(|(a, b)| without_stamp(a) == without_stamp(b));
        if unchanged {
            return Err(AppError::Invalid(
                "Nothing to change: these are the values the repository already holds.".into(),
            ));
        }
        let content = crate::catalog::render::to_yaml(&rendered.manifests)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        Ok((content, verdict))
    }

    /// The form an edit of request `of`'s claim starts from (see
    /// [`RequestPort::change_source`]), with the claim's file as the clone holds it.
    pub(crate) async fn edit_source(
        &self,
        actor: &CurrentUser,
        of: &str,
    ) -> Result<(ChangeSource, Vec<Value>), AppError> {
        let row = self.visible(actor, of).await?;
        self.refuse_if_pending(&row).await?;
        let offering = self.catalog.find(actor, &row.offering)?;
        let manifests = self.current_manifests(&row).await?;
        self.refuse_unless_owned(&row, &manifests).await?;
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
            None => row.values(),
        };
        // What an edit would keep: the same rule submit_change applies, on the form's part.
        let preserved = preserve(
            &mut serde_json::json!({"metadata": {}, "spec": values.clone()}),
            &main,
            known.as_deref(),
        );
        let source = ChangeSource {
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
        };
        Ok((source, manifests))
    }

    /// What an update of request `of`'s claim with `draft` would commit, against the file in
    /// the branch: the file exactly as [`RequestPort::submit_change`] would write it (with
    /// the keys the form does not manage kept), stamped `assigned-on-submit`.
    pub(crate) async fn change_preview(
        &self,
        actor: &CurrentUser,
        of: &str,
        draft: &RequestDraft,
    ) -> Result<app::catalog::Preview, AppError> {
        let row = self.visible(actor, of).await?;
        self.refuse_if_pending(&row).await?;
        let offering = self.catalog.find(actor, &row.offering)?;
        let current = self.current_manifests(&row).await?;
        self.refuse_unless_owned(&row, &current).await?;
        let (content, _) = self.render_update(
            actor,
            &row,
            &offering,
            &current,
            draft,
            "assigned-on-submit",
        )?;
        let (base, text) = self
            .catalog
            .current_file(&row.environment, &row.path)
            .await?;
        let old = text.unwrap_or_default();
        Ok(app::catalog::Preview {
            files: vec![app::catalog::PreviewFile {
                diff: diff_lines(&old, &content),
                change: app::catalog::FileChange::Changed,
                path: row.path.clone(),
                content,
            }],
            base: base
                .map(|b| b[..b.len().min(12)].to_owned())
                .unwrap_or_default(),
            cluster_fills: offering.as_stored(&draft.values).1,
        })
    }
}

#[async_trait]
impl RequestPort for RequestService {
    async fn submit(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<Submitted, AppError> {
        self.create(actor, draft, None, None).await
    }

    async fn submit_once(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
        key: &str,
    ) -> Result<Submitted, AppError> {
        use sha2::{Digest as _, Sha256};
        let key = key.trim();
        if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AppError::Invalid(
                "An Idempotency-Key is 1 to 255 visible ASCII characters.".into(),
            ));
        }
        // The body as data, its keys sorted: the same values in another key order are the
        // same submission.
        let body = serde_json::to_vec(&canonical(
            serde_json::to_value(draft)
                .map_err(|e| crate::error::internal("encoding a request", &e))?,
        ))
        .map_err(|e| crate::error::internal("encoding a request", &e))?;
        let fingerprint = format!("{:x}", Sha256::digest(&body));
        let claim = match db::idempotency::claim(&self.db, &actor.id, key, &fingerprint).await? {
            db::idempotency::Claimed::Done(id) => return Ok(Submitted { id }),
            db::idempotency::Claimed::Reused => {
                return Err(AppError::Invalid(
                    "This Idempotency-Key was already used for a different request; use a new key for new values.".into(),
                ));
            }
            db::idempotency::Claimed::InFlight => {
                return Err(AppError::Conflict(
                    "A submission with this Idempotency-Key is under way; retry in a moment to get its request.".into(),
                ));
            }
            db::idempotency::Claimed::New(claim) => claim,
        };
        let submitted = self.create(actor, draft, None, Some((key, &claim))).await;
        if submitted.is_err()
            && let Err(error) = db::idempotency::release(&self.db, &actor.id, key, &claim).await
        {
            tracing::warn!(%error, "an idempotency key of a failed submission was not released");
        }
        submitted
    }

    async fn get(&self, actor: &CurrentUser, id: &str) -> Result<RequestDetail, AppError> {
        let row = self.visible(actor, id).await?;
        let events = db::ledger::events(&self.db, id)
            .await?
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
        let git = match db::outbox::job(&self.db, id).await? {
            Some(job) if job.status == JobStatus::Pending => Some(GitProgress {
                attempts: job.attempts,
                last_error: job.last_error,
                next_attempt_at: rfc3339(job.next_attempt_at),
            }),
            _ => None,
        };
        let can_rate = row.requested_by == actor.id && db::metrics::was_ready(&self.db, id).await?;
        let feedback = db::metrics::feedback_of(&self.db, id)
            .await?
            .map(|(rating, comment)| app::metrics::GivenFeedback { rating, comment });
        let offering_title = self
            .catalog
            .find(actor, &row.offering)
            .map_or_else(|_| row.offering.clone(), |o| o.summary.title);
        let promotes_to = if row.state.in_branch() && row.action != Action::Delete {
            self.environments
                .promotes_to(&row.environment)
                .iter()
                .map(|e| e.name.clone())
                .collect()
        } else {
            Vec::new()
        };
        Ok(RequestDetail {
            can_rate,
            feedback,
            offering_title,
            promoted_from: row.promoted_from.clone(),
            promotes_to,
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
        Ok(self.edit_source(actor, of).await?.0)
    }

    async fn submit_change(
        &self,
        actor: &CurrentUser,
        of: &str,
        action: Action,
        draft: Option<&RequestDraft>,
    ) -> Result<Submitted, AppError> {
        self.change(actor, of, action, draft, None).await
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
        .await?;
        let more = rows.len() > usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
        let requests: Vec<RequestSummary> = rows
            .into_iter()
            .take(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX))
            .map(listed)
            .collect();
        let next = more
            .then(|| requests.last().map(|r| r.id.clone()))
            .flatten();
        Ok(RequestPage { requests, next })
    }

    async fn git_jobs(&self, actor: &CurrentUser) -> Result<Vec<GitJob>, AppError> {
        require_admin(actor, "see the Git jobs")?;
        Ok(db::outbox::problems(&self.db, 200)
            .await?
            .into_iter()
            .map(|job| GitJob {
                request: summary(&job.request),
                repository: job.request.repository.clone(),
                path: job.request.path.clone(),
                failed: job.status == JobStatus::Failed,
                attempts: job.attempts,
                refusals: job.refusals,
                last_error: job.last_error,
                next_attempt_at: (job.status == JobStatus::Pending)
                    .then(|| rfc3339(job.next_attempt_at)),
            })
            .collect())
    }

    async fn retry_git_job(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError> {
        require_admin(actor, "retry Git jobs")?;
        let appended = db::outbox::retry(&self.db, id, actor)
            .await
            .map_err(|e| match e {
                db::Error::Taken { .. } => AppError::Invalid(
                    "The cluster-wide name this request took is another request's now; it cannot be retried: request it again under another name.".into(),
                ),
                other => other.into(),
            })?
            .ok_or_else(|| AppError::NotFound(format!("A failed Git job of request {id:?}")))?;
        self.ledger.announce([appended]);
        if let Some(row) = store::get(&self.db, id).await?
            && let Some(writer) = self.environments.writer(&row.repository)
        {
            writer.waker().notify_one();
        }
        Ok(())
    }

    async fn abandon_git_job(
        &self,
        actor: &CurrentUser,
        id: &str,
        reason: &str,
    ) -> Result<(), AppError> {
        require_admin(actor, "abandon Git jobs")?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(AppError::Invalid(
                "Say why the job is abandoned (at most 500 characters).".into(),
            ));
        }
        let appended = db::outbox::abandon(&self.db, id, actor, reason)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("A pending Git job of request {id:?}")))?;
        self.ledger.announce([appended]);
        Ok(())
    }

    async fn approvals(&self, actor: &CurrentUser) -> Result<Vec<ApprovalItem>, AppError> {
        let mut items = Vec::new();
        // Every request awaiting approval is looked at (they are few: each waits for a person).
        for waiting in db::approvals::awaiting(&self.db, 5_000).await? {
            if !waiting.needs.iter().any(|n| n.may_approve(actor)) {
                continue;
            }
            let row = &waiting.request;
            let decisions = db::approvals::decisions(&self.db, &row.id).await?;
            let (_, current) = self
                .catalog
                .current_file(&row.environment, &row.path)
                .await?;
            items.push(ApprovalItem {
                summary: summary(row),
                path: row.path.clone(),
                diff: diff_lines(current.as_deref().unwrap_or_default(), &row.content),
                needs: waiting.needs.iter().map(need_line).collect(),
                can_open: Self::may_see(actor, row),
                can_decide: row.requested_by != actor.id
                    && !decisions.iter().any(|d| d.approver == actor.id),
                decisions: decisions
                    .iter()
                    .map(|d| {
                        let verb = if d.approved { "approved" } else { "rejected" };
                        if d.comment.is_empty() {
                            format!("{} {verb}", d.approver_name)
                        } else {
                            format!("{} {verb}: {}", d.approver_name, d.comment)
                        }
                    })
                    .collect(),
            });
        }
        Ok(items)
    }

    async fn decide(
        &self,
        actor: &CurrentUser,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), AppError> {
        let comment = comment.trim();
        if comment.chars().count() > 1000 {
            return Err(AppError::Invalid(
                "A comment holds at most 1000 characters.".into(),
            ));
        }
        if !approve && comment.is_empty() {
            return Err(AppError::Invalid("Say why the request is rejected.".into()));
        }
        let row = store::get(&self.db, id).await?;
        let needs = db::approvals::needs(&self.db, id).await?;
        let counts_for: Vec<String> = needs
            .iter()
            .filter(|n| n.may_approve(actor))
            .map(|n| n.policy.clone())
            .collect();
        let Some(row) = row.filter(|row| Self::may_see(actor, row) || !counts_for.is_empty())
        else {
            return Err(AppError::NotFound(format!("The request {id:?}")));
        };
        if counts_for.is_empty() {
            return Err(AppError::Forbidden("decide on this request".into()));
        }
        if row.requested_by == actor.id {
            return Err(AppError::Forbidden("approve your own request".into()));
        }
        let decided = db::approvals::decide(&self.db, id, actor, approve, comment, &counts_for)
            .await
            .map_err(|e| match e {
                db::Error::Refused(message) => AppError::Invalid(message),
                other => other.into(),
            })?;
        self.ledger.announce(decided.appended);
        if decided.released
            && let Some(environment) = self.environments.get(&row.environment)
        {
            environment.writer.waker().notify_one();
        }
        Ok(())
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
