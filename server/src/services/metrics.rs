//! The metrics service: dashboards scoped to the actor's teams, feedback, CSV export.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::CurrentUser;
use app::error::AppError;
use app::metrics::{Dashboard, MAX_COMMENT_CHARS, MetricsQuery, NewFeedback, PERIODS, SelfService};
use app::ports::MetricsPort;
use async_trait::async_trait;

use crate::db::metrics::{self as store, Scope};
use crate::db::{self, Db};
use crate::environment::Environments;
use crate::metrics::measures;
use crate::services::audit::csv_cell;
use crate::time::rfc3339;

/// How long a count of the repositories' history is reused.
const HISTORY_TTL: Duration = Duration::from_secs(60);

/// Dashboards computed at most once per scope, period and state of the data.
const COMPUTED_KEPT: usize = 256;

/// How much older (ms) than the period asked for a kept period may end and still be served
/// while that period's computation is in hand: periods end with the minute, so this is the
/// few minutes in which nobody read this dashboard.
const RECENT: i64 = 5 * 60_000;

/// What a computed dashboard depends on besides the data: the teams (`None`: all), the
/// offering, and the period `[from, to)`.
type ComputedKey = (Option<Vec<String>>, Option<String>, i64, i64);

/// Dashboards computed for the data as of one [`store::DataVersion`]; a change of it drops
/// them all.
#[derive(Default)]
struct Computed {
    version: Option<store::DataVersion>,
    dashboards: std::collections::HashMap<ComputedKey, Arc<Dashboard>>,
}

/// Implements [`MetricsPort`].
pub struct MetricsService {
    db: Db,
    environments: Arc<Environments>,
    history: Mutex<Option<(u32, Instant, SelfService)>>,
    computed: Mutex<Computed>,
    /// Held while computing, so that readers arriving together for a dashboard not yet
    /// computed wait for one computation instead of each making their own.
    computing: tokio::sync::Mutex<()>,
    /// Dashboards computed from the database since start.
    computations: AtomicU64,
    /// Readers waiting for a computation in hand.
    waiting: AtomicUsize,
    /// Where offering titles come from (ids are shown without it).
    catalog: Option<Arc<crate::services::catalog::CatalogService>>,
}

impl MetricsService {
    /// A service over `db`, counting commit origins in each environment repository's
    /// branch under the environments' folders.
    pub fn new(db: Db, environments: Arc<Environments>) -> Self {
        MetricsService {
            db,
            environments,
            history: Mutex::new(None),
            computed: Mutex::default(),
            computing: tokio::sync::Mutex::new(()),
            computations: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            catalog: None,
        }
    }

    /// The same service, naming offerings by their titles in `catalog`.
    pub fn with_titles(mut self, catalog: Arc<crate::services::catalog::CatalogService>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Dashboards computed from the database since start (the rest were served as kept).
    pub fn computations(&self) -> u64 {
        self.computations.load(Ordering::SeqCst)
    }

    /// Readers waiting now for a computation another reader has in hand.
    pub fn readers_waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Holds the computation slot as a reader computing would: readers of a dashboard not
    /// yet computed wait until the guard is dropped. For tests that force readers to arrive
    /// together.
    #[doc(hidden)]
    pub async fn hold_computing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.computing.lock().await
    }

    /// The scope `query` asks for, within what `actor` may see.
    fn scope(actor: &CurrentUser, query: &MetricsQuery) -> Result<Scope, AppError> {
        let team = query.team.as_deref().filter(|t| !t.is_empty());
        let teams = match team {
            Some(team) if actor.is_admin || actor.teams.iter().any(|t| t == team) => {
                Some(vec![team.to_owned()])
            }
            Some(team) => return Err(AppError::NotFound(format!("The team {team:?}"))),
            None if actor.is_admin => None,
            None => Some(actor.teams.clone()),
        };
        let offering = query.offering.clone().filter(|o| !o.is_empty());
        if offering.as_ref().is_some_and(|o| o.len() > 200) {
            return Err(AppError::Invalid("The offering id is too long.".into()));
        }
        Ok(Scope { teams, offering })
    }

    /// The dashboard of the period ending at `to` (Unix ms).
    pub async fn dashboard_until(
        &self,
        actor: &CurrentUser,
        query: &MetricsQuery,
        to: i64,
    ) -> Result<Dashboard, AppError> {
        let days = query.days();
        if !PERIODS.contains(&days) {
            return Err(AppError::Invalid(format!(
                "The period must be one of {PERIODS:?} days."
            )));
        }
        let scope = Self::scope(actor, query)?;
        let from = to - i64::from(days) * 86_400_000;
        if query.rows == Some(0) {
            return Err(AppError::Invalid(
                "Rows per table must be at least 1 (leave it out for every row).".into(),
            ));
        }
        let mut dashboard = Dashboard::clone(&*self.computed(&scope, from, to).await?);
        if let Some(rows) = query.rows {
            dashboard.cut_to(rows as usize);
        }
        dashboard.team = query.team.clone().filter(|t| !t.is_empty());
        dashboard.offering = scope.offering.clone();
        dashboard.teams_available = if actor.is_admin {
            store::team_names(&self.db).await?
        } else {
            actor.teams.clone()
        };
        if let Some(catalog) = &self.catalog {
            let named = dashboard
                .offerings
                .iter()
                .map(|g| &g.key)
                .chain(dashboard.promotions.iter().map(|p| &p.offering))
                .chain(dashboard.feedback.iter().map(|f| &f.offering))
                .chain(dashboard.offering.iter())
                .cloned()
                .collect::<std::collections::BTreeSet<String>>();
            dashboard.titles = named
                .into_iter()
                .filter_map(|id| Some((id.clone(), catalog.find(actor, &id).ok()?.summary.title)))
                .collect();
        }
        // Platform-wide: shown to administrators on the unfiltered dashboard only.
        if actor.is_admin && scope.teams.is_none() && scope.offering.is_none() {
            dashboard.summary.self_service = Some(self.self_service(days, from, to).await);
        }
        Ok(dashboard)
    }

    /// The measures of `[from, to)` within `scope`: computed from the database, or as computed
    /// before when nothing they depend on was written since (the data's version is read
    /// first, so a dashboard kept is never older than the version it is kept under).
    async fn computed(
        &self,
        scope: &Scope,
        from: i64,
        to: i64,
    ) -> Result<Arc<Dashboard>, AppError> {
        let key: ComputedKey = (scope.teams.clone(), scope.offering.clone(), from, to);
        let kept = |version| {
            let computed = self.computed_lock();
            (computed.version == Some(version))
                .then(|| computed.dashboards.get(&key).cloned())
                .flatten()
        };
        let version = store::data_version(&self.db).await?;
        if let Some(dashboard) = kept(version) {
            return Ok(dashboard);
        }
        let _computing = match self.computing.try_lock() {
            Ok(computing) => computing,
            Err(_) => {
                // A computation is in hand. When only the clock moved on since this period
                // was last computed (the same data), the figures of a minute ago are served
                // while it lasts, with their own period, instead of queueing every reader
                // behind it; new data is never answered with old figures.
                if let Some(dashboard) = self.recent(version, &key) {
                    return Ok(dashboard);
                }
                // Counted while queued, and uncounted even when the reader gives up (a
                // browser that left drops the future while it waits).
                let _queued = Queued::on(&self.waiting);
                self.computing.lock().await
            }
        };
        // Another reader may have computed it meanwhile, for data as new or newer.
        let version = store::data_version(&self.db).await?;
        if let Some(dashboard) = kept(version) {
            return Ok(dashboard);
        }
        self.computations.fetch_add(1, Ordering::SeqCst);
        let mut inputs = store::inputs(&self.db, scope, from, to).await?;
        inputs.last_stages = self
            .environments
            .iter()
            .filter(|e| self.environments.promotes_to(&e.name).is_empty())
            .map(|e| e.name.clone())
            .collect();
        let mut dashboard = measures::compute(&inputs, from, to);
        store::fill_examples(&self.db, scope, &mut dashboard.failures).await?;
        let dashboard = Arc::new(dashboard);
        let mut computed = self.computed_lock();
        if computed.version != Some(version) || computed.dashboards.len() >= COMPUTED_KEPT {
            computed.version = Some(version);
            computed.dashboards.clear();
        }
        computed.dashboards.insert(key, dashboard.clone());
        Ok(dashboard)
    }

    /// The newest dashboard kept for the data as of `version`, of the same scope and period
    /// length as `key`, whose period ended at most [`RECENT`] before `key`'s.
    fn recent(&self, version: store::DataVersion, key: &ComputedKey) -> Option<Arc<Dashboard>> {
        let (teams, offering, from, to) = key;
        let computed = self.computed_lock();
        if computed.version != Some(version) {
            return None;
        }
        computed
            .dashboards
            .iter()
            .filter(|((t, o, f, e), _)| {
                t == teams && o == offering && e - f == to - from && *e < *to && to - e <= RECENT
            })
            .max_by_key(|((_, _, _, e), _)| *e)
            .map(|(_, dashboard)| dashboard.clone())
    }

    fn computed_lock(&self) -> std::sync::MutexGuard<'_, Computed> {
        self.computed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn self_service(&self, days: u32, from: i64, to: i64) -> SelfService {
        if let Some((cached_days, at, value)) = &*self.lock()
            && *cached_days == days
            && at.elapsed() < HISTORY_TTL
        {
            return value.clone();
        }
        let mut share = SelfService::default();
        for (writer, folders) in self.environments.folders_by_writer() {
            let repository = writer.key().to_owned();
            let clone = writer.clone_of().clone();
            let branch = writer.branch().to_owned();
            let counted = tokio::task::spawn_blocking(move || {
                clone.commit_origins(&branch, from, to, &folders)
            })
            .await;
            match counted {
                Ok(Ok((ours, theirs))) => {
                    share.through_slipway += ours;
                    share.out_of_band += theirs;
                }
                Ok(Err(error)) => {
                    tracing::warn!(error = %format!("{error:#}"), %repository, "counting commit origins failed");
                    share.unreadable.push(repository);
                }
                Err(error) => {
                    tracing::warn!(%error, %repository, "counting commit origins panicked");
                    share.unreadable.push(repository);
                }
            }
        }
        let total = share.through_slipway + share.out_of_band;
        share.share = (total > 0).then(|| share.through_slipway as f64 / total as f64);
        if share.unreadable.is_empty() {
            *self.lock() = Some((days, Instant::now(), share.clone()));
        }
        share
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u32, Instant, SelfService)>> {
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl MetricsPort for MetricsService {
    async fn dashboard(
        &self,
        actor: &CurrentUser,
        query: &MetricsQuery,
    ) -> Result<Dashboard, AppError> {
        // Periods end with the current minute, so that everyone reading a dashboard within
        // that minute, with no new data, is served the same computed figures.
        let to = (db::now_ms() / 60_000 + 1) * 60_000;
        self.dashboard_until(actor, query, to).await
    }

    async fn rate(&self, actor: &CurrentUser, feedback: &NewFeedback) -> Result<(), AppError> {
        if !(1..=5).contains(&feedback.rating) {
            return Err(AppError::Invalid("The rating must be 1 to 5.".into()));
        }
        let comment = feedback.comment.trim();
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(AppError::Invalid(format!(
                "The comment is longer than {MAX_COMMENT_CHARS} characters."
            )));
        }
        let not_found = || AppError::NotFound(format!("The request {:?}", feedback.request_id));
        let request = db::requests::get(&self.db, &feedback.request_id)
            .await?
            .filter(|r| actor.is_admin || actor.teams.contains(&r.team))
            .ok_or_else(not_found)?;
        if request.requested_by != actor.id {
            return Err(AppError::Forbidden(
                "rate a request someone else made".into(),
            ));
        }
        if !store::was_ready(&self.db, &request.id).await? {
            return Err(AppError::Invalid(
                "An offering can be rated once the request has been Ready.".into(),
            ));
        }
        Ok(store::rate(
            &self.db,
            store::Rated {
                request_id: &request.id,
                team: &request.team,
                offering: &request.offering,
            },
            &actor.id,
            feedback.rating,
            comment,
            db::now_ms(),
        )
        .await?)
    }
}

/// One table of `dashboard` as CSV (`table` is one of [`app::metrics::TABLES`]); `None` for
/// an unknown table. Durations in milliseconds, shares as fractions, times RFC 3339; cells
/// a spreadsheet would run as formulas are defused.
pub fn to_csv(dashboard: &Dashboard, table: &str) -> Option<Result<Vec<u8>, csv::Error>> {
    fn opt<T: ToString>(value: Option<T>) -> String {
        value.map(|v| v.to_string()).unwrap_or_default()
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    match table {
        "weeks" => {
            rows.push(
                [
                    "week_start",
                    "requests",
                    "active_users",
                    "active_teams",
                    "deployments",
                    "failures",
                ]
                .map(String::from)
                .to_vec(),
            );
            for w in &dashboard.weeks {
                rows.push(vec![
                    rfc3339(w.start),
                    w.requests.to_string(),
                    w.active_users.to_string(),
                    w.active_teams.to_string(),
                    w.deployments.to_string(),
                    w.failures.to_string(),
                ]);
            }
        }
        "offerings" | "teams" | "environments" => {
            let (name, groups) = match table {
                "offerings" => ("offering", &dashboard.offerings),
                "teams" => ("team", &dashboard.teams),
                _ => ("environment", &dashboard.environments),
            };
            rows.push(
                [
                    name,
                    "requests",
                    "succeeded",
                    "failed",
                    "ready_p50_ms",
                    "ready_p90_ms",
                    "rating",
                    "ratings",
                ]
                .map(String::from)
                .to_vec(),
            );
            for g in groups {
                rows.push(vec![
                    g.key.clone(),
                    g.requests.to_string(),
                    g.succeeded.to_string(),
                    g.failed.to_string(),
                    opt(g.ready_p50_ms),
                    opt(g.ready_p90_ms),
                    opt(g.rating.map(|r| format!("{r:.2}"))),
                    g.ratings.to_string(),
                ]);
            }
        }
        "stages" => {
            rows.push(
                ["stage", "total_ms", "share", "p50_ms"]
                    .map(String::from)
                    .to_vec(),
            );
            for s in &dashboard.stages {
                rows.push(vec![
                    s.stage.clone(),
                    s.total_ms.to_string(),
                    opt(s.share.map(|v| format!("{v:.4}"))),
                    opt(s.p50_ms),
                ]);
            }
        }
        "failures" => {
            rows.push(
                ["reason", "count", "example", "request_id"]
                    .map(String::from)
                    .to_vec(),
            );
            for f in &dashboard.failures {
                rows.push(vec![
                    f.reason.clone(),
                    f.count.to_string(),
                    f.example.clone(),
                    f.request_id.clone(),
                ]);
            }
        }
        "dora" => {
            rows.push(
                [
                    "team",
                    "environment",
                    "deployments",
                    "deployments_per_week",
                    "lead_time_p50_ms",
                    "change_failures",
                    "change_failure_rate",
                    "restores",
                    "time_to_restore_p50_ms",
                ]
                .map(String::from)
                .to_vec(),
            );
            for d in &dashboard.dora {
                rows.push(vec![
                    d.team.clone(),
                    d.environment.clone(),
                    d.deployments.to_string(),
                    format!("{:.2}", d.per_week),
                    opt(d.lead_time_p50_ms),
                    d.change_failures.to_string(),
                    opt(d.change_failure_rate.map(|v| format!("{v:.4}"))),
                    d.restores.to_string(),
                    opt(d.restore_p50_ms),
                ]);
            }
        }
        "feedback" => {
            rows.push(
                ["at", "offering", "team", "rating", "comment", "request_id"]
                    .map(String::from)
                    .to_vec(),
            );
            for f in &dashboard.feedback {
                rows.push(vec![
                    rfc3339(f.at),
                    f.offering.clone(),
                    f.team.clone(),
                    f.rating.to_string(),
                    f.comment.clone(),
                    f.request_id.clone(),
                ]);
            }
        }
        "promotions" => {
            rows.push(
                [
                    "team",
                    "offering",
                    "promotions",
                    "ready",
                    "lead_time_p50_ms",
                    "refusals",
                ]
                .map(String::from)
                .to_vec(),
            );
            for p in &dashboard.promotions {
                rows.push(vec![
                    p.team.clone(),
                    p.offering.clone(),
                    p.promotions.to_string(),
                    p.ready.to_string(),
                    opt(p.lead_time_p50_ms),
                    p.refusals.to_string(),
                ]);
            }
        }
        "refusals" => {
            rows.push(["gate", "count"].map(String::from).to_vec());
            for r in &dashboard.refusals {
                rows.push(vec![r.gate.clone(), r.count.to_string()]);
            }
        }
        _ => return None,
    }
    let mut out = Vec::new();
    let written = (|| -> Result<(), csv::Error> {
        let mut writer = csv::Writer::from_writer(&mut out);
        for row in rows {
            writer.write_record(row.iter().map(|cell| csv_cell(cell)))?;
        }
        writer.flush()?;
        Ok(())
    })();
    Some(written.map(|()| out))
}

/// One reader counted in a waiting count for as long as it lives.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn on(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Queued(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
