//! Pull-request mode of a writer: each job pushed to a branch of its own and proposed on the
//! forge; merges and closures followed by webhook and by polling.
//!
//! ```text
//!  job ──▶ branch slipway/<id> from the target's head, one commit,
//!          pushed --force-with-lease (only over what this writer last saw there)
//!      ──▶ forge: open (or find the open) pull request ──▶ `pr_opened` (fenced)
//!  webhook (signature checked) ─┐
//!  poller (every N s)  ─────────┴─▶ forge: read the pull request ──▶ `merged` | `closed`
//! ```
//! A branch already holding the job's commit (a run that died before opening the pull
//! request, or another writer that got there first) is reused as it is.

use std::sync::Arc;
use std::time::Duration;

use super::forge::{Forge, HookError, NewPull, PullState};
use super::message;
use super::writer::{
    Applied, Blocking, Job, Report, WriteError, Writer, apply_job, make_commit, tree_of,
};
use crate::db::outbox::{self as store, PullOutcome, Setback, Settled};
use crate::lease::Held;

/// Pull-request mode: the forge, where requests link back to, how often to poll.
#[derive(Clone)]
pub struct Pulls {
    /// The forge's API.
    pub forge: Arc<dyn Forge>,
    /// The portal's address, for the link back in each description.
    pub public_origin: String,
    /// How often open pull requests are polled.
    pub poll: Duration,
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

/// The branch a pull-request job is pushed to.
pub fn request_branch(request_id: &str) -> String {
    format!("slipway/{request_id}")
}

/// What the blocking part of one pull-request job produced.
enum Branch {
    Pushed(String),
    Done(Settled),
}

impl Writer {
    /// One pull-request job: its branch pushed (blocking part), then the pull request
    /// opened (or found, when an earlier run opened it and died before recording it).
    pub(super) async fn open_pull(
        &self,
        lease: &Held,
        job: &Job,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let Some(pulls) = &self.pulls else {
            let failed = Settled::Failed {
                message: "This environment asks for pull requests, but no forge is configured (SLIPWAY_FORGE).".into(),
            };
            let appended =
                store::settle_all(&self.db, lease.fence(), &[(job.id.clone(), failed)]).await?;
            self.ledger.announce(appended);
            report.failed += 1;
            return Ok(());
        };
        let one = job.clone();
        let sha = match self.blocking(move |ctx| write_branch(ctx, &one)).await? {
            Ok(Branch::Pushed(sha)) => sha,
            Ok(Branch::Done(settled)) => {
                match &settled {
                    Settled::Failed { .. } => report.failed += 1,
                    _ => report.unchanged += 1,
                }
                let appended =
                    store::settle_all(&self.db, lease.fence(), &[(job.id.clone(), settled)])
                        .await?;
                self.ledger.announce(appended);
                return Ok(());
            }
            Err(WriteError::Local(error)) => return Err(error),
            Err(WriteError::Refused(message)) => {
                report.refused += 1;
                let setback = Setback::Refusal {
                    max: self.settings.max_attempts,
                };
                return self
                    .postpone(lease, std::slice::from_ref(job), &message, setback, report)
                    .await;
            }
            Err(error @ (WriteError::Remote(_) | WriteError::Race)) => {
                return self
                    .postpone(
                        lease,
                        std::slice::from_ref(job),
                        &error.to_string(),
                        Setback::Outage,
                        report,
                    )
                    .await;
            }
        };
        let body = format!(
            "{}\n\nRequested through Slipway: {}/requests/{}\n\nThe portal merges nothing itself: review and merge here; the request page follows this pull request to Ready.",
            job.message.trim_end(),
            pulls.public_origin.trim_end_matches('/'),
            job.id
        );
        let opened = pulls
            .forge
            .open(&NewPull {
                branch: &request_branch(&job.id),
                base: &self.branch,
                title: &job.title,
                body: &body,
            })
            .await;
        match opened {
            Ok(pull) => {
                let settled = Settled::PrOpened {
                    sha,
                    number: pull.number,
                    url: pull.url,
                };
                let appended =
                    store::settle_all(&self.db, lease.fence(), &[(job.id.clone(), settled)])
                        .await?;
                self.ledger.announce(appended);
                report.committed += 1;
                Ok(())
            }
            Err(error) => {
                self.postpone(
                    lease,
                    std::slice::from_ref(job),
                    &error.to_string(),
                    Setback::Outage,
                    report,
                )
                .await
            }
        }
    }

    /// Asks the forge about every open pull request of this repository and records merges
    /// and closures. Returns how many ended.
    pub async fn check_pulls(&self) -> anyhow::Result<usize> {
        let Some(pulls) = &self.pulls else {
            return Ok(0);
        };
        let mut ended = 0;
        for (id, number) in store::open_pulls(&self.db, self.key(), 500).await? {
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
        let appended = store::finish_pull(&self.db, id, &outcome).await?;
        let recorded = appended.is_some();
        self.ledger.announce(appended);
        Ok(recorded)
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
            Err(HookError::Ignored) => return Ok(false),
            Err(HookError::NotConfigured) => return Err(HookRefusal::NotConfigured),
            Err(HookError::BadSignature) => return Err(HookRefusal::BadSignature),
        };
        let Some(id) = event.branch.strip_prefix("slipway/") else {
            return Ok(false);
        };
        let known = crate::db::requests::get(&self.db, id)
            .await
            .map_err(|e| HookRefusal::Failed(e.to_string()))?
            .is_some_and(|r| r.pr_number == Some(event.number) && r.repository == self.key());
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
}

/// The blocking part of pull-request mode for one job: its own branch from the target
/// branch's head, one commit, pushed with a lease on what the branch held when fetched (the
/// branch is the portal's; another writer's push there is never overwritten blindly).
fn write_branch(ctx: &Blocking, job: &Job) -> Result<Branch, WriteError> {
    let repo = ctx.clone.open()?;
    let branch = request_branch(&job.id);
    let existing = ctx.clone.fetch_branch(&branch)?;
    if let Some(tip) = existing {
        let commit = repo.find_commit(tip)?;
        let ours = message::request_ids(commit.message().unwrap_or_default()).contains(&job.id);
        if ours {
            return Ok(Branch::Pushed(tip.to_string()));
        }
    }
    let head = ctx.clone.fetch_branch(&ctx.branch)?;
    let base = tree_of(&repo, head)?;
    let id = match apply_job(&repo, base.as_ref(), job, &ctx.roots)? {
        Applied::Failed(message) => return Ok(Branch::Done(Settled::Failed { message })),
        Applied::Unchanged => {
            return Ok(Branch::Done(Settled::Unchanged {
                sha: head.map(|t| t.to_string()).unwrap_or_default(),
            }));
        }
        Applied::Tree(tree) => make_commit(&repo, job, &ctx.settings, tree, head)?,
    };
    let remote_ref = format!("refs/heads/{branch}");
    let lease = format!(
        "--force-with-lease={remote_ref}:{}",
        existing.map(|t| t.to_string()).unwrap_or_default()
    );
    ctx.clone.git().run(&[
        "push",
        "--porcelain",
        &lease,
        ctx.clone.url(),
        &format!("{id}:{remote_ref}"),
    ])?;
    Ok(Branch::Pushed(id.to_string()))
}
