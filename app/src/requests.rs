//! Requests and their ledger, as the UI sees them: serde-only types shared by the server
//! (which fills them from the database) and the browser (which renders them).

use serde::{Deserialize, Serialize};

use crate::catalog::RequestDraft;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// The latest stage of a request. Later stages (synced, ready …) come from the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
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
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Submitted => "submitted",
            Stage::WaitingForGit => "waiting_for_git",
            Stage::Committed => "committed",
            Stage::PrOpened => "pr_opened",
            Stage::Merged => "merged",
            Stage::Closed => "closed",
            Stage::Unchanged => "unchanged",
            Stage::Failed => "failed",
            Stage::Synced => "synced",
            Stage::Reconciling => "reconciling",
            Stage::Ready => "ready",
            Stage::Failing => "failing",
            Stage::Deleted => "deleted",
        }
    }

    /// The stored word back (unknown words read as `Submitted`, never as success).
    pub fn parse(s: &str) -> Self {
        match s {
            "waiting_for_git" => Stage::WaitingForGit,
            "committed" => Stage::Committed,
            "pr_opened" => Stage::PrOpened,
            "merged" => Stage::Merged,
            "closed" => Stage::Closed,
            "unchanged" => Stage::Unchanged,
            "failed" => Stage::Failed,
            "synced" => Stage::Synced,
            "reconciling" => Stage::Reconciling,
            "ready" => Stage::Ready,
            "failing" => Stage::Failing,
            "deleted" => Stage::Deleted,
            _ => Stage::Submitted,
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Submitted => "Submitted",
            Stage::WaitingForGit => "Waiting for Git",
            Stage::Committed => "Committed",
            Stage::PrOpened => "Pull request open",
            Stage::Merged => "Merged",
            Stage::Closed => "Pull request closed",
            Stage::Unchanged => "No change",
            Stage::Failed => "Failed",
            Stage::Synced => "Synced",
            Stage::Reconciling => "Reconciling",
            Stage::Ready => "Ready",
            Stage::Failing => "Failing",
            Stage::Deleted => "Deleted",
        }
    }

    /// Whether nothing more happens to the request on the Git side.
    pub fn is_settled(self) -> bool {
        !matches!(
            self,
            Stage::Submitted | Stage::WaitingForGit | Stage::PrOpened
        )
    }

    /// Every stage, for filters.
    pub const ALL: [Stage; 13] = [
        Stage::Submitted,
        Stage::WaitingForGit,
        Stage::Committed,
        Stage::PrOpened,
        Stage::Merged,
        Stage::Closed,
        Stage::Unchanged,
        Stage::Failed,
        Stage::Synced,
        Stage::Reconciling,
        Stage::Ready,
        Stage::Failing,
        Stage::Deleted,
    ];
}

/// One request in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
pub struct RequestEvent {
    /// `submitted`, `waiting_for_git`, `committed`, `unchanged`, `failed` …
    pub kind: String,
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
}

/// Filters of the requests list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
pub struct RequestPage {
    /// The requests.
    pub requests: Vec<RequestSummary>,
    /// The `before` of the next page, if there is one.
    pub next: Option<String>,
}

/// The answer to a submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The new request's id.
    pub id: String,
}

/// What an edit starts from: the claim's current values, read from the file in Git.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
