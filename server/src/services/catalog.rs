//! The catalog service: who sees which offering, previews against the repository, drafts.
//!
//! ```text
//!  refresh loop ──every N s──▶ FileSource (Git mirror | folder) ──changed?──▶ Catalog::replace
//!  server fns ──▶ CatalogService ──▶ Catalog snapshot (search, get)
//!                               └──▶ validate → render → Mirror::read → diff (preview)
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
use crate::db::{self, Db};
use crate::git::Mirror;
use crate::services::audit::rfc3339;

/// Previews fetch the repository at most this often.
const FETCH_EVERY: Duration = Duration::from_secs(5);

/// The largest draft stored.
const MAX_DRAFT_BYTES: usize = 256 * 1024;

/// Implements [`CatalogPort`].
pub struct CatalogService {
    db: Db,
    catalog: Arc<Catalog>,
    settings: CatalogSettings,
    files: FileSource,
    last_fingerprint: Mutex<Option<String>>,
    /// Where each environment's files live; `default` for environments not configured.
    routes: HashMap<String, Route>,
    default: Route,
}

/// When a mirror was last fetched (shared by the environments reading it).
type LastFetch = Arc<Mutex<Option<Instant>>>;

/// An environment's repository as previews and edits read it.
#[derive(Clone)]
struct Route {
    mirror: Mirror,
    branch: String,
    prefix: String,
    last_fetch: LastFetch,
}

impl CatalogService {
    /// A service over `catalog`, reading files and previews as `settings` say, each
    /// environment's files in its own repository (`environments`; others: the catalog's).
    pub fn new(
        db: Db,
        catalog: Arc<Catalog>,
        settings: CatalogSettings,
        environments: &[(String, crate::config::EnvironmentGit)],
    ) -> Self {
        // One mirror (and one fetch lock, one throttle) per repository URL.
        let mut by_url: HashMap<String, (Mirror, LastFetch)> = HashMap::new();
        let mut mirror_of = |url: &str, credentials: &crate::git::Credentials| {
            by_url
                .entry(url.to_owned())
                .or_insert_with(|| {
                    let mirror = Mirror::new(
                        url.to_owned(),
                        settings.cache_dir.join(format!("{}.git", mirror_name(url))),
                    )
                    .with_credentials(credentials.clone());
                    (mirror, Arc::default())
                })
                .clone()
        };
        let (mirror, last_fetch) = mirror_of(&settings.repo_url, &settings.credentials);
        let default = Route {
            mirror: mirror.clone(),
            branch: settings.branch.clone(),
            prefix: String::new(),
            last_fetch,
        };
        let routes = environments
            .iter()
            .map(|(name, git)| {
                let (mirror, last_fetch) = mirror_of(&git.target.url, &git.target.credentials);
                let route = Route {
                    mirror,
                    branch: git.target.branch.clone(),
                    prefix: git.prefix.clone(),
                    last_fetch,
                };
                (name.clone(), route)
            })
            .collect();
        let files = match &settings.dir {
            Some(dir) => FileSource::Dir(dir.clone()),
            None => FileSource::Git {
                mirror,
                branch: settings.branch.clone(),
                dir: settings.repo_path.clone(),
            },
        };
        CatalogService {
            db,
            catalog,
            settings,
            files,
            last_fingerprint: Mutex::new(None),
            routes,
            default,
        }
    }

    fn route(&self, environment: &str) -> &Route {
        self.routes.get(environment).unwrap_or(&self.default)
    }

    /// The catalog this service reads.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Reloads offering files if their source changed. Errors leave the catalog as it was.
    pub async fn refresh_files(&self) -> anyhow::Result<bool> {
        let files = self.files.clone();
        let environments = self.settings.environments.clone();
        let previous = self.last_fingerprint.lock().expect("lock").clone();
        let loaded = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
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
        for problem in &loaded.problems {
            tracing::warn!(%problem, "offering file left out of the catalog");
        }
        tracing::info!(
            offerings = loaded.offerings.len(),
            problems = loaded.problems.len(),
            "catalog files loaded"
        );
        self.catalog
            .replace(Feed::Files, loaded.offerings, loaded.problems);
        *self.last_fingerprint.lock().expect("lock") = Some(loaded.fingerprint);
        Ok(true)
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
    fn check(actor: &CurrentUser, offering: &Offering, draft: &RequestDraft) -> Vec<FieldError> {
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
    ) -> Result<(Offering, render::Rendered), AppError> {
        let offering = self.find(actor, &draft.offering)?;
        let errors = Self::check(actor, &offering, draft);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let mut rendered = render::render(
            &offering,
            draft,
            &Stamp {
                request_id,
                user: actor,
                namespace: &draft.team,
            },
        )
        .map_err(|e| {
            tracing::warn!(offering = %draft.offering, error = %e, "an offering failed to render");
            AppError::Invalid(format!("This offering could not be rendered: {e}"))
        })?;
        let prefix = &self.route(&draft.environment).prefix;
        if !prefix.is_empty() {
            rendered.path = format!("{prefix}/{}", rendered.path);
        }
        Ok((offering, rendered))
    }

    /// The head of `environment`'s branch and the file at `path` there, as its mirror last
    /// fetched them.
    pub async fn current_file(
        &self,
        environment: &str,
        path: &str,
    ) -> Result<(Option<String>, Option<String>), AppError> {
        let route = self.route(environment);
        let mirror = route.mirror.clone();
        let branch = route.branch.clone();
        let path = path.to_owned();
        let (base, current) = tokio::task::spawn_blocking(move || -> crate::git::Result<_> {
            if !mirror.path().join("HEAD").exists() {
                return Ok((None, None));
            }
            Ok((mirror.head(&branch)?, mirror.read(&branch, &path)?))
        })
        .await
        .map_err(|e| internal(&e))?
        .map_err(|e| internal(&e))?;
        Ok((
            base,
            current.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        ))
    }

    /// Fetches the repository unless it was fetched moments ago; `Unavailable` when it
    /// cannot be reached.
    pub async fn fetch_throttled(&self, environment: &str) -> Result<(), AppError> {
        let due = self
            .route(environment)
            .last_fetch
            .lock()
            .expect("lock")
            .is_none_or(|at| at.elapsed() >= FETCH_EVERY);
        if !due {
            return Ok(());
        }
        self.fetch_now(environment).await
    }

    /// Fetches the repository now (an edit must start from the branch as it is, not as it
    /// was a few seconds ago); `Unavailable` when it cannot be reached.
    pub async fn fetch_now(&self, environment: &str) -> Result<(), AppError> {
        let route = self.route(environment);
        let mirror = route.mirror.clone();
        tokio::task::spawn_blocking(move || mirror.fetch())
            .await
            .map_err(|e| internal(&e))?
            .map_err(|error| {
                tracing::warn!(%error, "fetching the GitOps repository failed");
                AppError::Unavailable("The GitOps repository".into())
            })?;
        *route.last_fetch.lock().expect("lock") = Some(Instant::now());
        Ok(())
    }
}

/// A file-system-safe, stable name for a repository URL's mirror.
fn mirror_name(url: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(crate::config::redact_credentials(url).as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn internal(error: &dyn std::fmt::Display) -> AppError {
    crate::error::internal("catalog service failure", error)
}

fn db_error(error: db::Error) -> AppError {
    internal(&error)
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
        let mut page = snapshot.search(filter, &self.settings.environments, |o| {
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
        })
    }

    async fn preview(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<Preview, AppError> {
        let (_, rendered) = self.prepare(actor, draft, "assigned-on-submit")?;
        self.fetch_throttled(&draft.environment).await?;
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
        })
    }

    async fn save_draft(
        &self,
        actor: &CurrentUser,
        draft: &RequestDraft,
    ) -> Result<SavedDraft, AppError> {
        self.find(actor, &draft.offering)?;
        let body = serde_json::to_string(draft).map_err(|e| internal(&e))?;
        if body.len() > MAX_DRAFT_BYTES {
            return Err(AppError::Invalid(format!(
                "A draft can hold at most {} KiB.",
                MAX_DRAFT_BYTES / 1024
            )));
        }
        let at = db::drafts::save(&self.db, &actor.id, &draft.offering, &body)
            .await
            .map_err(db_error)?;
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
        let Some(row) = db::drafts::get(&self.db, &actor.id, offering)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let draft: RequestDraft = serde_json::from_str(&row.body).map_err(|e| internal(&e))?;
        Ok(Some(SavedDraft {
            draft,
            saved_at: rfc3339(row.updated_at),
        }))
    }

    async fn discard_draft(&self, actor: &CurrentUser, offering: &str) -> Result<(), AppError> {
        db::drafts::delete(&self.db, &actor.id, offering)
            .await
            .map_err(db_error)
    }
}
