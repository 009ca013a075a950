//! Requests and their ledger, as the UI sees them: serde-only types shared by the server
//! (which fills them from the database) and the browser (which renders them).

use serde::{Deserialize, Serialize};

use crate::catalog::RequestDraft;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new claim.
    Create,
    /// New values for an existing claim.
    Update,
    /// Removal of a claim.
    Delete,
}

impl Action {
    /// `create`, `update`, `delete` (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    /// The stored word back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(Action::Create),
            "update" => Some(Action::Update),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    /// The verb for a commit subject ("Create", …).
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "Create",
            Action::Update => "Update",
            Action::Delete => "Delete",
        }
    }
}

/// How an environment's changes reach its branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// Committed and pushed to the branch.
    Direct,
    /// Pushed to a branch of their own, with a pull request for review.
    PullRequest,
}

impl WriteMode {
    /// `direct` or `pull-request` (as stored and configured).
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Direct => "direct",
            WriteMode::PullRequest => "pull-request",
        }
    }
}

/// A stored word that names no known value (a newer version's, or a damaged row).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {word:?}")]
pub struct UnknownWord {
    /// What was being read.
    pub what: &'static str,
    /// The word.
    pub word: String,
}

impl TryFrom<String> for WriteMode {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "direct" => Ok(WriteMode::Direct),
            "pull-request" => Ok(WriteMode::PullRequest),
            _ => Err(UnknownWord {
                what: "write mode",
                word,
            }),
        }
    }
}

impl TryFrom<String> for Action {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        Action::parse(&word).ok_or(UnknownWord {
            what: "action",
            word,
        })
    }
}

/// The latest stage of a request. Later stages (synced, ready …) come from the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Held by a policy until enough approvers agree; nothing goes to Git before.
    AwaitingApproval,
    /// An approver refused it; nothing went to Git.
    Rejected,
    /// Stored; the Git writer has not tried yet.
    Submitted,
    /// The Git writer tried and could not reach or write the repository; it keeps trying.
    WaitingForGit,
    /// The change is in the repository's branch.
    Committed,
    /// The change waits in a pull request for review.
    PrOpened,
    /// The pull request was merged: the change is in the branch.
    Merged,
    /// The pull request was closed without merging: nothing reached the branch.
    Closed,
    /// The repository already held exactly this content; nothing was committed.
    Unchanged,
    /// The change cannot be applied (the message says why); nothing was committed.
    Failed,
    /// The GitOps applier applied a revision containing the request's commit.
    Synced,
    /// The GitOps applier tried to apply a revision containing the request's commit and
    /// failed (the message is the applier's); a later successful sync moves on.
    ApplyFailed,
    /// The claim exists and is being reconciled (not Ready yet).
    Reconciling,
    /// The claim reports Ready.
    Ready,
    /// The claim, or something it composes, failed to reconcile (ledger event `failed`; the
    /// message is the root cause). It may still recover.
    Failing,
    /// The claim is gone from the cluster.
    Deleted,
}

impl Stage {
    /// Whether a request in this stage has its change in the branch (or found it there
    /// already): committed, merged or later, deleted included. The same list as the server's
    /// `IN_BRANCH` for queries.
    pub fn in_branch(self) -> bool {
        matches!(
            self,
            Stage::Committed
                | Stage::Merged
                | Stage::Unchanged
                | Stage::Synced
                | Stage::ApplyFailed
                | Stage::Reconciling
                | Stage::Ready
                | Stage::Failing
                | Stage::Deleted
        )
    }

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::AwaitingApproval => "awaiting_approval",
            Stage::Rejected => "rejected",
            Stage::Submitted => "submitted",
            Stage::WaitingForGit => "waiting_for_git",
            Stage::Committed => "committed",
            Stage::PrOpened => "pr_opened",
            Stage::Merged => "merged",
            Stage::Closed => "closed",
            Stage::Unchanged => "unchanged",
            Stage::Failed => "failed",
            Stage::Synced => "synced",
            Stage::ApplyFailed => "apply_failed",
            Stage::Reconciling => "reconciling",
            Stage::Ready => "ready",
            Stage::Failing => "failing",
            Stage::Deleted => "deleted",
        }
    }

    /// The stored word back (unknown words read as `Submitted`, never as success).
    pub fn parse(s: &str) -> Self {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .unwrap_or(Stage::Submitted)
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Stage::AwaitingApproval => "Awaiting approval",
            Stage::Rejected => "Rejected",
            Stage::Submitted => "Submitted",
            Stage::WaitingForGit => "Waiting for Git",
            Stage::Committed => "Committed",
            Stage::PrOpened => "Pull request open",
            Stage::Merged => "Merged",
            Stage::Closed => "Pull request closed",
            Stage::Unchanged => "No change",
            Stage::Failed => "Failed",
            Stage::Synced => "Synced",
            Stage::ApplyFailed => "Apply failed",
            Stage::Reconciling => "Reconciling",
            Stage::Ready => "Ready",
            Stage::Failing => "Failing",
            Stage::Deleted => "Deleted",
        }
    }

    /// Every stage, for filters.
    pub const ALL: [Stage; 16] = [
        Stage::AwaitingApproval,
        Stage::Rejected,
        Stage::Submitted,
        Stage::WaitingForGit,
        Stage::Committed,
        Stage::PrOpened,
        Stage::Merged,
        Stage::Closed,
        Stage::Unchanged,
        Stage::Failed,
        Stage::Synced,
        Stage::ApplyFailed,
        Stage::Reconciling,
        Stage::Ready,
        Stage::Failing,
        Stage::Deleted,
    ];
}

impl TryFrom<String> for Stage {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str() == word)
            .ok_or(UnknownWord {
                what: "stage",
                word,
            })
    }
}

/// What a ledger event records. The ledger is append-only; a request's [`Stage`] is its
/// latest event's consequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The request was stored.
    Submitted,
    /// The Git writer could not reach or write the repository; it keeps trying.
    WaitingForGit,
    /// In the branch as this commit.
    Committed,
    /// A pull request was opened.
    PrOpened,
    /// The pull request was merged.
    Merged,
    /// The pull request was closed without merging.
    Closed,
    /// The branch already held this content.
    Unchanged,
    /// The Git writer cannot apply it (or, after the commit, the claim failed: root cause).
    Failed,
    /// The applier applied a revision containing the commit.
    Synced,
    /// The applier tried to apply a revision containing the commit and failed.
    ApplyFailed,
    /// The claim is being reconciled.
    Reconciling,
    /// The claim is Ready.
    Ready,
    /// The claim is gone.
    Deleted,
    /// An administrator sent a failed or stuck Git job back to the writer.
    Retried,
    /// An administrator gave up on a Git job that could not be written.
    Abandoned,
    /// A policy holds the request for approval.
    AwaitingApproval,
    /// An approver agreed (the message is their comment); the last approval needed sends
    /// the request to the Git writer.
    Approved,
    /// An approver refused (the message is their comment); nothing goes to Git.
    Rejected,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 18] = [
        EventKind::Submitted,
        EventKind::WaitingForGit,
        EventKind::Committed,
        EventKind::PrOpened,
        EventKind::Merged,
        EventKind::Closed,
        EventKind::Unchanged,
        EventKind::Failed,
        EventKind::Synced,
        EventKind::ApplyFailed,
        EventKind::Reconciling,
        EventKind::Ready,
        EventKind::Deleted,
        EventKind::Retried,
        EventKind::Abandoned,
        EventKind::AwaitingApproval,
        EventKind::Approved,
        EventKind::Rejected,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted",
            EventKind::WaitingForGit => "waiting_for_git",
            EventKind::Committed => "committed",
            EventKind::PrOpened => "pr_opened",
            EventKind::Merged => "merged",
            EventKind::Closed => "closed",
            EventKind::Unchanged => "unchanged",
            EventKind::Failed => "failed",
            EventKind::Synced => "synced",
            EventKind::ApplyFailed => "apply_failed",
            EventKind::Reconciling => "reconciling",
            EventKind::Ready => "ready",
            EventKind::Deleted => "deleted",
            EventKind::Retried => "retried",
            EventKind::Abandoned => "abandoned",
            EventKind::AwaitingApproval => "awaiting_approval",
            EventKind::Approved => "approved",
            EventKind::Rejected => "rejected",
        }
    }

    /// The stored word back; `None` for a word this version does not know.
    pub fn parse(word: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

impl TryFrom<String> for EventKind {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        EventKind::parse(&word).ok_or(UnknownWord {
            what: "ledger event",
            word,
        })
    }
}

/// One request in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestSummary {
    /// Request id (UUID v7).
    pub id: String,
    /// What it asks for.
    pub action: Action,
    /// Offering id and version (`postgres@1.2.0`).
    pub offering: String,
    /// Kind of the claim.
    pub kind: String,
    /// Name of the claim.
    pub name: String,
    /// The team it is for.
    pub team: String,
    /// The environment it is for.
    pub environment: String,
    /// Who asked.
    pub requested_by: String,
    /// Latest stage.
    pub stage: Stage,
    /// RFC 3339.
    pub created_at: String,
}

/// One ledger event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestEvent {
    /// What happened.
    pub kind: EventKind,
    /// RFC 3339.
    pub at: String,
    /// Who acted (a person's name, or "Slipway").
    pub actor: String,
    /// Commit id, if the event has one.
    pub sha: Option<String>,
    /// Link to the commit or pull request, when the forge's web address is configured.
    pub url: Option<String>,
    /// What happened, in words.
    pub message: Option<String>,
}

/// What the Git writer is doing about a request that is not committed yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GitProgress {
    /// Attempts so far.
    pub attempts: i64,
    /// The last attempt's error, in words (never credentials).
    pub last_error: Option<String>,
    /// RFC 3339: when the writer tries again.
    pub next_attempt_at: String,
}

/// One request with its timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestDetail {
    /// The summary.
    pub summary: RequestSummary,
    /// File path in the repository.
    pub path: String,
    /// The file's content as committed (or to be committed).
    pub content: String,
    /// Commit id in the branch, once committed (or merged).
    pub commit: Option<String>,
    /// The pull request, in pull-request mode once opened.
    pub pull_request: Option<String>,
    /// The ledger, oldest first.
    pub events: Vec<RequestEvent>,
    /// Present while the writer has not finished.
    pub git: Option<GitProgress>,
    /// The viewer may rate the offering: they made the request and it has been Ready.
    #[serde(default)]
    pub can_rate: bool,
    /// The rating given for this request, if any.
    #[serde(default)]
    pub feedback: Option<crate::metrics::GivenFeedback>,
    /// The offering's title, as people read it.
    #[serde(default)]
    pub offering_title: String,
    /// The request this one promotes (the same claim in the environment before).
    #[serde(default)]
    pub promoted_from: Option<String>,
    /// Environments the claim may be promoted to from here (the request is in the branch).
    #[serde(default)]
    pub promotes_to: Vec<String>,
}

/// A Git job an administrator should look at: failed, or tried and not through yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GitJob {
    /// Its request.
    pub request: RequestSummary,
    /// The repository and branch it writes to (no credentials).
    pub repository: String,
    /// The file.
    pub path: String,
    /// Given up on (the request failed); otherwise still pending.
    pub failed: bool,
    /// Attempts so far.
    pub attempts: i64,
    /// How often the remote refused its change.
    pub refusals: i64,
    /// The last error, in words (never credentials).
    pub last_error: Option<String>,
    /// RFC 3339: the next attempt, while pending.
    pub next_attempt_at: Option<String>,
}

/// Filters of the requests list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestFilter {
    /// Only this team's requests.
    #[serde(default)]
    pub team: Option<String>,
    /// Only requests in this stage.
    #[serde(default)]
    pub stage: Option<String>,
    /// Only this environment.
    #[serde(default)]
    pub environment: Option<String>,
    /// Name or kind contains this text.
    #[serde(default)]
    pub q: Option<String>,
    /// Requests created before this id (paging by key).
    #[serde(default)]
    pub before: Option<String>,
}

/// A page of requests, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestPage {
    /// The requests.
    pub requests: Vec<RequestSummary>,
    /// The `before` of the next page, if there is one.
    pub next: Option<String>,
}

/// The answer to a submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Submitted {
    /// The new request's id.
    pub id: String,
}

/// What an edit starts from: the claim's current values, read from the file in Git.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChangeSource {
    /// The request whose claim is changed (the latest one for its file).
    pub of: String,
    /// The form, pre-filled; offering, environment, team and name are fixed.
    pub draft: RequestDraft,
    /// The file.
    pub path: String,
    /// Keys of the file the form does not know; an edit keeps them as they are.
    pub preserved: Vec<String>,
}

/// A request waiting for the actor's approval, as the approvals queue shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApprovalItem {
    /// The request.
    pub summary: RequestSummary,
    /// The file it writes.
    pub path: String,
    /// Its change against the file in the branch now.
    pub diff: Vec<crate::catalog::DiffLine>,
    /// What it needs, one line per policy ("1 approval from platform (prod-databases)").
    pub needs: Vec<String>,
    /// Decisions so far ("Pat Platform approved: looks fine").
    pub decisions: Vec<String>,
    /// The actor may decide now (not their own request, not decided by them yet).
    pub can_decide: bool,
    /// The actor may open the request's page (a member of its team, or an administrator);
    /// an approver from another team decides from the queue alone.
    #[serde(default)]
    pub can_open: bool,
}
