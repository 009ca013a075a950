//! The Git writer: the only code that commits to a GitOps repository. One writer per
//! repository and branch, one replica at a time by a renewed lease, draining the outbox
//! (`git_jobs`) in the order requests were submitted. Pull-request jobs are in [`super::pulls`].
//!
//! ```text
//!  loop: hold lease ─▶ due jobs ─▶ fetch ─▶ scan history for their trailers ─▶ for each job:
//!        apply (layout) ─▶ commit (author = requester, committer = bot) ─▶ … ─▶ push once
//!          push refused, branch moved       ─▶ fetch, re-apply, retry with backoff
//!          push refused for what it carries ─▶ jobs pushed one by one: the refused one is
//!                                              counted (fails after N), the others land
//!          remote down, silent, or refusing credentials ─▶ postponed, `waiting_for_git`
//!        ─▶ settle the jobs in one transaction, fenced by the lease ─▶ announce (hub, metrics)
//! ```
//!
//! Exactly once: every commit carries `Slipway-Request-Id:`. Before applying anything the
//! writer looks for its jobs' trailers in the fetched history; a job found there was pushed
//! by an earlier run that died before recording it, and is settled with that commit. A
//! commit that never reached the remote (a crash between commit and push) is not in the
//! fetched history, so the job is applied again onto the remote's head and its orphaned local
//! commit is never pushed. Pushes are fast-forward only, so two writers that both believe they
//! hold the lease cannot both land the same job: the second push is refused as a race, its
//! retry finds the first one's trailer. A change that leaves the tree as it is makes no commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use git2::{Oid, Repository, Signature};
use tokio::sync::Notify;

use super::clone::{SharedClone, trailers_since};
use super::layout::{self, Change};
use super::message::{Subject, commit_message};
use super::pulls::Pulls;
use super::{Error, Failure};
use crate::config::GitSettings;
use crate::db::outbox::{self as store, JobRow, Setback, Settled};
use crate::db::{self, Db};
use crate::lease::{Held, Lease};
use crate::ledger::Ledger;
use crate::metrics::prom::Telemetry;
use crate::shutdown::Stopping;

/// How far before a job's submission the history scan looks for its trailer (clock skew
/// between replicas and the Git server).
const SCAN_SLACK_MS: i64 = 3600 * 1000;

/// Pushes refused because someone else pushed first are retried this often per run.
const RACE_RETRIES: u32 = 10;

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Jobs committed.
    pub committed: usize,
    /// Jobs whose content was already there.
    pub unchanged: usize,
    /// Jobs that cannot be applied (or were refused too often).
    pub failed: usize,
    /// Jobs found already pushed by an earlier run.
    pub recovered: usize,
    /// Jobs put off (remote unreachable, silent, credentials refused, change refused …).
    pub postponed: usize,
    /// Jobs whose change the remote refused in this run.
    pub refused: usize,
    /// Pushes refused because the branch moved, then retried.
    pub races: u32,
}

impl Report {
    /// Jobs this run finished with.
    pub fn settled(&self) -> usize {
        self.committed + self.unchanged + self.failed + self.recovered
    }
}

/// Everything a writer is made of.
pub struct WriterParts {
    /// The database (outbox, ledger).
    pub db: Db,
    /// The remote's shared clone.
    pub clone: Arc<SharedClone>,
    /// The branch it commits to.
    pub branch: String,
    /// Bot identity, retries, batch size, deadlines.
    pub settings: GitSettings,
    /// Names this process in the lease.
    pub holder: String,
    /// Folders a deletion never prunes (environments' path prefixes).
    pub roots: Vec<String>,
    /// Pull-request mode, when a forge is configured.
    pub pulls: Option<Pulls>,
    /// Where ledger appends are announced.
    pub ledger: Ledger,
    /// Prometheus.
    pub telemetry: Arc<Telemetry>,
}

/// One repository branch's writer.
pub struct Writer {
    pub(super) db: Db,
    pub(super) clone: Arc<SharedClone>,
    pub(super) branch: String,
    key: String,
    pub(super) settings: GitSettings,
    lease: Lease,
    wake: Arc<Notify>,
    roots: Vec<String>,
    pub(super) pulls: Option<Pulls>,
    pub(super) ledger: Ledger,
    telemetry: Arc<Telemetry>,
}

/// A job as the blocking part sees it.
#[derive(Clone, Debug)]
pub(super) struct Job {
    pub id: String,
    pub created_at: i64,
    pub path: String,
    pub content: Option<String>,
    pub create_only: bool,
    pub pull_request: bool,
    pub title: String,
    pub author: (String, String),
    pub message: String,
    pub attempts: i64,
}

/// What happened to a job in one write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Written {
    Committed(String),
    Unchanged(String),
    Failed(String),
    Recovered(String),
}

impl Written {
    fn settled(&self) -> Settled {
        match self {
            Written::Committed(sha) | Written::Recovered(sha) => {
                Settled::Committed { sha: sha.clone() }
            }
            Written::Unchanged(sha) => Settled::Unchanged { sha: sha.clone() },
            Written::Failed(message) => Settled::Failed {
                message: message.clone(),
            },
        }
    }

    fn count(&self, report: &mut Report) {
        match self {
            Written::Committed(_) => report.committed += 1,
            Written::Unchanged(_) => report.unchanged += 1,
            Written::Failed(_) => report.failed += 1,
            Written::Recovered(_) => report.recovered += 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum WriteError {
    #[error("the branch moved while committing")]
    Race,
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Remote(String),
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

impl From<Error> for WriteError {
    fn from(error: Error) -> Self {
        match error.failure() {
            Some(Failure::Race) => WriteError::Race,
            Some(Failure::Refused) => WriteError::Refused(error.to_string()),
            Some(_) => WriteError::Remote(error.to_string()),
            None => WriteError::Local(anyhow::Error::from(error)),
        }
    }
}

impl From<git2::Error> for WriteError {
    fn from(error: git2::Error) -> Self {
        WriteError::Local(error.into())
    }
}

impl Writer {
    /// A writer from its parts.
    pub fn new(parts: WriterParts) -> Self {
        let key = format!("{}#{}", parts.clone.display_url(), parts.branch);
        Writer {
            lease: Lease::new(
                parts.db.clone(),
                format!("git-writer:{key}"),
                parts.holder,
                parts.settings.lease_ttl,
            ),
            key,
            db: parts.db,
            clone: parts.clone,
            branch: parts.branch,
            settings: parts.settings,
            wake: Arc::new(Notify::new()),
            roots: parts.roots,
            pulls: parts.pulls,
            ledger: parts.ledger,
            telemetry: parts.telemetry,
        }
    }

    /// The handle submissions use to wake the writer.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The key its jobs are filed under: the remote (without credentials) and the branch.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The branch it commits to.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The shared clone it works in.
    pub fn clone_of(&self) -> &Arc<SharedClone> {
        &self.clone
    }

    /// The lease it works under.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Works until the task is dropped or the process stops: holds the lease (taking it again
    /// when lost), drains due jobs, follows open pull requests, sleeps until woken, the next
    /// job is due, or the poll interval passes. When the process stops it finishes the pass in
    /// hand (a push under way completes and is recorded), releases the lease so another
    /// replica takes over at once, and ends.
    pub fn spawn(self: Arc<Self>, stopping: Stopping) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut held: Option<Held> = None;
            let mut polled: Option<tokio::time::Instant> = None;
            while !stopping.is_stopping() {
                if held.as_ref().is_some_and(Held::is_lost) {
                    held = None;
                }
                if held.is_none() {
                    match self.lease.hold().await {
                        Ok(taken) => held = taken,
                        Err(error) => {
                            tracing::warn!(%error, repository = %self.key, "git writer cannot take its lease");
                        }
                    }
                }
                // After a pass that failed on this side (a database error, a broken clone),
                // the due jobs stay due: wait a moment instead of running it again at once.
                let mut pause = Duration::from_millis(20);
                if let Some(lease) = &held {
                    if !self.drain(lease, &stopping).await {
                        pause = Duration::from_secs(1);
                    }
                    if let Some(pulls) = &self.pulls
                        && polled.is_none_or(|at| at.elapsed() >= pulls.poll)
                        && !lease.is_lost()
                        && !stopping.is_stopping()
                    {
                        polled = Some(tokio::time::Instant::now());
                        if let Err(error) = self.check_pulls().await {
                            tracing::warn!(error = %format!("{error:#}"), "checking pull requests failed");
                        }
                    }
                }
                let wait = if held.is_none() {
                    // Another replica holds the lease and works the due jobs: ask for it
                    // again at the standby pace, not whenever a job is due.
                    self.lease.standby().min(self.settings.poll)
                } else {
                    match store::next_due(&self.db, &self.key).await {
                        Ok(Some(at)) => {
                            Duration::from_millis(u64::try_from(at - db::now_ms()).unwrap_or(0))
                                .min(self.settings.poll)
                        }
                        _ => self.settings.poll,
                    }
                };
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(wait.max(pause)) => {}
                    () = stopping.wait() => {}
                }
            }
            if let Some(lease) = held.take() {
                lease.release().await;
                tracing::info!(repository = %self.key, "stopping: git writer lease released");
            }
        })
    }

    /// Runs passes while they settle jobs, the lease holds and the process is not stopping;
    /// `false` when a pass failed.
    async fn drain(&self, lease: &Held, stopping: &Stopping) -> bool {
        loop {
            if lease.is_lost() || stopping.is_stopping() {
                return true;
            }
            match self.pass(lease).await {
                Ok(report) if report.settled() > 0 => continue,
                Ok(_) => return true,
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), repository = %self.key, "git writer run failed");
                    return false;
                }
            }
        }
    }

    /// One pass now, under the lease (taken for it and given back after): what an
    /// administrator's "run now", a tool or a test does. Fails when another replica holds it.
    pub async fn run_once(&self) -> anyhow::Result<Report> {
        let lease = self
            .lease
            .hold()
            .await?
            .with_context(|| format!("another replica holds {}", self.lease.name()))?;
        let report = self.pass(&lease).await;
        lease.release().await;
        report
    }

    /// One pass over the due jobs: at most one fetch, one push (plus retries when the branch
    /// moved), and each job settled or postponed. A pass that did work (or failed) is counted
    /// and timed for Prometheus.
    pub async fn pass(&self, lease: &Held) -> anyhow::Result<Report> {
        let started = std::time::Instant::now();
        let run = self.pass_inner(lease).await;
        let worked = run
            .as_ref()
            .map_or(true, |r| r.settled() > 0 || r.postponed > 0);
        if worked {
            self.telemetry.git_run(
                &self.key,
                run.as_ref().is_ok_and(|r| r.postponed == 0),
                started.elapsed().as_secs_f64(),
            );
        }
        run
    }

    async fn pass_inner(&self, lease: &Held) -> anyhow::Result<Report> {
        let rows = store::due(&self.db, &self.key, self.settings.batch)
            .await
            .context("reading the outbox")?;
        let mut report = Report::default();
        if rows.is_empty() {
            return Ok(report);
        }
        let (pull_jobs, jobs): (Vec<Job>, Vec<Job>) =
            rows.iter().map(job_of).partition(|j| j.pull_request);
        for job in &pull_jobs {
            if lease.is_lost() {
                return Ok(report);
            }
            self.open_pull(lease, job, &mut report).await?;
        }
        if jobs.is_empty() {
            return Ok(report);
        }
        match self.write_with_retries(&jobs, &mut report).await? {
            Ok(written) => self.settle(lease, &jobs, &written, &mut report).await?,
            Err(WriteError::Refused(message)) if jobs.len() > 1 => {
                tracing::warn!(repository = %self.key, %message, jobs = jobs.len(), "the remote refused a batch; pushing its jobs one by one");
                self.isolate(lease, &jobs, &mut report).await?;
            }
            Err(WriteError::Refused(message)) => {
                self.postpone(
                    lease,
                    &jobs,
                    &message,
                    Setback::Refusal {
                        max: self.settings.max_attempts,
                    },
                    &mut report,
                )
                .await?;
                report.refused += 1;
            }
            Err(WriteError::Local(error)) => return Err(error),
            Err(error @ (WriteError::Remote(_) | WriteError::Race)) => {
                self.postpone(
                    lease,
                    &jobs,
                    &error.to_string(),
                    Setback::Outage,
                    &mut report,
                )
                .await?;
            }
        }
        tracing::info!(repository = %self.key, ?report, "git writer run");
        Ok(report)
    }

    /// Writes `jobs` as one push, retrying when the branch moved meanwhile.
    async fn write_with_retries(
        &self,
        jobs: &[Job],
        report: &mut Report,
    ) -> anyhow::Result<Result<Vec<Written>, WriteError>> {
        let mut races = 0;
        loop {
            let batch = jobs.to_vec();
            match self.blocking(move |ctx| write(ctx, &batch)).await? {
                Err(WriteError::Race) if races < RACE_RETRIES => {
                    races += 1;
                    report.races += 1;
                    let delay = jitter(Duration::from_millis(25) * 2u32.pow(races.min(6)));
                    tokio::time::sleep(delay).await;
                }
                other => return Ok(other),
            }
        }
    }

    /// After a refused batch: each job pushed on its own, in order. The refused ones are
    /// counted (and fail after the configured number of refusals); the rest land now.
    async fn isolate(&self, lease: &Held, jobs: &[Job], report: &mut Report) -> anyhow::Result<()> {
        for (i, job) in jobs.iter().enumerate() {
            if lease.is_lost() {
                return Ok(());
            }
            let one = std::slice::from_ref(job);
            match self.write_with_retries(one, report).await? {
                Ok(written) => self.settle(lease, one, &written, report).await?,
                Err(WriteError::Refused(message)) => {
                    report.refused += 1;
                    self.postpone(
                        lease,
                        one,
                        &message,
                        Setback::Refusal {
                            max: self.settings.max_attempts,
                        },
                        report,
                    )
                    .await?;
                }
                Err(WriteError::Local(error)) => return Err(error),
                Err(error @ (WriteError::Remote(_) | WriteError::Race)) => {
                    // The remote went away meanwhile: everything left waits for it.
                    self.postpone(
                        lease,
                        &jobs[i..],
                        &error.to_string(),
                        Setback::Outage,
                        report,
                    )
                    .await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn settle(
        &self,
        lease: &Held,
        jobs: &[Job],
        written: &[Written],
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let outcomes: Vec<(String, Settled)> = jobs
            .iter()
            .zip(written)
            .map(|(job, w)| (job.id.clone(), w.settled()))
            .collect();
        let appended = store::settle_all(&self.db, lease.fence(), &outcomes).await?;
        self.ledger.announce(appended);
        for w in written {
            w.count(report);
        }
        Ok(())
    }

    pub(super) async fn postpone(
        &self,
        lease: &Held,
        jobs: &[Job],
        message: &str,
        setback: Setback,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let attempts = jobs.iter().map(|j| j.attempts).max().unwrap_or(0);
        let delay = self.backoff(attempts);
        tracing::warn!(repository = %self.key, error = %message, retry_in = ?delay, ?setback, "git write postponed");
        let next = db::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let appended =
            store::postpone(&self.db, lease.fence(), &ids, message, next, setback).await?;
        for event in &appended {
            if event.kind == app::requests::EventKind::Failed {
                report.failed += 1;
            }
        }
        self.ledger.announce(appended);
        report.postponed += ids.len();
        Ok(())
    }

    /// Runs the blocking part `f` (git CLI, libgit2) off the async threads.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Blocking) -> Result<T, WriteError> + Send + 'static,
    ) -> anyhow::Result<Result<T, WriteError>> {
        let ctx = Blocking {
            clone: self.clone.clone(),
            branch: self.branch.clone(),
            settings: self.settings.clone(),
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

/// What the blocking part works with.
pub(super) struct Blocking {
    pub clone: Arc<SharedClone>,
    pub branch: String,
    pub settings: GitSettings,
    pub roots: Vec<String>,
}

/// ±20 %, so replicas and retries do not move in step.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + fastrand::f64() * 0.4)
}

fn job_of(row: &JobRow) -> Job {
    let r = &row.request;
    let action = r.action;
    let values = r.values();
    let message = commit_message(&Subject {
        id: &r.id,
        action,
        kind: &r.kind,
        team: &r.team,
        name: &r.name,
        environment: &r.environment,
        offering: &r.offering,
        offering_version: &r.offering_version,
        values: &values,
        requester_name: &r.requester_name,
        requester_email: &r.requester_email,
        promoted_from: r.promoted_from.as_deref(),
    });
    Job {
        id: r.id.clone(),
        created_at: r.created_at,
        path: r.path.clone(),
        content: (action != app::requests::Action::Delete).then(|| r.content.clone()),
        create_only: action == app::requests::Action::Create,
        pull_request: r.write_mode == app::requests::WriteMode::PullRequest,
        title: message.lines().next().unwrap_or_default().to_owned(),
        author: (r.requester_name.clone(), r.requester_email.clone()),
        message,
        attempts: row.attempts,
    }
}

/// A job applied to a tree.
pub(super) enum Applied {
    Tree(Oid),
    Unchanged,
    Failed(String),
}

pub(super) fn apply_job(
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
            Err(layout::Error::Git(e)) => return Err(e.into()),
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
        Err(layout::Error::Git(e)) => Err(e.into()),
        Err(problem) => Ok(Applied::Failed(problem.to_string())),
    }
}

pub(super) fn tree_of(
    repo: &Repository,
    commit: Option<Oid>,
) -> Result<Option<git2::Tree<'_>>, WriteError> {
    match commit {
        Some(id) => Ok(Some(repo.find_commit(id).and_then(|c| c.tree())?)),
        None => Ok(None),
    }
}

pub(super) fn make_commit(
    repo: &Repository,
    job: &Job,
    settings: &GitSettings,
    tree: Oid,
    parent: Option<Oid>,
) -> Result<Oid, WriteError> {
    let author = Signature::now(&job.author.0, &job.author.1)
        .or_else(|_| Signature::now("Unknown", "unknown@invalid"))?;
    let bot = Signature::now(&settings.bot_name, &settings.bot_email)
        .context("the bot identity is not a valid Git signature")?;
    let tree = repo.find_tree(tree)?;
    let parents: Vec<git2::Commit<'_>> = match parent {
        Some(id) => vec![repo.find_commit(id)?],
        None => vec![],
    };
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    Ok(repo.commit(None, &author, &bot, &job.message, &tree, &parent_refs)?)
}

/// The blocking part of direct mode: fetch, scan, apply, commit each job onto the last,
/// push once (fast-forward only).
fn write(ctx: &Blocking, jobs: &[Job]) -> Result<Vec<Written>, WriteError> {
    let repo = ctx.clone.open()?;
    let head = ctx.clone.fetch_branch(&ctx.branch)?;
    let since = jobs.iter().map(|j| j.created_at).min().unwrap_or(0) - SCAN_SLACK_MS;
    let pushed: HashMap<String, Oid> = match head {
        Some(head) => trailers_since(&repo, head, since).map_err(|e| {
            WriteError::Local(anyhow::Error::from(e).context("scanning the history"))
        })?,
        None => HashMap::new(),
    };
    let mut tip = head;
    let mut written = Vec::with_capacity(jobs.len());
    for job in jobs {
        if let Some(sha) = pushed.get(&job.id) {
            written.push(Written::Recovered(sha.to_string()));
            continue;
        }
        let base = tree_of(&repo, tip)?;
        match apply_job(&repo, base.as_ref(), job, &ctx.roots)? {
            Applied::Failed(message) => written.push(Written::Failed(message)),
            Applied::Unchanged => written.push(Written::Unchanged(
                tip.map(|t| t.to_string()).unwrap_or_default(),
            )),
            Applied::Tree(tree) => {
                let id = make_commit(&repo, job, &ctx.settings, tree, tip)?;
                tip = Some(id);
                written.push(Written::Committed(id.to_string()));
            }
        }
    }
    if let Some(new_tip) = tip.filter(|t| Some(*t) != head) {
        let refspec = format!("{new_tip}:refs/heads/{}", ctx.branch);
        ctx.clone
            .git()
            .run(&["push", "--porcelain", ctx.clone.url(), &refspec])?;
        ctx.clone.move_branch(&ctx.branch, new_tip)?;
    }
    Ok(written)
}
