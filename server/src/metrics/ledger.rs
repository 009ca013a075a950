//! A request's ledger folded into the facts the measures need (pure). The database keeps the
//! result in `request_facts` / `request_incidents`, recomputed from the whole ledger of the
//! request at every append, so the fold is the only definition.
//!
//! ```text
//!  submitted ─▶ committed ──────────────▶ synced ─▶ reconciling ─▶ ready ─▶ failed ─▶ ready
//!           └─▶ pr_opened ─▶ merged ──┘                                  └─ incident ─┘
//! ```

/// One ledger event, as the fold reads it.
#[derive(Clone, Copy, Debug)]
pub struct LedgerEvent<'a> {
    /// Kind (`submitted`, `committed`, …).
    pub kind: &'a str,
    /// Unix ms.
    pub at: i64,
    /// The event's words (for `failed`: the root cause).
    pub message: Option<&'a str>,
}

/// How a request ended, so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not settled yet.
    Pending,
    /// Reached Ready (create/update), its claim deleted (delete), or nothing to change.
    Succeeded,
    /// The Git writer could not apply it, or its claim failed and has not been Ready since.
    Failed,
    /// Its pull request was closed without merging, or an approver rejected it.
    Withdrawn,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Withdrawn => "withdrawn",
        }
    }

    /// The stored name back.
    pub fn parse(text: &str) -> Outcome {
        match text {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed,
            "withdrawn" => Outcome::Withdrawn,
            _ => Outcome::Pending,
        }
    }
}

/// What a request's ledger says, for the measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Its commit was made (in the branch, or on its pull-request branch).
    pub committed_at: Option<i64>,
    /// Its commit reached the branch (direct: the commit; pull request: the merge).
    pub merged_at: Option<i64>,
    /// First applied by the GitOps applier.
    pub synced_at: Option<i64>,
    /// First Ready.
    pub ready_at: Option<i64>,
    /// See [`Outcome`].
    pub outcome: Outcome,
    /// Its claim failed in the cluster after the commit reached the branch.
    pub change_failed: bool,
}

/// Where a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The claim (or something it composes) went Failed.
    Cluster,
    /// The Git writer refused the request.
    Git,
    /// The GitOps applier failed to apply a revision containing the request's commit.
    Applier,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cluster => "cluster",
            Source::Git => "git",
            Source::Applier => "applier",
        }
    }
}

/// A failure and, for the cluster's, when it was restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    /// The first `failed` event.
    pub started_at: i64,
    /// The next `ready` event; `None` while failing (or deleted before recovering).
    pub restored_at: Option<i64>,
    /// See [`Source`].
    pub source: Source,
    /// The grouping key, see [`reason_key`].
    pub reason: String,
    /// The first `failed` event's message.
    pub message: String,
}

/// Folds a request's events (oldest first) into its facts and incidents.
///
/// - `committed` sets both commit and merge times; `pr_opened` the commit, `merged` the merge;
///   `unchanged` (the branch already held the content) counts as both, and as success.
/// - A `failed` before the commit reached the branch is the Git writer's: the request failed
///   and a Git incident starts (never restored). After it, it is the cluster's: an incident
///   starts unless one is open, and the request is a change failure.
/// - `apply_failed` (the applier could not apply a revision with the commit) starts an
///   applier incident unless one is open; the next `synced` restores it. Alone it makes the
///   request failed; a later Ready still makes it a success.
/// - `ready` ends an open incident; the first one is the time to ready.
/// - A create/update succeeds at its first Ready, a delete when its claim is gone; a failure
///   after success does not undo it, a Ready after failure makes it a success.
pub fn fold(action: &str, events: &[LedgerEvent<'_>]) -> (Facts, Vec<Incident>) {
    let mut facts = Facts {
        committed_at: None,
        merged_at: None,
        synced_at: None,
        ready_at: None,
        outcome: Outcome::Pending,
        change_failed: false,
    };
    let mut incidents: Vec<Incident> = Vec::new();
    let mut open: Option<usize> = None;
    let mut applying: Option<usize> = None;
    let (mut succeeded, mut withdrawn, mut failed_anywhere) = (false, false, false);
    for event in events {
        let at = event.at;
        match event.kind {
            "committed" | "unchanged" => {
                facts.committed_at.get_or_insert(at);
                facts.merged_at.get_or_insert(at);
                if event.kind == "unchanged" {
                    succeeded = true;
                }
            }
            "pr_opened" => {
                facts.committed_at.get_or_insert(at);
            }
            "merged" => {
                facts.merged_at.get_or_insert(at);
            }
            // Closed unmerged, or refused by an approver: nothing reached the branch.
            "closed" | "rejected" => withdrawn = true,
            "synced" => {
                facts.synced_at.get_or_insert(at);
                if let Some(index) = applying.take() {
                    incidents[index].restored_at = Some(at);
                }
            }
            "apply_failed" => {
                failed_anywhere = true;
                if applying.is_none() {
                    let message = event.message.unwrap_or_default();
                    applying = Some(incidents.len());
                    incidents.push(Incident {
                        started_at: at,
                        restored_at: None,
                        source: Source::Applier,
                        reason: reason_key(message),
                        message: message.to_owned(),
                    });
                }
            }
            "ready" => {
                facts.ready_at.get_or_insert(at);
                if let Some(index) = open.take() {
                    incidents[index].restored_at = Some(at);
                }
                if action != "delete" {
                    succeeded = true;
                }
            }
            "deleted" => {
                open = None;
                applying = None;
                if action == "delete" {
                    succeeded = true;
                }
            }
            "failed" | "abandoned" => {
                let message = event.message.unwrap_or_default();
                if facts.merged_at.is_none() {
                    incidents.push(Incident {
                        started_at: at,
                        restored_at: None,
                        source: Source::Git,
                        reason: format!("Git: {}", reason_key(message)),
                        message: message.to_owned(),
                    });
                    failed_anywhere = true;
                    continue;
                }
                facts.change_failed = true;
                failed_anywhere = true;
                if open.is_none() {
                    open = Some(incidents.len());
                    incidents.push(Incident {
                        started_at: at,
                        restored_at: None,
                        source: Source::Cluster,
                        reason: reason_key(message),
                        message: message.to_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    facts.outcome = if succeeded {
        Outcome::Succeeded
    } else if withdrawn {
        Outcome::Withdrawn
    } else if failed_anywhere {
        Outcome::Failed
    } else {
        Outcome::Pending
    };
    (facts, incidents)
}

/// [`fold`] over ledger rows as stored: (kind, Unix ms, message), oldest first.
pub fn fold_rows(action: &str, rows: &[(String, i64, Option<String>)]) -> (Facts, Vec<Incident>) {
    let events: Vec<LedgerEvent<'_>> = rows
        .iter()
        .map(|(kind, at, message)| LedgerEvent {
            kind,
            at: *at,
            message: message.as_deref(),
        })
        .collect();
    fold(action, &events)
}

/// The grouping key of a failure message, so that the same cause on different objects counts
/// as one: the recorder writes `Kind/name: Reason: message` (or `Reason: message`) and the key
/// keeps `Kind: Reason` (or `Reason`). Other messages are keyed by their first sentence (up
/// to ". " or a line break), cut at 80 characters.
pub fn reason_key(message: &str) -> String {
    let token =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric());
    let mut parts = message.splitn(3, ": ");
    let first = parts.next().unwrap_or_default().trim();
    let second = parts.next();
    if first.contains('/') && !first.contains(' ') {
        let kind = first.split('/').next().unwrap_or(first);
        return match second {
            Some(reason) if token(reason) => format!("{kind}: {reason}"),
            _ => kind.to_owned(),
        };
    }
    if token(first) && second.is_some() {
        return first.to_owned();
    }
    let clause = first
        .split(". ")
        .next()
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .trim_end_matches('.');
    let mut key: String = clause.chars().take(80).collect();
    if key.is_empty() {
        key = "unknown".to_owned();
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, at: i64) -> LedgerEvent<'_> {
        LedgerEvent {
            kind,
            at,
            message: None,
        }
    }

    fn failed(at: i64, message: &str) -> LedgerEvent<'_> {
        LedgerEvent {
            kind: "failed",
            at,
            message: Some(message),
        }
    }

    #[test]
    fn a_direct_request_reaching_ready_has_every_stage_time() {
        let (facts, incidents) = fold(
            "create",
            &[
                ev("submitted", 0),
                ev("committed", 10),
                ev("synced", 40),
                ev("reconciling", 45),
                ev("ready", 100),
            ],
        );
        assert_eq!(facts.committed_at, Some(10));
        assert_eq!(
            facts.merged_at,
            Some(10),
            "a direct commit is in the branch at once"
        );
        assert_eq!(facts.synced_at, Some(40));
        assert_eq!(facts.ready_at, Some(100));
        assert_eq!(facts.outcome, Outcome::Succeeded);
        assert!(!facts.change_failed);
        assert!(incidents.is_empty());
    }

    #[test]
    fn a_pull_request_is_committed_when_opened_and_merged_when_merged() {
        let (facts, _) = fold(
            "update",
            &[
                ev("submitted", 0),
                ev("pr_opened", 5),
                ev("merged", 50),
                ev("synced", 60),
            ],
        );
        assert_eq!((facts.committed_at, facts.merged_at), (Some(5), Some(50)));
        assert_eq!(facts.outcome, Outcome::Pending);
    }

    #[test]
    fn a_git_failure_is_final_and_a_git_incident() {
        let (facts, incidents) = fold(
            "create",
            &[
                ev("submitted", 0),
                failed(3, "The path is outside the environment. Refused."),
            ],
        );
        assert_eq!(facts.outcome, Outcome::Failed);
        assert!(!facts.change_failed, "it never reached the cluster");
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].source, Source::Git);
        assert_eq!(
            incidents[0].reason,
            "Git: The path is outside the environment"
        );
        assert_eq!(incidents[0].restored_at, None);
    }

    #[test]
    fn cluster_failures_open_one_incident_until_ready_and_ready_after_failure_succeeds() {
        let (facts, incidents) = fold(
            "create",
            &[
                ev("submitted", 0),
                ev("committed", 1),
                ev("synced", 2),
                failed(10, "DBInstance/db-1: ReconcileError: quota exceeded"),
                ev("reconciling", 12),
                failed(15, "DBInstance/db-1: ReconcileError: quota exceeded again"),
                ev("ready", 30),
                failed(40, "Bucket/b: CannotCreate: denied"),
            ],
        );
        assert_eq!(
            incidents.len(),
            2,
            "failed → reconciling → failed is one incident"
        );
        assert_eq!(incidents[0].started_at, 10);
        assert_eq!(incidents[0].restored_at, Some(30));
        assert_eq!(incidents[0].reason, "DBInstance: ReconcileError");
        assert_eq!(incidents[1].restored_at, None);
        assert_eq!(facts.ready_at, Some(30));
        assert!(facts.change_failed);
        assert_eq!(
            facts.outcome,
            Outcome::Succeeded,
            "a failure after the first Ready does not undo the success"
        );
    }

    #[test]
    fn a_claim_failing_since_it_appeared_is_a_failed_request() {
        let (facts, _) = fold(
            "create",
            &[ev("submitted", 0), ev("committed", 1), failed(5, "boom")],
        );
        assert_eq!(facts.outcome, Outcome::Failed);
    }

    #[test]
    fn a_delete_succeeds_when_the_claim_is_gone_and_a_closed_pull_request_is_withdrawn() {
        let (facts, _) = fold(
            "delete",
            &[
                ev("submitted", 0),
                ev("committed", 1),
                ev("synced", 2),
                ev("deleted", 9),
            ],
        );
        assert_eq!(facts.outcome, Outcome::Succeeded);
        let (facts, _) = fold(
            "create",
            &[ev("submitted", 0), ev("pr_opened", 1), ev("closed", 2)],
        );
        assert_eq!(facts.outcome, Outcome::Withdrawn);
    }

    #[test]
    fn reasons_group_the_same_cause_on_different_objects() {
        assert_eq!(
            reason_key("DBInstance/a: ReconcileError: x"),
            "DBInstance: ReconcileError"
        );
        assert_eq!(
            reason_key("Bucket/ns/b: CannotCreate: denied: more"),
            "Bucket: CannotCreate"
        );
        assert_eq!(
            reason_key("ReconcileError: composite not ready"),
            "ReconcileError"
        );
        assert_eq!(
            reason_key("Something broke. Details follow"),
            "Something broke"
        );
        assert_eq!(
            reason_key("dev/a/b.yaml is already in the repository."),
            "dev/a/b.yaml is already in the repository"
        );
        assert_eq!(reason_key(""), "unknown");
    }
}
