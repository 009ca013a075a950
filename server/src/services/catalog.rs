//! The catalog service: who sees which offering, previews against the repository, drafts.
//!
//! ```text
//!  refresh loop ──every N s──▶ FileSource (the catalog's shared clone | folder)
//!                                ──changed?──▶ Catalog::replace
//!  server fns ──▶ CatalogService ──▶ Catalog snapshot (search, get)
//!                               └──▶ validate → render → Environment (place, clone) → diff
//! ```
//! A preview fetches the environment's repository when its clone is older than a few
//! seconds, joining a fetch already under way, and waits for it only briefly: a remote that
//! does not answer makes the preview say so, never hang.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use app::catalog::{
    CatalogFilter, CatalogPage, DiffLine, ENVIRONMENT_PATH, FieldError, FileChange, OfferingDetail,
    Preview, PreviewFile, RequestDraft, SavedDraft, TEAM_PATH,
};
use app::domain::CurrentUser;
use app::error::AppError;
use app::ports::CatalogPort;
use async_trait::async_trait;

use crate::catalog::render::{self, Stamp};
use crate::catalog::source::FileSource;
use crate::catalog::{Catalog, Feed, Offering};
use crate::config::CatalogSettings;
use crate::db::requests::ClusterName;
use crate::db::{self, Db};
use crate::environment::{Environment, Environments};
use crate::git::clone::{SharedClone, Stale};
use crate::policy::{Policies, Subject, Verdict};
use crate::teams::Namespaces;
use crate::time::rfc3339;

/// Previews fetch the repository at most this often.
pub const FETCH_EVERY: Duration = Duration::from_secs(5);

/// The longest a page waits for a fetch (it goes on in the background after that).
pub const FETCH_WAIT: Duration = Duration::from_secs(3);

/// The largest draft stored.
const MAX_DRAFT_BYTES: usize = 256 * 1024;

/// Implements [`CatalogPort`].
pub struct CatalogService {
    db: Db,
    catalog: Arc<Catalog>,
    environments: Arc<Environments>,
    settings: CatalogSettings,
    namespaces: Namespaces,
    files: FileSource,
    last_fingerprint: Mutex<Option<String>>,
    /// The policies in force, and whether a good file (or none) was ever loaded.
    policies: RwLock<(Arc<Policies>, bool)>,
    /// Whether the offering files were loaded once, and else why the last try failed: until
    /// then the portal is not ready (a replica just started would answer every form 404).
    loaded: RwLock<(bool, Option<String>)>,
}

/// A checked and rendered draft, with what the policies ask of it beyond its values.
pub struct Prepared {
    /// The offering.
    pub offering: Offering,
    /// The file it writes.
    pub rendered: render::Rendered,
    /// The claim limit and approvals that apply (its refusals were already returned).
    pub verdict: Verdict,
}

impl CatalogService {
    /// A service over `catalog`, reading offering files as `settings` say (a folder, or the
    /// catalog folder of the repository's shared clone) and previews from the environments.
    pub fn new(
        db: Db,
        catalog: Arc<Catalog>,
        settings: CatalogSettings,
        namespaces: Namespaces,
        environments: Arc<Environments>,
    ) -> Self {
        let files = match &settings.dir {
            Some(dir) => FileSource::Dir(dir.clone()),
            None => FileSource::Git {
                clone: environments.catalog_clone().clone(),
                branch: settings.branch.clone(),
                dir: settings.path.clone(),
            },
        };
        CatalogService {
            db,
            catalog,
            environments,
            settings,
            namespaces,
            files,
            last_fingerprint: Mutex::new(None),
            policies: RwLock::new((
                Arc::new(Policies::closed(
                    "the catalog's policies have not been loaded yet".into(),
                )),
                false,
            )),
            loaded: RwLock::new((false, None)),
        }
    }

    /// `Ok` once the offering files were loaded (since then a failed refresh keeps the last
    /// catalog); before that, what is missing in words, for `/readyz`.
    pub fn readiness(&self) -> Result<(), String> {
        match &*self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            (true, _) => Ok(()),
            (false, None) => Err("The catalog is not loaded yet.".into()),
            (false, Some(error)) => Err(format!("The catalog could not be loaded: {error}")),
        }
    }

    fn loaded_lock(&self) -> std::sync::RwLockWriteGuard<'_, (bool, Option<String>)> {
        self.loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The environment a draft names, when it is configured.
    fn environment(&self, name: &str) -> Result<&Arc<Environment>, AppError> {
        self.environments
            .get(name)
            .ok_or_else(|| AppError::NotFound(format!("The environment {name:?}")))
    }

    /// The catalog this service reads.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Reloads offering files if their source changed (fetching the repository first).
    /// Errors leave the catalog as it was.
    pub async fn refresh_files(&self) -> anyhow::Result<bool> {
        let refreshed = self.load_files().await;
        if let Err(error) = &refreshed {
            self.loaded_lock().1 = Some(format!("{error:#}"));
        }
        refreshed
    }

    async fn load_files(&self) -> anyhow::Result<bool> {
        if let FileSource::Git { clone, .. } = &self.files {
            clone
                .refresh(Duration::ZERO, Duration::from_secs(3600))
                .await
                .map_err(|e| anyhow::anyhow!("fetching the catalog's repository: {e}"))?;
        }
        let files = self.files.clone();
        let environments = self.environments.names();
        let previous = self.last_fingerprint.lock().expect("lock").clone();
        let names = environments.clone();
        let loaded = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let environments = names;
            let fingerprint = files.fingerprint()?;
            if previous.as_deref() == Some(fingerprint.as_str()) {
                return Ok(None);
            }
            Ok(Some(files.load(&environments, fingerprint)?))
        })
        .await??;
        let Some(loaded) = loaded else {
            return Ok(false);
        };
        self.apply(loaded);
        Ok(true)
    }

    /// Puts what a load of the offering files produced in force: the offerings, and the
    /// policy file (see [`Self::load_policies`]).
    pub fn apply(&self, loaded: crate::catalog::source::Loaded) {
        let mut problems = loaded.problems;
        if let Some(problem) = self.load_policies(loaded.policies, &self.environments.names()) {
            problems.push(problem);
        }
        for problem in &problems {
            tracing::warn!(%problem, "offering file left out of the catalog");
        }
        tracing::info!(
            offerings = loaded.offerings.len(),
            problems = problems.len(),
            "catalog files loaded"
        );
        self.catalog
            .replace(Feed::Files, loaded.offerings, problems);
        *self.last_fingerprint.lock().expect("lock") = Some(loaded.fingerprint);
        *self.loaded_lock() = (true, None);
    }

    /// Puts the loaded policy file in force. A file that does not parse keeps the last good
    /// policies (or, with none yet, refuses every submission); the problem is returned for
    /// administrators.
    fn load_policies(
        &self,
        file: Option<Result<String, String>>,
        environments: &[String],
    ) -> Option<String> {
        let parsed = match file {
            None => Ok(Policies::none()),
            Some(Ok(text)) => Policies::parse(&text, environments)
                .map_err(|e| format!("{}: {e}", crate::policy::FILE_NAMES[0])),
            Some(Err(problem)) => Err(problem),
        };
        let mut slot = self.policies.write().expect("policies lock");
        match parsed {
            Ok(policies) => {
                tracing::info!(policies = policies.all().len(), "policies loaded");
                *slot = (Arc::new(policies), true);
                None
            }
            Err(problem) if slot.1 => {
                Some(format!("{problem}; the last good policies stay in force"))
            }
            Err(problem) => {
                *slot = (Arc::new(Policies::closed(problem.clone())), false);
                Some(format!(
                    "{problem}; nothing can be requested until it is fixed"
                ))
            }
        }
    }

    /// The policies in force.
    pub fn policies(&self) -> Arc<Policies> {
        self.policies.read().expect("policies lock").0.clone()
    }

    /// Refreshes the files now and then every `refresh` interval, until the task is dropped.
    pub fn spawn_refresh(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(service.settings.refresh);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(error) = service.refresh_files().await {
                    tracing::warn!(error = %format!("{error:#}"), "catalog refresh failed; keeping the last catalog");
                }
            }
        })
    }

    fn visible(actor: &CurrentUser, offering: &Offering) -> bool {
        actor.is_admin
            || offering.teams.is_empty()
            || actor.teams.iter().any(|t| offering.allows_team(t))
    }

    /// The offering `id` if the actor may see it.
    pub fn find(&self, actor: &CurrentUser, id: &str) -> Result<Offering, AppError> {
        let snapshot = self.catalog.snapshot();
        snapshot
            .get(id)
            .filter(|o| Self::visible(actor, o))
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("The offering {id:?}")))
    }

    /// Checks the team and environment a draft names, then its name and values.
    fn check(
        &self,
        actor: &CurrentUser,
        offering: &Offering,
        draft: &RequestDraft,
    ) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !offering.summary.environments.contains(&draft.environment) {
            errors.push(FieldError {
                path: ENVIRONMENT_PATH.into(),
                message: format!(
                    "Choose one of the environments this offering is available in: {}.",
                    offering.summary.environments.join(", ")
                ),
            });
        }
        let member = actor.teams.contains(&draft.team)
            || (actor.is_admin && app::catalog::check_name(&draft.team).is_ok());
        if !member {
            errors.push(FieldError {
                path: TEAM_PATH.into(),
                message: "Choose one of your teams.".into(),
            });
        } else if !offering.allows_team(&draft.team) {
            errors.push(FieldError {
                path: TEAM_PATH.into(),
                message: format!(
                    "This offering is available to {} only.",
                    offering.teams.join(", ")
                ),
            });
        } else if let Err(message) = self.namespaces.of(&draft.team) {
            errors.push(FieldError {
                path: TEAM_PATH.into(),
                message,
            });
        }
        errors.extend(offering.validate(&draft.name, &draft.values));
        errors
    }

    /// Checks a draft (every problem at its field) and renders the file it would write,
    /// stamped with `request_id`.
    pub fn prepare(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
        request_id: &str,
    ) -> Result<Prepared, AppError> {
        let offering = self.find(actor, &draft.offering)?;
        let errors = self.check(actor, &offering, draft);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        // Policies judge the claim as the cluster will store it (defaults applied), and only
        // values the schema accepts (its bounds also bound what a policy rule iterates over).
        let stored = offering.as_stored(&draft.values).0;
        let mut verdict = self.policies().check(&Subject {
            environment: &draft.environment,
            offering: &draft.offering,
            team: &draft.team,
            name: &draft.name,
            values: Some(&stored),
            user: actor,
        });
        if !verdict.errors.is_empty() {
            return Err(AppError::Validation(std::mem::take(&mut verdict.errors)));
        }
        let namespace = self.namespaces.of(&draft.team).map_err(AppError::Invalid)?;
        let environment = self.environment(&draft.environment)?;
        let refused = |e: render::RenderError| {
            tracing::warn!(offering = %draft.offering, error = %e, "an offering failed to render");
            AppError::Invalid(format!("This offering could not be rendered: {e}"))
        };
        let mut rendered = render::render(
            &offering,
            draft,
            &Stamp {
                request_id,
                user: actor,
                namespace,
            },
        )
        .map_err(refused)?;
        rendered.path = environment.place(&rendered.path);
        // Whatever the template says, a team writes into its own folder of the environment
        // and its own namespace (or one the offering names literally): never another team's.
        let folder = environment.team_folder(&draft.team);
        if !rendered.path.starts_with(&format!("{folder}/")) {
            return Err(refused(render::RenderError(format!(
                "the path {} is outside the team's folder {folder}/",
                rendered.path
            ))));
        }
        render::check_namespaces(&offering, &rendered.manifests, namespace).map_err(refused)?;
        Ok(Prepared {
            offering,
            rendered,
            verdict,
        })
    }

    /// The head of `environment`'s branch and the file at `path` there, as its clone last
    /// fetched them.
    pub async fn current_file(
        &self,
        environment: &str,
        path: &str,
    ) -> Result<(Option<String>, Option<String>), AppError> {
        let environment = self.environment(environment)?;
        let (clone, branch) = (environment.clone.clone(), environment.branch.clone());
        let path = path.to_owned();
        let (base, current) = crate::error::joined(
            tokio::task::spawn_blocking(move || -> crate::git::Result<_> {
                clone.file_at_tip(&branch, &path)
            })
            .await,
        )??;
        Ok((
            base,
            current.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        ))
    }

    /// The file, other than `except` in `environment`, that holds the cluster-scoped object
    /// `key` in the folder of any environment reconciling in the same cluster, as their
    /// clones last fetched them: a name someone already uses, by a request or by hand.
    pub async fn object_elsewhere(
        &self,
        environment: &str,
        key: &ClusterName,
        except: &str,
    ) -> Result<Option<String>, AppError> {
        let cluster = self.environment(environment)?.cluster_key().to_owned();
        let places: Vec<(Arc<SharedClone>, String, String, bool)> = self
            .environments
            .iter()
            .filter(|e| e.cluster_key() == cluster)
            .map(|e| {
                (
                    e.clone.clone(),
                    e.branch.clone(),
                    e.place(&e.name),
                    e.name == environment,
                )
            })
            .collect();
        let key = key.clone();
        let except = except.to_owned();
        crate::error::joined(
            tokio::task::spawn_blocking(move || -> crate::git::Result<Option<String>> {
                let needle = |content: &[u8], text: &str| {
                    content.windows(text.len()).any(|w| w == text.as_bytes())
                };
                for (clone, branch, root, own) in places {
                    let files = clone.files_under(&branch, &root, render::MAX_FILE_BYTES, |c| {
                        needle(c, &key.name) && needle(c, &key.kind)
                    })?;
                    let found = files.into_iter().find_map(|(path, content)| {
                        let text = String::from_utf8_lossy(&content);
                        let holds = serde_saphyr::from_multiple::<serde_json::Value>(&text)
                            .ok()?
                            .iter()
                            .any(|doc| {
                                let text =
                                    |p: &str| doc.pointer(p).and_then(serde_json::Value::as_str);
                                text("/apiVersion")
                                    .map(|v| v.rsplit_once('/').map_or("", |(g, _)| g))
                                    == Some(key.api_group.as_str())
                                    && text("/kind") == Some(key.kind.as_str())
                                    && text("/metadata/name") == Some(key.name.as_str())
                            });
                        (holds && !(own && path == except)).then_some(path)
                    });
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                Ok(None)
            })
            .await,
        )?
        .map_err(AppError::from)
    }

    /// Brings `environment`'s clone up to date unless it was fetched within `max_age`,
    /// waiting at most [`FETCH_WAIT`]; `Unavailable` when the remote fails or is slow.
    pub async fn refresh(&self, environment: &str, max_age: Duration) -> Result<(), AppError> {
        let environment = self.environment(environment)?;
        environment
            .clone
            .refresh(max_age, FETCH_WAIT)
            .await
            .map_err(|stale| {
                match &stale {
                    Stale::Failed(error) => {
                        tracing::warn!(%error, "fetching the GitOps repository failed")
                    }
                    Stale::Slow => tracing::warn!("the GitOps repository is slow to answer"),
                }
                AppError::Unavailable("The GitOps repository".into())
            })
    }
}

/// The diff of `old` → `new` as lines with three lines of context around changes.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            out.push(DiffLine {
                sign: '…',
                text: String::new(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                out.push(DiffLine {
                    sign,
                    text: change.value().trim_end_matches('\n').to_owned(),
                });
            }
        }
    }
    out
}

#[async_trait]
impl CatalogPort for CatalogService {
    async fn list(
        &self,
        actor: &CurrentUser,
        filter: &CatalogFilter,
    ) -> Result<CatalogPage, AppError> {
        let snapshot = self.catalog.snapshot();
        let mut page = snapshot.search(filter, &self.environments.names(), |o| {
            Self::visible(actor, o)
        });
        if actor.is_admin {
            page.problems = snapshot.problems().to_vec();
        }
        Ok(page)
    }

    async fn get(&self, actor: &CurrentUser, id: &str) -> Result<OfferingDetail, AppError> {
        let offering = self.find(actor, id)?;
        let my_teams = actor
            .teams
            .iter()
            .filter(|t| offering.allows_team(t))
            .cloned()
            .collect();
        Ok(OfferingDetail {
            summary: offering.summary.clone(),
            form: (*offering.form).clone(),
            namespaced: offering.namespaced,
            teams: offering.teams.clone(),
            my_teams,
            notes: offering.notes.clone(),
            policies: self
                .policies()
                .for_offering(id)
                .into_iter()
                .map(|p| app::catalog::PolicyNote {
                    name: p.name.clone(),
                    description: p.description.clone(),
                    environments: p.scope.environments.clone(),
                    teams: p.scope.teams.clone(),
                    asks: p.describe(),
                })
                .collect(),
        })
    }

    async fn schema(&self, actor: &CurrentUser, id: &str) -> Result<serde_json::Value, AppError> {
        Ok(self.find(actor, id)?.structural.as_ref().clone())
    }

    async fn preview(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<Preview, AppError> {
        let prepared = self.prepare(actor, draft, "assigned-on-submit")?;
        let cluster_fills = prepared.offering.as_stored(&draft.values).1;
        let rendered = prepared.rendered;
        self.refresh(&draft.environment, FETCH_EVERY).await?;
        let (base, current) = self
            .current_file(&draft.environment, &rendered.path)
            .await?;
        let (change, diff) = match &current {
            None => (FileChange::New, diff_lines("", &rendered.content)),
            Some(old) if *old == rendered.content => (FileChange::Unchanged, vec![]),
            Some(old) => (FileChange::Changed, diff_lines(old, &rendered.content)),
        };
        Ok(Preview {
            files: vec![PreviewFile {
                path: rendered.path,
                content: rendered.content,
                change,
                diff,
            }],
            base: base
                .map(|b| b[..b.len().min(12)].to_owned())
                .unwrap_or_default(),
            cluster_fills,
        })
    }

    async fn save_draft(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<SavedDraft, AppError> {
        let offering = self.find(actor, &draft.offering)?;
        // A secret typed into the form is never stored, not even as a draft.
        let mut draft = draft.clone();
        offering.secrets.scrub(&mut draft.values);
        let draft = &draft;
        let body = serde_json::to_string(draft)
            .map_err(|e| crate::error::internal("encoding a draft", &e))?;
        if body.len() > MAX_DRAFT_BYTES {
            return Err(AppError::Invalid(format!(
                "A draft can hold at most {} KiB.",
                MAX_DRAFT_BYTES / 1024
            )));
        }
        let at = db::drafts::save(&self.db, &actor.id, &draft.offering, &body).await?;
        Ok(SavedDraft {
            draft: draft.clone(),
            saved_at: rfc3339(at),
        })
    }

    async fn load_draft(
        &self,
        actor: &CurrentUser,
        offering: &str,
    ) -> Result<Option<SavedDraft>, AppError> {
        self.find(actor, offering)?;
        let Some(row) = db::drafts::get(&self.db, &actor.id, offering).await? else {
            return Ok(None);
        };
        let mut draft: RequestDraft = serde_json::from_str(&row.body)
            .map_err(|e| crate::error::internal("reading a stored draft", &e))?;
        // Drafts saved before a field became secret may hold what it must not show.
        if let Ok(offering) = self.find(actor, offering) {
            offering.secrets.scrub(&mut draft.values);
        }
        Ok(Some(SavedDraft {
            draft,
            saved_at: rfc3339(row.updated_at),
        }))
    }

    async fn discard_draft(&self, actor: &CurrentUser, offering: &str) -> Result<(), AppError> {
        Ok(db::drafts::delete(&self.db, &actor.id, offering).await?)
    }
}
