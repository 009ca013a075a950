//! The promotion service: a claim carried one environment further along its path.
//!
//! ```text
//!  plan/promote(of, target)
//!   ├─ source: the claim's latest request in the branch of its environment (visible: 404 else)
//!   ├─ target: an environment promoted from the source's (its `promoteFrom`)
//!   ├─ gates (the target's): Ready now (live, with its root cause), Ready for the soak time
//!   │   with nothing since (ledger), the offering version the catalog offers now
//!   ├─ values: the source's file in Git, except kept fields — the target's current value,
//!   │   or the field's default on a new claim
//!   └─ promote: an ordinary request there (create, or update of the target's claim) through
//!      RequestService, naming its source (promoted_from, Slipway-Promoted-From trailer);
//!      a refused gate is stored (dashboards) and audited
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use app::catalog::RequestDraft;
use app::domain::CurrentUser;
use app::domain::HealthState;
use app::error::AppError;
use app::ports::{CatalogPort, PromotionPort};
use app::promotions::{
    ClaimAcross, ClaimStage, Difference, Gate, GateCheck, KeptField, KeptFrom, PromotionPlan,
};
use app::requests::{Action, EventKind, Stage, Submitted};
use app::status::{LiveStatus, health_words};
use async_trait::async_trait;
use serde_json::Value;

use crate::catalog::{Offering, promotion, secrets};
use crate::db::requests::{self as store, RequestRow};
use crate::db::{self, Db};
use crate::environment::{Environment, Environments};
use crate::kube::watch::StatusWatch;
use crate::services::catalog::CatalogService;
use crate::services::requests::{RequestService, summary};
use crate::time::rfc3339;

/// Requests of one claim looked at across environments, at most.
const CLAIM_HISTORY: i64 = 500;

/// Implements [`PromotionPort`].
pub struct PromotionService {
    db: Db,
    requests: Arc<RequestService>,
    catalog: Arc<CatalogService>,
    environments: Arc<Environments>,
    watch: Arc<StatusWatch>,
    telemetry: Arc<crate::metrics::prom::Telemetry>,
}

/// A plan with what promoting needs besides what the page shows.
struct Planned {
    plan: PromotionPlan,
    source: RequestRow,
    target_request: Option<RequestRow>,
}

impl PromotionService {
    /// A service promoting along `environments`' paths, gating on `watch`'s live status.
    pub fn new(
        db: Db,
        requests: Arc<RequestService>,
        catalog: Arc<CatalogService>,
        environments: Arc<Environments>,
        watch: Arc<StatusWatch>,
        telemetry: Arc<crate::metrics::prom::Telemetry>,
    ) -> Self {
        PromotionService {
            db,
            requests,
            catalog,
            environments,
            watch,
            telemetry,
        }
    }

    /// The claim's latest request in the branch of its environment: the one its file and its
    /// live object carry. Any request of the claim names it. With the claim's requests in
    /// every environment, newest first.
    async fn source(
        &self,
        actor: &CurrentUser,
        of: &str,
    ) -> Result<(RequestRow, Vec<RequestRow>), AppError> {
        let row = self.requests.visible(actor, of).await?;
        let history =
            store::claim_everywhere(&self.db, &row.team, &row.offering, &row.name, CLAIM_HISTORY)
                .await?;
        let latest = history
            .iter()
            .find(|r| r.environment == row.environment && r.state.in_branch());
        match latest {
            Some(latest) if latest.action != Action::Delete => Ok((latest.clone(), history)),
            Some(_) => Err(AppError::Invalid(format!(
                "{} was deleted in {}; there is nothing to promote.",
                row.name, row.environment
            ))),
            None => Err(AppError::Invalid(format!(
                "{} is not in {}'s branch yet; promote it once it is committed and Ready.",
                row.name, row.environment
            ))),
        }
    }

    /// The values an edit of `row`'s claim starts from, refused unless the environment's
    /// clone shows `row`'s change in its file: a clone that has not caught up (a fetch that
    /// failed, another replica's commit) would otherwise promote an older file than the one
    /// the gates judged.
    async fn values_of(&self, actor: &CurrentUser, row: &RequestRow) -> Result<Value, AppError> {
        let (form, manifests) = self.requests.edit_source(actor, &row.id).await?;
        let stamp = manifests
            .first()
            .and_then(|m| m.pointer("/metadata/annotations/slipway.dev~1request-id"))
            .and_then(Value::as_str);
        if row.state == Stage::Unchanged || stamp == Some(row.id.as_str()) {
            return Ok(form.draft.values);
        }
        Err(AppError::Unavailable(format!(
            "The copy of {}'s repository (it does not show request {}'s change to {} yet)",
            row.environment, row.id, row.path
        )))
    }

    /// The environment `target`, if claims of `source` are promoted to it.
    fn target(&self, source: &str, target: &str) -> Result<&Arc<Environment>, AppError> {
        let next = self.environments.promotes_to(source);
        next.iter()
            .find(|e| e.name == target)
            .copied()
            .ok_or_else(|| {
                AppError::Invalid(if next.is_empty() {
                    format!("Claims in {source} are not promoted anywhere.")
                } else {
                    format!(
                        "{target} is not promoted from {source}; claims there go to {}.",
                        next.iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
    }

    /// Every gate the target asks for, judged on the source now.
    async fn gates(
        &self,
        source: &RequestRow,
        target: &Environment,
        offering: &Offering,
        live: Option<&LiveStatus>,
    ) -> Result<Vec<GateCheck>, AppError> {
        let mut checks = Vec::new();
        let gates = target.gates;
        if gates.ready {
            checks.push(match live {
                Some(live) if live.health.state == HealthState::Ready => GateCheck {
                    gate: Gate::Ready,
                    passed: true,
                    detail: format!("Ready in {} since {}", source.environment, live.since),
                },
                Some(live) => GateCheck {
                    gate: Gate::Ready,
                    passed: false,
                    detail: live_words(&source.environment, live),
                },
                None => GateCheck {
                    gate: Gate::Ready,
                    passed: false,
                    detail: format!(
                        "Slipway does not see the claim in {}'s cluster{}, so it cannot tell it is Ready.",
                        source.environment,
                        if self.watch.cluster_of(&source.environment).is_some() {
                            ""
                        } else {
                            " (no cluster is followed for it)"
                        }
                    ),
                },
            });
        }
        let current = live.is_some_and(|l| l.health.state != HealthState::Stale);
        if !gates.soak.is_zero() && !current {
            checks.push(GateCheck {
                gate: Gate::Soak,
                passed: false,
                detail: format!(
                    "the claim's status in {} is not known now (its cluster is unreachable or not followed), so its time Ready cannot be judged",
                    source.environment
                ),
            });
        } else if !gates.soak.is_zero() {
            let events = db::ledger::events(&self.db, &source.id).await?;
            let last = events.iter().rev().find(|e| {
                matches!(
                    e.kind,
                    EventKind::Ready
                        | EventKind::Reconciling
                        | EventKind::Failed
                        | EventKind::ApplyFailed
                        | EventKind::Deleted
                )
            });
            let soak = humantime::format_duration(gates.soak);
            checks.push(match last {
                Some(e) if e.kind == EventKind::Ready => {
                    let held = std::time::Duration::from_millis(
                        u64::try_from(db::now_ms() - e.at).unwrap_or(0),
                    );
                    let held_words =
                        humantime::format_duration(std::time::Duration::from_secs(held.as_secs()));
                    GateCheck {
                        gate: Gate::Soak,
                        passed: held >= gates.soak,
                        detail: format!(
                            "Ready with no incident since {} ({held_words}); {} asks for {soak}",
                            rfc3339(e.at),
                            target.name
                        ),
                    }
                }
                Some(e) => GateCheck {
                    gate: Gate::Soak,
                    passed: false,
                    detail: format!(
                        "{} at {}; {} asks for {soak} of Ready with no incident",
                        kind_words(e.kind),
                        rfc3339(e.at),
                        target.name
                    ),
                },
                None => GateCheck {
                    gate: Gate::Soak,
                    passed: false,
                    detail: format!(
                        "never Ready in {}; {} asks for {soak} of Ready",
                        source.environment, target.name
                    ),
                },
            });
        }
        if gates.same_version {
            let offered = &offering.summary.version;
            checks.push(GateCheck {
                gate: Gate::Version,
                passed: *offered == source.offering_version,
                detail: if *offered == source.offering_version {
                    format!("runs {}@{offered}", offering.summary.id)
                } else {
                    format!(
                        "runs {}@{}, the catalog offers {offered}: update it in {} first",
                        offering.summary.id, source.offering_version, source.environment
                    )
                },
            });
        }
        Ok(checks)
    }

    async fn planned(
        &self,
        actor: &CurrentUser,
        of: &str,
        target: &str,
    ) -> Result<Planned, AppError> {
        let (source, history) = self.source(actor, of).await?;
        let target_env = self.target(&source.environment, target)?.clone();
        let offering = self.catalog.find(actor, &source.offering)?;
        let live = self.watch.claim_status(&source.environment, &source.id);
        let gates = self
            .gates(&source, &target_env, &offering, live.as_ref())
            .await?;
        // The source's values as its file in Git holds them (the same reading an edit starts
        // from: owned by the team, no change on its way), from a clone that shows its change.
        let mut values = self.values_of(actor, &source).await?;
        // The claim there: its newest request that reached the branch (past ones withdrawn,
        // rejected or failed are passed over); a newer one still on its way refuses.
        let mut target_request = None;
        for r in history.iter().filter(|r| r.environment == target_env.name) {
            if r.state.in_branch() {
                if r.action != Action::Delete {
                    target_request = Some(r.clone());
                }
                break;
            }
            if !ended(r.state) {
                return Err(AppError::Invalid(format!(
                    "A request for {} in {} (request {}) is still on its way to Git; promote once it is committed.",
                    source.name, target_env.name, r.id
                )));
            }
        }
        let current = match &target_request {
            Some(r) => Some(self.values_of(actor, r).await?),
            None => None,
        };
        let mut kept = Vec::new();
        for (path, default) in promotion::kept(&offering.structural) {
            let (value, from) = match &current {
                Some(current) => (promotion::get(current, &path).cloned(), KeptFrom::Target),
                None if default.is_some() => (default, KeptFrom::Default),
                None => (None, KeptFrom::Unset),
            };
            promotion::set(&mut values, &path, value);
            kept.push(KeptField {
                path: path.join("."),
                from,
            });
        }
        // Secrets are every environment's own: the source's references never travel; the
        // target's stay.
        for pattern in &offering.secrets.pointers {
            let dotted = promotion::path_of(pattern).join(".");
            for pointer in secrets::present(&values, pattern) {
                promotion::set(&mut values, &promotion::path_of(&pointer), None);
            }
            let theirs = current
                .as_ref()
                .map(|c| secrets::present(c, pattern))
                .unwrap_or_default();
            for pointer in &theirs {
                let path = promotion::path_of(pointer);
                let value = current
                    .as_ref()
                    .and_then(|c| promotion::get(c, &path))
                    .cloned();
                promotion::set(&mut values, &path, value);
            }
            if !kept.iter().any(|k| k.path == dotted) {
                kept.push(KeptField {
                    path: dotted,
                    from: if theirs.is_empty() {
                        KeptFrom::Unset
                    } else {
                        KeptFrom::Target
                    },
                });
            }
        }
        let draft = RequestDraft {
            offering: source.offering.clone(),
            environment: target_env.name.clone(),
            team: source.team.clone(),
            name: source.name.clone(),
            values,
        };
        // The file exactly as the promotion would write it: an update keeps what the form
        // does not manage, as an edit does.
        let previewed = match &target_request {
            Some(r) => self.requests.change_preview(actor, &r.id, &draft).await,
            None => self.catalog.preview(actor, &draft).await,
        };
        let (preview, problems) = match previewed {
            Ok(preview) => (Some(preview), Vec::new()),
            Err(AppError::Validation(errors)) => (
                None,
                errors
                    .into_iter()
                    .map(|e| {
                        if e.path.is_empty() {
                            e.message
                        } else {
                            format!("{}: {}", e.path, e.message)
                        }
                    })
                    .collect(),
            ),
            Err(AppError::Invalid(message)) => (None, vec![message]),
            Err(other) => return Err(other),
        };
        let token = plan_token(
            &source.id,
            target_request.as_ref().map(|r| r.id.as_str()),
            preview.as_ref(),
        );
        let allowed = gates.iter().all(|g| g.passed);
        Ok(Planned {
            plan: PromotionPlan {
                source: summary(&source),
                target: target_env.name.clone(),
                action: if target_request.is_some() {
                    Action::Update
                } else {
                    Action::Create
                },
                target_request: target_request.as_ref().map(|r| r.id.clone()),
                gates,
                allowed,
                source_status: live,
                kept,
                draft,
                preview,
                problems,
                write_mode: target_env.mode,
                token,
            },
            source,
            target_request,
        })
    }
}

/// What the plan shown was made of: the source, the claim it updates in the target, and the
/// file it would write. A promotion confirmed with another plan's token is refused.
fn plan_token(
    source: &str,
    target: Option<&str>,
    preview: Option<&app::catalog::Preview>,
) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hash = Sha256::new();
    for part in [source, target.unwrap_or("-")] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    for file in preview.iter().flat_map(|p| &p.files) {
        hash.update(file.path.as_bytes());
        hash.update([0]);
        hash.update(file.content.as_bytes());
        hash.update([0]);
    }
    format!("{:x}", hash.finalize())
}

/// Whether a request is over without reaching the branch (or was withdrawn).
fn ended(stage: Stage) -> bool {
    matches!(stage, Stage::Failed | Stage::Rejected | Stage::Closed)
}

/// A live status that is not Ready, with its root cause.
fn live_words(environment: &str, live: &LiveStatus) -> String {
    let mut words = format!("{} in {environment}", health_words(&live.health));
    if let Some(at) = &live.cause_in {
        words.push_str(&format!(", in {at}"));
    }
    if let Some(message) = &live.health.message {
        words.push_str(&format!(": {message}"));
    }
    if live.health.state == HealthState::Stale {
        words.push_str(" (the cluster cannot be reached; status as last seen)");
    }
    words
}

fn kind_words(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Failed => "Failed",
        EventKind::ApplyFailed => "Apply failed",
        EventKind::Reconciling => "Reconciling",
        EventKind::Deleted => "Deleted",
        _ => "Changed",
    }
}

/// Every leaf of `values` by dotted path (lists are leaves).
fn leaves(values: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match values {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(value, &path, out);
            }
        }
        Value::Null => {}
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

#[async_trait]
impl PromotionPort for PromotionService {
    async fn plan(
        &self,
        actor: &CurrentUser,
        of: &str,
        target: &str,
    ) -> Result<PromotionPlan, AppError> {
        Ok(self.planned(actor, of, target).await?.plan)
    }

    async fn promote(
        &self,
        actor: &CurrentUser,
        of: &str,
        target: &str,
        token: Option<&str>,
    ) -> Result<Submitted, AppError> {
        let Planned {
            plan,
            source,
            target_request,
        } = self.planned(actor, of, target).await?;
        let refused: Vec<&GateCheck> = plan.gates.iter().filter(|g| !g.passed).collect();
        if !refused.is_empty() {
            let gates: Vec<(&str, &str)> = refused
                .iter()
                .map(|g| (g.gate.as_str(), g.detail.as_str()))
                .collect();
            store::refuse_promotion(&self.db, &source, &plan.target, &gates, actor).await?;
            for check in &refused {
                self.telemetry.promotion_refused(check.gate.as_str());
            }
            return Err(AppError::Invalid(format!(
                "Promotion of {} from {} to {} refused: {}.",
                source.name,
                source.environment,
                plan.target,
                refused
                    .iter()
                    .map(|g| format!("{} gate: {}", g.gate.as_str(), g.detail))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        if token.is_some_and(|t| t != plan.token) {
            return Err(AppError::Conflict(format!(
                "{} changed since this plan was shown (a newer request in {}, new values in {}, or a new offering); review the new plan and confirm again.",
                source.name, source.environment, plan.target
            )));
        }
        let submitted = match &target_request {
            Some(there) => {
                self.requests
                    .change(
                        actor,
                        &there.id,
                        Action::Update,
                        Some(&plan.draft),
                        Some(&source.id),
                    )
                    .await
            }
            None => {
                self.requests
                    .create(actor, &plan.draft, Some(&source.id), None)
                    .await
            }
        };
        if submitted.is_ok() {
            self.telemetry.promoted(&plan.target);
        }
        submitted
    }

    async fn across(&self, actor: &CurrentUser, of: &str) -> Result<ClaimAcross, AppError> {
        let row = self.requests.visible(actor, of).await?;
        let history =
            store::claim_everywhere(&self.db, &row.team, &row.offering, &row.name, CLAIM_HISTORY)
                .await?;
        let mut stages = Vec::new();
        let mut values_of: Vec<Option<BTreeMap<String, Value>>> = Vec::new();
        for environment in self.environments.iter() {
            let latest = history.iter().find(|r| r.environment == environment.name);
            let in_branch = history
                .iter()
                .find(|r| r.environment == environment.name && r.state.in_branch());
            let live = in_branch.and_then(|r| self.watch.claim_status(&environment.name, &r.id));
            values_of.push(in_branch.filter(|r| r.action != Action::Delete).map(|r| {
                let mut flat = BTreeMap::new();
                leaves(&r.values(), "", &mut flat);
                flat
            }));
            stages.push(ClaimStage {
                environment: environment.name.clone(),
                promote_from: environment.promote_from.clone(),
                request: latest.map(summary),
                live,
                differs: Vec::new(),
                promotes_to: if in_branch.is_some_and(|r| r.action != Action::Delete) {
                    self.environments
                        .promotes_to(&environment.name)
                        .iter()
                        .map(|e| e.name.clone())
                        .collect()
                } else {
                    Vec::new()
                },
            });
        }
        // Values not the same in every environment that has the claim.
        let present: Vec<&BTreeMap<String, Value>> = values_of.iter().flatten().collect();
        let paths: BTreeSet<&String> = present.iter().flat_map(|m| m.keys()).collect();
        for path in paths {
            let first = present.first().and_then(|m| m.get(path));
            if present.iter().all(|m| m.get(path) == first) {
                continue;
            }
            for (stage, values) in stages.iter_mut().zip(&values_of) {
                if let Some(values) = values {
                    stage.differs.push(Difference {
                        path: path.clone(),
                        value: values
                            .get(path)
                            .map_or_else(|| "—".to_owned(), Value::to_string),
                    });
                }
            }
        }
        // The chain: the sources up to the first environment, this request, then what was
        // promoted from it (and from those).
        let mut lineage = Vec::new();
        let mut at = row.promoted_from.clone();
        while let Some(id) = at.take() {
            if lineage.len() >= 32 {
                break;
            }
            match store::get(&self.db, &id).await? {
                Some(source) if source.team == row.team => {
                    at = source.promoted_from.clone();
                    lineage.push(summary(&source));
                }
                _ => break,
            }
        }
        lineage.reverse();
        lineage.push(summary(&row));
        let mut next = vec![row.id.clone()];
        while let Some(id) = next.pop() {
            if lineage.len() >= 64 {
                break;
            }
            for child in store::promoted_from(&self.db, &id).await? {
                if child.team != row.team {
                    continue;
                }
                next.push(child.id.clone());
                lineage.push(summary(&child));
            }
        }
        Ok(ClaimAcross { stages, lineage })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::leaves;

    #[test]
    fn values_are_compared_leaf_by_leaf() {
        let mut out = std::collections::BTreeMap::new();
        leaves(
            &json!({"size": "s", "backup": {"window": "03:00", "days": [1, 2]}, "none": null}),
            "",
            &mut out,
        );
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            ["backup.days", "backup.window", "size"]
        );
    }
}
