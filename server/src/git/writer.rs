//! The Git writer: the only code that commits to a GitOps repository. One writer per
//! repository and branch (one task per process, one process across replicas by a lease),
//! draining the outbox (`git_jobs`) in the order requests were submitted.
//!
//! ```text
//!  loop: lease ─▶ due jobs ─▶ fetch ─▶ scan history for their trailers ─▶ for each job:
//!        apply (layout) ─▶ commit (author = requester, committer = bot) ─▶ … ─▶ push once
//!          push refused (someone pushed first) ─▶ fetch, re-apply, retry with backoff
//!          remote down / credentials refused   ─▶ jobs postponed, `waiting_for_git`
//!        ─▶ settle each job: done + ledger event, one transaction per job
//! ```
//!
//! Exactly once: every commit carries `Slipway-Request-Id:`. Before applying anything the
//! writer looks for its jobs' trailers in the fetched history; a job found there was pushed
//! by an earlier run that died before recording it, and is settled with that commit. A
//! commit that never reached the remote (a crash between commit and push) is not in the
//! fetched history, so the job is applied again onto the remote's head and its orphaned
//! local commit is never pushed. A change that leaves the tree as it is makes no commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use git2::{Oid, Repository, Signature, Sort};
use serde_json::Value;
use tokio::sync::Notify;

use super::forge::{Forge, NewPull, PullState};
use super::layout::{self, Change};
use super::{Credentials, Error, output};
use crate::db::requests::{self as store, JobRow, PullOutcome, Settled};
use crate::db::{self, Db};

/// How far before a job's submission the history scan looks for its trailer (clock skew
/// between replicas and the Git server).
const SCAN_SLACK_MS: i64 = 3600 * 1000;

/// Upper bound on commits examined per scan, whatever their dates say.
const SCAN_LIMIT: usize = 200_000;

/// Pushes refused because someone else pushed first are retried this often per run.
const RACE_RETRIES: u32 = 10;

/// The trailer that makes a commit findable by request.
pub const REQUEST_TRAILER: &str = "Slipway-Request-Id";

/// A repository and branch the writer commits to.
#[derive(Clone, Debug)]
pub struct Target {
    /// Remote URL (file, HTTPS, SSH).
    pub url: String,
    /// Branch.
    pub branch: String,
    /// How to authenticate.
    pub credentials: Credentials,
}

impl Target {
    /// The key jobs are filed under (credentials never part of it).
    pub fn key(&self) -> String {
        format!(
            "{}#{}",
            crate::config::redact_credentials(&self.url),
            self.branch
        )
    }
}

/// How the writer works.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// The committer of every commit.
    pub bot_name: String,
    /// The committer's e-mail.
    pub bot_email: String,
    /// Folder for the writer's bare clones.
    pub clone_dir: PathBuf,
    /// First retry delay after a failed attempt; doubles per attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long a writer's lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Longest sleep between looks at the outbox (submissions also wake the writer).
    pub poll: Duration,
    /// Most jobs per run (they share one fetch and one push).
    pub batch: i64,
}

/// Where a test may stop a run, as a crash would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After the commits are made, before the push.
    AfterCommit,
    /// After the push, before anything is recorded.
    AfterPush,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Jobs committed.
    pub committed: usize,
    /// Jobs whose content was already there.
    pub unchanged: usize,
    /// Jobs that cannot be applied.
    pub failed: usize,
    /// Jobs found already pushed by an earlier run.
    pub recovered: usize,
    /// Jobs put off (remote unreachable, credentials refused …).
    pub postponed: usize,
    /// Pushes refused because the branch moved, then retried.
    pub races: u32,
}

impl Report {
    /// Jobs this run finished with.
    pub fn settled(&self) -> usize {
        self.committed + self.unchanged + self.failed + self.recovered
    }
}

/// Why a webhook delivery was not taken.
#[derive(Debug, thiserror::Error)]
pub enum HookRefusal {
    /// No forge or no webhook secret configured.
    #[error("webhooks are not configured")]
    NotConfigured,
    /// Signature or token wrong.
    #[error("the delivery's signature does not match")]
    BadSignature,
    /// The database or the forge failed; the forge should deliver again.
    #[error("{0}")]
    Failed(String),
}

/// One repository's writer.
pub struct Writer {
    db: Db,
    target: Target,
    settings: WriterSettings,
    holder: String,
    wake: Arc<Notify>,
    stop: Option<Stop>,
    pulls: Option<Pulls>,
    roots: Vec<String>,
}

/// Pull-request mode: the forge, where requests link back to, how often to poll.
#[derive(Clone)]
struct Pulls {
    forge: Arc<dyn Forge>,
    public_origin: String,
    poll: Duration,
}

/// What the blocking part works with.
struct Blocking {
    target: Target,
    settings: WriterSettings,
    stop: Option<Stop>,
    roots: Vec<String>,
}

/// A job as the blocking part sees it.
#[derive(Clone, Debug)]
struct Job {
    id: String,
    created_at: i64,
    path: String,
    content: Option<String>,
    create_only: bool,
    pull_request: bool,
    title: String,
    author: (String, String),
    message: String,
}

/// What happened to a job in one write.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Committed(String),
    Unchanged(String),
    Failed(String),
    Recovered(String),
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the branch moved while committing")]
    Race,
    #[error("stopped at {0:?}")]
    Stopped(Stop),
    #[error("{0}")]
    Remote(String),
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

impl Writer {
    /// A writer for `target`. `holder` names this process in the lease.
    pub fn new(db: Db, target: Target, settings: WriterSettings, holder: String) -> Self {
        Writer {
            db,
            target,
            settings,
            holder,
            wake: Arc::new(Notify::new()),
            stop: None,
            pulls: None,
            roots: Vec::new(),
        }
    }

    /// The same writer, never pruning these folders (environments' path prefixes).
    pub fn with_roots(mut self, roots: Vec<String>) -> Self {
        self.roots = roots;
        self
    }

    /// The same writer, opening pull requests on `forge` for pull-request jobs (their
    /// descriptions link to `public_origin`), and polling them every `poll`.
    pub fn with_forge(
        mut self,
        forge: Arc<dyn Forge>,
        public_origin: String,
        poll: Duration,
    ) -> Self {
        self.pulls = Some(Pulls {
            forge,
            public_origin,
            poll,
        });
        self
    }

    /// The same writer, stopping at `stop` in every run (tests of crash safety).
    pub fn stopping_at(mut self, stop: Stop) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The handle submissions use to wake the writer.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The repository this writer commits to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn lease_name(&self) -> String {
        format!("git-writer:{}", self.target.key())
    }

    /// Whether `revision` (what a GitOps applier applied) contains `commit` (a request's):
    /// equal, or `commit` an ancestor of it, in the writer's clone. A revision the clone does
    /// not have is fetched once from the branch; still unknown after that (another
    /// repository, a force-pushed history) is `None`, never a guess. Blocking.
    pub fn contains(&self, commit: &str, revision: &str) -> anyhow::Result<Option<bool>> {
        let (clone, repo) =
            open_clone(&self.target, &self.settings).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (Ok(commit), Ok(revision)) = (Oid::from_str(commit), Oid::from_str(revision)) else {
            return Ok(None);
        };
        let known = |repo: &Repository, id: Oid| repo.find_commit(id).is_ok();
        if !known(&repo, revision) || !known(&repo, commit) {
            self.fetch_branch_into(&clone, "refs/slipway/applied")?;
            if !known(&repo, revision) || !known(&repo, commit) {
                return Ok(None);
            }
        }
        Ok(Some(
            commit == revision || repo.graph_descendant_of(revision, commit)?,
        ))
    }

    /// Fetches the branch into `probe`, a ref of the caller's own: the writer's fetches hold
    /// the branch ref's lock, not this one.
    fn fetch_branch_into(&self, clone: &Path, probe: &str) -> anyhow::Result<()> {
        fetch_ref_into(
            clone,
            &self.target,
            &format!("refs/heads/{}", self.target.branch),
            probe,
        )?;
        Ok(())
    }

    /// Commits of the branch made in `[from, to)` (committer time, Unix ms) that change a
    /// file under one of `folders`, counted by whether they carry [`REQUEST_TRAILER`]:
    /// (through Slipway, out of band). Merge commits are not changes of their own and are
    /// skipped. Fetches the branch into its own ref first. Blocking.
    pub fn commit_origins(
        &self,
        from: i64,
        to: i64,
        folders: &[String],
    ) -> anyhow::Result<(u64, u64)> {
        let (clone, repo) =
            open_clone(&self.target, &self.settings).map_err(|e| anyhow::anyhow!("{e}"))?;
        let probe = "refs/slipway/metrics";
        self.fetch_branch_into(&clone, probe)?;
        let Ok(tip) = repo.refname_to_id(probe) else {
            return Ok((0, 0));
        };
        let under = |path: &str, folder: &str| {
            path.strip_prefix(folder)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        let mut walk = repo.revwalk()?;
        walk.set_sorting(Sort::TIME)?;
        walk.push(tip)?;
        let (mut ours, mut theirs) = (0, 0);
        for id in walk {
            let commit = repo.find_commit(id?)?;
            let at = commit.time().seconds() * 1000;
            if at < from {
                break;
            }
            if at >= to || commit.parent_count() > 1 {
                continue;
            }
            let parent_tree = match commit.parent(0) {
                Ok(parent) => Some(parent.tree()?),
                Err(_) => None,
            };
            let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&commit.tree()?), None)?;
            let touches = diff.deltas().any(|delta| {
                [delta.old_file().path(), delta.new_file().path()]
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.to_str())
                    .any(|path| folders.iter().any(|folder| under(path, folder)))
            });
            if !touches {
                continue;
            }
            let via_slipway = commit
                .message()
                .ok()
                .and_then(|m| git2::message_trailers_strs(m).ok())
                .is_some_and(|t| {
                    t.iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case(REQUEST_TRAILER))
                });
            if via_slipway {
                ours += 1;
            } else {
                theirs += 1;
            }
        }
        Ok((ours, theirs))
    }

    /// Works until the task is dropped: takes the lease, drains due jobs, sleeps until
    /// woken, the next job is due, or the poll interval passes.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let ttl = i64::try_from(self.settings.lease_ttl.as_millis()).unwrap_or(30_000);
            let mut polled: Option<tokio::time::Instant> = None;
            loop {
                match store::lease(&self.db, &self.lease_name(), &self.holder, ttl).await {
                    Ok(true) => {
                        loop {
                            match self.run_once().await {
                                Ok(report) if report.settled() > 0 => continue,
                                Ok(_) => break,
                                Err(error) => {
                                    tracing::error!(error = %format!("{error:#}"), repository = %self.target.key(), "git writer run failed");
                                    break;
                                }
                            }
                        }
                        if let Some(pulls) = &self.pulls
                            && polled.is_none_or(|at| at.elapsed() >= pulls.poll)
                        {
                            polled = Some(tokio::time::Instant::now());
                            if let Err(error) = self.check_pulls().await {
                                tracing::warn!(error = %format!("{error:#}"), "checking pull requests failed");
                            }
                        }
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, "git writer cannot take its lease");
                    }
                }
                let wait = match store::next_due(&self.db, &self.target.key()).await {
                    Ok(Some(at)) => {
                        Duration::from_millis(u64::try_from(at - db::now_ms()).unwrap_or(0))
                            .min(self.settings.poll)
                    }
                    _ => self.settings.poll,
                };
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
                }
            }
        })
    }

    /// One pass over the due jobs: at most one fetch, one push (plus retries when the branch
    /// moved), and each job settled or postponed. A pass that did work (or failed) is counted
    /// and timed for Prometheus.
    pub async fn run_once(&self) -> anyhow::Result<Report> {
        let started = std::time::Instant::now();
        let run = self.pass().await;
        let worked = run
            .as_ref()
            .map_or(true, |r| r.settled() > 0 || r.postponed > 0);
        if worked {
            crate::metrics::prom::global().git_run(
                &self.target.key(),
                run.as_ref().is_ok_and(|r| r.postponed == 0),
                started.elapsed().as_secs_f64(),
            );
        }
        run
    }

    async fn pass(&self) -> anyhow::Result<Report> {
        let rows = store::due(&self.db, &self.target.key(), self.settings.batch)
            .await
            .context("reading the outbox")?;
        let mut report = Report::default();
        if rows.is_empty() {
            return Ok(report);
        }
        let (pull_jobs, jobs): (Vec<Job>, Vec<Job>) =
            rows.iter().map(job_of).partition(|j| j.pull_request);
        for job in &pull_jobs {
            self.open_pull(job, &rows, &mut report).await?;
        }
        if jobs.is_empty() {
            return Ok(report);
        }
        let mut races = 0;
        let outcomes = loop {
            let batch = jobs.clone();
            let result = self.blocking(move |ctx| write(ctx, &batch)).await?;
            match result {
                Ok(outcomes) => break outcomes,
                Err(WriteError::Race) if races < RACE_RETRIES => {
                    races += 1;
                    report.races = races;
                    let delay = jitter(Duration::from_millis(25) * 2u32.pow(races.min(6)));
                    tokio::time::sleep(delay).await;
                }
                Err(WriteError::Stopped(stop)) => {
                    anyhow::bail!("the writer was stopped at {stop:?}");
                }
                Err(WriteError::Local(error)) => return Err(error),
                Err(error @ (WriteError::Remote(_) | WriteError::Race)) => {
                    let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0);
                    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
                    self.postpone(&ids, attempts, &error.to_string(), &mut report)
                        .await?;
                    return Ok(report);
                }
            }
        };
        let settled: Vec<(String, Settled)> = jobs
            .iter()
            .zip(&outcomes)
            .map(|(job, outcome)| {
                let settled = match outcome {
                    Outcome::Committed(sha) | Outcome::Recovered(sha) => {
                        Settled::Committed { sha: sha.clone() }
                    }
                    Outcome::Unchanged(sha) => Settled::Unchanged { sha: sha.clone() },
                    Outcome::Failed(message) => Settled::Failed {
                        message: message.clone(),
                    },
                };
                (job.id.clone(), settled)
            })
            .collect();
        store::settle_all(&self.db, &settled).await?;
        for outcome in outcomes {
            match outcome {
                Outcome::Committed(_) => report.committed += 1,
                Outcome::Unchanged(_) => report.unchanged += 1,
                Outcome::Failed(_) => report.failed += 1,
                Outcome::Recovered(_) => report.recovered += 1,
            }
        }
        tracing::info!(repository = %self.target.key(), ?report, "git writer run");
        Ok(report)
    }

    /// One pull-request job: its branch pushed (blocking part), then the pull request
    /// opened (or found, when an earlier run opened it and died before recording it).
    async fn open_pull(
        &self,
        job: &Job,
        rows: &[JobRow],
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let attempts = rows
            .iter()
            .find(|r| r.request.id == job.id)
            .map_or(0, |r| r.attempts);
        let Some(pulls) = &self.pulls else {
            store::settle(
                &self.db,
                &job.id,
                &Settled::Failed {
                    message: "This environment asks for pull requests, but no forge is configured (SLIPWAY_FORGE)."
                        .into(),
                },
            )
            .await?;
            report.failed += 1;
            return Ok(());
        };
        let one = job.clone();
        let written = self.blocking(move |ctx| write_branch(ctx, &one)).await?;
        let sha = match written {
            Ok(Outcome::Committed(sha) | Outcome::Recovered(sha)) => sha,
            Ok(Outcome::Unchanged(sha)) => {
                store::settle(&self.db, &job.id, &Settled::Unchanged { sha }).await?;
                report.unchanged += 1;
                return Ok(());
            }
            Ok(Outcome::Failed(message)) => {
                store::settle(&self.db, &job.id, &Settled::Failed { message }).await?;
                report.failed += 1;
                return Ok(());
            }
            Err(WriteError::Stopped(stop)) => anyhow::bail!("the writer was stopped at {stop:?}"),
            Err(WriteError::Local(error)) => return Err(error),
            Err(error @ (WriteError::Remote(_) | WriteError::Race)) => {
                self.postpone(
                    std::slice::from_ref(&job.id),
                    attempts,
                    &error.to_string(),
                    report,
                )
                .await?;
                return Ok(());
            }
        };
        let branch = request_branch(&job.id);
        let body = format!(
            "{}\n\nRequested through Slipway: {}/requests/{}\n\nThe portal merges nothing itself: review and merge here; the request page follows this pull request to Ready.",
            job.message.trim_end(),
            pulls.public_origin.trim_end_matches('/'),
            job.id
        );
        let opened = pulls
            .forge
            .open(&NewPull {
                branch: &branch,
                base: &self.target.branch,
                title: &job.title,
                body: &body,
            })
            .await;
        match opened {
            Ok(pull) => {
                store::settle(
                    &self.db,
                    &job.id,
                    &Settled::PrOpened {
                        sha,
                        number: pull.number,
                        url: pull.url,
                    },
                )
                .await?;
                report.committed += 1;
            }
            Err(error) => {
                self.postpone(
                    std::slice::from_ref(&job.id),
                    attempts,
                    &error.to_string(),
                    report,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn postpone(
        &self,
        ids: &[String],
        attempts: i64,
        message: &str,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let delay = self.backoff(attempts);
        tracing::warn!(repository = %self.target.key(), error = %message, retry_in = ?delay, "git write postponed");
        let next = db::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        store::postpone(&self.db, ids, message, next).await?;
        report.postponed += ids.len();
        Ok(())
    }

    /// Asks the forge about every open pull request of this repository and records merges
    /// and closures. Returns how many ended.
    pub async fn check_pulls(&self) -> anyhow::Result<usize> {
        let Some(pulls) = &self.pulls else {
            return Ok(0);
        };
        let mut ended = 0;
        for (id, number) in store::open_pulls(&self.db, &self.target.key(), 500).await? {
            match pulls.forge.get(number).await {
                Ok(pull) => {
                    if self.record_pull(&id, &pull.state).await? {
                        ended += 1;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, request = %id, number, "reading a pull request failed");
                }
            }
        }
        Ok(ended)
    }

    async fn record_pull(&self, id: &str, state: &PullState) -> anyhow::Result<bool> {
        let outcome = match state {
            PullState::Open => return Ok(false),
            PullState::Merged { sha } => PullOutcome::Merged { sha: sha.clone() },
            PullState::Closed => PullOutcome::Closed,
        };
        Ok(store::finish_pull(&self.db, id, &outcome).await?)
    }

    /// A webhook delivery: verified, then the pull request it names is read back from the
    /// forge and its end recorded. `Ok(false)`: nothing to record (still open, not ours).
    pub async fn on_hook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, HookRefusal> {
        let pulls = self.pulls.as_ref().ok_or(HookRefusal::NotConfigured)?;
        let event = match pulls.forge.verify_hook(headers, body) {
            Ok(event) => event,
            Err(super::forge::HookError::Ignored) => return Ok(false),
            Err(super::forge::HookError::NotConfigured) => return Err(HookRefusal::NotConfigured),
            Err(super::forge::HookError::BadSignature) => return Err(HookRefusal::BadSignature),
        };
        let Some(id) = event.branch.strip_prefix("slipway/") else {
            return Ok(false);
        };
        let known = store::get(&self.db, id)
            .await
            .map_err(|e| HookRefusal::Failed(e.to_string()))?
            .is_some_and(|r| {
                r.pr_number == Some(event.number) && r.repository == self.target.key()
            });
        if !known {
            return Ok(false);
        }
        let pull = pulls
            .forge
            .get(event.number)
            .await
            .map_err(|e| HookRefusal::Failed(e.to_string()))?;
        self.record_pull(id, &pull.state)
            .await
            .map_err(|e| HookRefusal::Failed(format!("{e:#}")))
    }

    /// Runs the blocking part `f` (git CLI, libgit2) off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Blocking) -> Result<T, WriteError> + Send + 'static,
    ) -> anyhow::Result<Result<T, WriteError>> {
        let ctx = Blocking {
            target: self.target.clone(),
            settings: self.settings.clone(),
            stop: self.stop,
            roots: self.roots.clone(),
        };
        tokio::task::spawn_blocking(move || f(&ctx))
            .await
            .context("the git task panicked")
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let factor = 2u32.saturating_pow(u32::try_from(attempts.clamp(0, 16)).unwrap_or(16));
        jitter(
            self.settings
                .retry_base
                .saturating_mul(factor)
                .min(self.settings.retry_max),
        )
    }
}

/// ±20 %, so replicas and retries do not move in step.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + fastrand::f64() * 0.4)
}

fn job_of(row: &JobRow) -> Job {
    let r = &row.request;
    let delete = r.action == "delete";
    Job {
        id: r.id.clone(),
        created_at: r.created_at,
        path: r.path.clone(),
        content: (!delete).then(|| r.content.clone()),
        create_only: r.action == "create",
        pull_request: r.write_mode == "pull-request",
        title: commit_message(row)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        author: (r.requester_name.clone(), r.requester_email.clone()),
        message: commit_message(row),
    }
}

/// The commit message of a request: imperative subject, what was asked, trailers.
pub fn commit_message(row: &JobRow) -> String {
    let r = &row.request;
    let verb = app::requests::Action::parse(&r.action).map_or("Change", |a| a.verb());
    let mut message = format!(
        "{verb} {} {}/{}\n\nEnvironment: {}\nOffering: {}@{}\n",
        r.kind, r.team, r.name, r.environment, r.offering, r.offering_version
    );
    let values = serde_json::from_str::<Value>(&r.body)
        .ok()
        .and_then(|b| b.get("values").cloned())
        .unwrap_or(Value::Null);
    let mut lines = Vec::new();
    summarize(&values, "", &mut lines);
    if r.action != "delete" && !lines.is_empty() {
        message.push_str("\nValues:\n");
        let total = lines.len();
        for line in lines.iter().take(40) {
            message.push_str("  ");
            message.push_str(line);
            message.push('\n');
        }
        if total > 40 {
            message.push_str(&format!("  … and {} more\n", total - 40));
        }
    }
    message.push_str(&format!(
        "\n{REQUEST_TRAILER}: {}\nSlipway-Offering: {}@{}\nRequested-by: {} <{}>\n",
        r.id,
        r.offering,
        r.offering_version,
        one_line(&r.requester_name),
        one_line(&r.requester_email)
    ));
    message
}

/// `path: value` lines; values JSON-encoded so no newline or trailer-like text gets through.
fn summarize(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                summarize(v, &path, out);
            }
        }
        Value::Null => {}
        other => {
            let mut text = other.to_string();
            if text.chars().count() > 100 {
                text = text.chars().take(99).collect::<String>() + "…";
            }
            out.push(format!("{prefix}: {text}"));
        }
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '<' || c == '>' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The writer's bare clone, created on first use.
fn open_clone(
    target: &Target,
    settings: &WriterSettings,
) -> Result<(PathBuf, Repository), WriteError> {
    let clone = clone_path(settings, target);
    if !clone.join("HEAD").exists() {
        std::fs::create_dir_all(&clone).context("creating the writer's clone")?;
        Repository::init_bare(&clone).context("initialising the writer's clone")?;
    }
    let repo = Repository::open_bare(&clone).context("opening the writer's clone")?;
    Ok((clone, repo))
}

/// Fetches the remote's `remote_ref` into `local_ref` of the clone (force).
fn fetch_ref_into(
    clone: &Path,
    target: &Target,
    remote_ref: &str,
    local_ref: &str,
) -> Result<String, Error> {
    output(
        Some(clone),
        &target.credentials,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            &target.url,
            &format!("+{remote_ref}:{local_ref}"),
        ],
    )
}

/// Fetches branch `local_ref` from the remote into the clone; `None` when the remote does
/// not have it (an empty repository, a branch not created yet).
fn fetch_ref(
    clone: &Path,
    repo: &Repository,
    target: &Target,
    local_ref: &str,
) -> Result<Option<Oid>, WriteError> {
    let fetched = fetch_ref_into(clone, target, local_ref, local_ref);
    match fetched {
        Ok(_) => {}
        Err(Error::Command { message, .. }) if message.contains("couldn't find remote ref") => {
            if let Ok(mut r) = repo.find_reference(local_ref) {
                r.delete()
                    .context("forgetting a branch the remote no longer has")?;
            }
        }
        Err(error) => return Err(WriteError::Remote(describe(&error))),
    }
    match repo.find_reference(local_ref) {
        Ok(r) => Ok(Some(
            r.peel_to_commit().context("reading the branch head")?.id(),
        )),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::from(e).into()),
    }
}

/// Pushes `tip` to `remote_ref`; `force` only for the portal's own request branches.
fn push(
    clone: &Path,
    target: &Target,
    tip: Oid,
    remote_ref: &str,
    force: bool,
) -> Result<(), WriteError> {
    let refspec = format!("{}{tip}:{remote_ref}", if force { "+" } else { "" });
    match output(
        Some(clone),
        &target.credentials,
        &["push", "--porcelain", &target.url, &refspec],
    ) {
        Ok(_) => Ok(()),
        Err(Error::Command { message, .. }) if is_race(&message) => Err(WriteError::Race),
        Err(error) => Err(WriteError::Remote(describe(&error))),
    }
}

/// A job applied to a tree.
enum Applied {
    Tree(Oid),
    Unchanged,
    Failed(String),
}

fn apply_job(
    repo: &Repository,
    base: Option<&git2::Tree<'_>>,
    job: &Job,
    roots: &[String],
) -> Result<Applied, WriteError> {
    if job.create_only
        && let (Some(tree), Some(content)) = (base, &job.content)
    {
        match layout::read(repo, tree, &job.path) {
            Ok(Some(existing)) if existing != content.as_bytes() => {
                return Ok(Applied::Failed(format!(
                    "{} already exists in the repository with other content; a create never overwrites it",
                    job.path
                )));
            }
            Ok(_) => {}
            Err(layout::Error::Git(e)) => return Err(anyhow::Error::from(e).into()),
            Err(problem) => return Ok(Applied::Failed(problem.to_string())),
        }
    }
    let change = match &job.content {
        Some(content) => Change::Put {
            path: &job.path,
            content: content.as_bytes(),
        },
        None => Change::Remove { path: &job.path },
    };
    match layout::apply(repo, base, change, roots) {
        Ok(tree) if base.is_some_and(|b| b.id() == tree) => Ok(Applied::Unchanged),
        Ok(tree) => Ok(Applied::Tree(tree)),
        Err(layout::Error::Git(e)) => Err(anyhow::Error::from(e).into()),
        Err(problem) => Ok(Applied::Failed(problem.to_string())),
    }
}

fn tree_of(repo: &Repository, commit: Option<Oid>) -> Result<Option<git2::Tree<'_>>, WriteError> {
    match commit {
        Some(id) => Ok(Some(
            repo.find_commit(id)
                .and_then(|c| c.tree())
                .context("reading the tree")?,
        )),
        None => Ok(None),
    }
}

fn make_commit(
    repo: &Repository,
    job: &Job,
    bot: &Signature<'_>,
    tree: Oid,
    parent: Option<Oid>,
) -> Result<Oid, WriteError> {
    let author = Signature::now(&job.author.0, &job.author.1)
        .or_else(|_| Signature::now("Unknown", "unknown@invalid"))
        .context("author signature")?;
    let tree = repo.find_tree(tree).context("reading the new tree")?;
    let parents: Vec<git2::Commit<'_>> = match parent {
        Some(id) => vec![repo.find_commit(id).context("reading the parent")?],
        None => vec![],
    };
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    Ok(repo
        .commit(None, &author, bot, &job.message, &tree, &parent_refs)
        .context("writing the commit")?)
}

fn bot(settings: &WriterSettings) -> Result<Signature<'static>, WriteError> {
    Ok(Signature::now(&settings.bot_name, &settings.bot_email)
        .context("the bot identity is not a valid Git signature")?)
}

/// The blocking part of direct mode: fetch, scan, apply, commit each job onto the last,
/// push once.
fn write(ctx: &Blocking, jobs: &[Job]) -> Result<Vec<Outcome>, WriteError> {
    let (target, settings, stop, roots) = (&ctx.target, &ctx.settings, ctx.stop, &ctx.roots);
    let (clone, repo) = open_clone(target, settings)?;
    let local_ref = format!("refs/heads/{}", target.branch);
    let head = fetch_ref(&clone, &repo, target, &local_ref)?;
    let since = jobs.iter().map(|j| j.created_at).min().unwrap_or(0) - SCAN_SLACK_MS;
    let pushed = match head {
        Some(head) => find_trailers(&repo, head, since).context("scanning the history")?,
        None => HashMap::new(),
    };

    let mut tip = head;
    let mut outcomes = Vec::with_capacity(jobs.len());
    let bot = bot(settings)?;
    for job in jobs {
        if let Some(sha) = pushed.get(&job.id) {
            outcomes.push(Outcome::Recovered(sha.to_string()));
            continue;
        }
        let base = tree_of(&repo, tip)?;
        match apply_job(&repo, base.as_ref(), job, roots)? {
            Applied::Failed(message) => outcomes.push(Outcome::Failed(message)),
            Applied::Unchanged => outcomes.push(Outcome::Unchanged(
                tip.map(|t| t.to_string()).unwrap_or_default(),
            )),
            Applied::Tree(tree) => {
                let id = make_commit(&repo, job, &bot, tree, tip)?;
                tip = Some(id);
                outcomes.push(Outcome::Committed(id.to_string()));
            }
        }
    }
    if stop == Some(Stop::AfterCommit) {
        return Err(WriteError::Stopped(Stop::AfterCommit));
    }
    if let Some(new_tip) = tip.filter(|t| Some(*t) != head) {
        push(&clone, target, new_tip, &local_ref, false)?;
        repo.reference(&local_ref, new_tip, true, "pushed by slipway")
            .context("moving the local branch")?;
    }
    if stop == Some(Stop::AfterPush) {
        return Err(WriteError::Stopped(Stop::AfterPush));
    }
    Ok(outcomes)
}

/// The branch a pull-request job is pushed to.
pub fn request_branch(request_id: &str) -> String {
    format!("slipway/{request_id}")
}

/// The blocking part of pull-request mode for one job: its own branch from the target
/// branch's head, one commit, force-pushed (the branch is the portal's). A branch already
/// holding the job's commit (an earlier run that died before opening the pull request) is
/// reused as it is.
fn write_branch(ctx: &Blocking, job: &Job) -> Result<Outcome, WriteError> {
    let (target, settings, stop, roots) = (&ctx.target, &ctx.settings, ctx.stop, &ctx.roots);
    let (clone, repo) = open_clone(target, settings)?;
    let branch_ref = format!("refs/heads/{}", request_branch(&job.id));
    if let Some(tip) = fetch_ref(&clone, &repo, target, &branch_ref)? {
        let commit = repo
            .find_commit(tip)
            .context("reading the request branch")?;
        let ours = commit
            .message()
            .ok()
            .and_then(|m| git2::message_trailers_strs(m).ok())
            .is_some_and(|t| {
                t.iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case(REQUEST_TRAILER) && v.trim() == job.id)
            });
        if ours {
            return Ok(Outcome::Recovered(tip.to_string()));
        }
    }
    let head = fetch_ref(
        &clone,
        &repo,
        target,
        &format!("refs/heads/{}", target.branch),
    )?;
    let base = tree_of(&repo, head)?;
    let id = match apply_job(&repo, base.as_ref(), job, roots)? {
        Applied::Failed(message) => return Ok(Outcome::Failed(message)),
        Applied::Unchanged => {
            return Ok(Outcome::Unchanged(
                head.map(|t| t.to_string()).unwrap_or_default(),
            ));
        }
        Applied::Tree(tree) => make_commit(&repo, job, &bot(settings)?, tree, head)?,
    };
    if stop == Some(Stop::AfterCommit) {
        return Err(WriteError::Stopped(Stop::AfterCommit));
    }
    push(&clone, target, id, &branch_ref, true)?;
    if stop == Some(Stop::AfterPush) {
        return Err(WriteError::Stopped(Stop::AfterPush));
    }
    Ok(Outcome::Committed(id.to_string()))
}

fn clone_path(settings: &WriterSettings, target: &Target) -> PathBuf {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(target.key().as_bytes());
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    settings.clone_dir.join(format!("{name}.git"))
}

/// Request ids found in `Slipway-Request-Id` trailers of commits reachable from `head` and
/// committed after `since` (Unix ms).
fn find_trailers(repo: &Repository, head: Oid, since: i64) -> anyhow::Result<HashMap<String, Oid>> {
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    walk.set_sorting(Sort::TIME)?;
    let mut found = HashMap::new();
    for id in walk.take(SCAN_LIMIT) {
        let commit = repo.find_commit(id?)?;
        if commit.time().seconds() * 1000 < since {
            break;
        }
        let Ok(message) = commit.message() else {
            continue;
        };
        let Ok(trailers) = git2::message_trailers_strs(message) else {
            continue;
        };
        for (key, value) in trailers.iter() {
            if key.eq_ignore_ascii_case(REQUEST_TRAILER) {
                found.entry(value.trim().to_owned()).or_insert(commit.id());
            }
        }
    }
    Ok(found)
}

/// A push refused because the branch moved under us (retry after a fetch), as opposed to a
/// refusal that a retry cannot fix (a protected branch, a hook).
fn is_race(message: &str) -> bool {
    message.contains("[rejected]")
        || message.contains("non-fast-forward")
        || message.contains("fetch first")
        || message.contains("cannot lock ref")
        || message.contains("failed to update ref")
}

/// Git's failure in words a requester can act on, followed by git's own (redacted) text.
fn describe(error: &Error) -> String {
    let text = error.to_string();
    let lower = text.to_lowercase();
    let what = if lower.contains("host key verification failed")
        || lower.contains("remote host identification has changed")
    {
        "The Git remote's SSH host key is not the known one (SLIPWAY_GIT_KNOWN_HOSTS_FILE)"
    } else if lower.contains("authentication failed")
        || lower.contains("could not read username")
        || lower.contains("returned error: 401")
        || lower.contains("returned error: 403")
        || lower.contains("permission denied (publickey")
    {
        "The Git remote refused the portal's credentials"
    } else if lower.contains("could not resolve host")
        || lower.contains("failed to connect")
        || lower.contains("connection refused")
        || lower.contains("connection reset")
        || lower.contains("timed out")
        || lower.contains("returned error: 5")
        || lower.contains("does not appear to be a git repository")
        || lower.contains("not found")
    {
        "The Git remote cannot be reached"
    } else if lower.contains("remote rejected") || lower.contains("protected") {
        "The Git remote refused the push"
    } else {
        "Git failed"
    };
    format!("{what}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::requests::RequestRow;

    fn row(values: Value) -> JobRow {
        JobRow {
            request: RequestRow {
                id: "0190-aaaa".into(),
                action: "create".into(),
                offering: "postgresql".into(),
                offering_version: "1.0.0".into(),
                api_version: "database.example.org/v1alpha1".into(),
                kind: "PostgreSQLInstance".into(),
                name: "orders-db".into(),
                team: "team-a".into(),
                environment: "dev".into(),
                requested_by: "u1".into(),
                requester_name: "Alice <Archer>\nX".into(),
                requester_email: "alice@example.com".into(),
                body: serde_json::json!({"values": values}).to_string(),
                repository: "r".into(),
                path: "p".into(),
                content: String::new(),
                write_mode: "direct".into(),
                state: "submitted".into(),
                commit_sha: None,
                pr_number: None,
                pr_url: None,
                created_at: 0,
                updated_at: 0,
            },
            attempts: 0,
            status: "pending".into(),
            next_attempt_at: 0,
            last_error: None,
        }
    }

    fn trailers(message: &str) -> Vec<(String, String)> {
        git2::message_trailers_strs(message)
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn the_commit_message_has_a_subject_a_values_summary_and_exactly_three_trailers() {
        let message = commit_message(&row(serde_json::json!({
            "storageGB": 20, "backup": {"window": "03:00"}
        })));
        assert!(message.starts_with("Create PostgreSQLInstance team-a/orders-db\n\n"));
        assert!(
            message.contains("  storageGB: 20\n  backup.window: \"03:00\"\n"),
            "{message}"
        );
        assert_eq!(
            trailers(&message),
            [
                ("Slipway-Request-Id".to_owned(), "0190-aaaa".to_owned()),
                ("Slipway-Offering".to_owned(), "postgresql@1.0.0".to_owned()),
                (
                    "Requested-by".to_owned(),
                    "Alice  Archer  X <alice@example.com>".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_value_cannot_forge_a_trailer_or_break_the_message() {
        let message = commit_message(&row(serde_json::json!({
            "note": "x\n\nSlipway-Request-Id: someone-else\n"
        })));
        assert!(
            message.contains(r#"  note: "x\n\nSlipway-Request-Id: someone-else\n""#),
            "{message}"
        );
        let ids: Vec<_> = trailers(&message)
            .into_iter()
            .filter(|(k, _)| k == REQUEST_TRAILER)
            .collect();
        assert_eq!(ids, [(REQUEST_TRAILER.to_owned(), "0190-aaaa".to_owned())]);
    }

    #[test]
    fn push_refusals_are_told_apart_from_races() {
        assert!(is_race(" ! [rejected]        abc -> main (fetch first)"));
        assert!(is_race("error: cannot lock ref 'refs/heads/main'"));
        assert!(!is_race(
            " ! [remote rejected] abc -> main (pre-receive hook declined)"
        ));
    }
}
