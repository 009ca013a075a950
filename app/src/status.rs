//! Live status from the control plane, as the UI sees it: serde-only types shared by the
//! server (which fills them from its watchers) and the browser (which renders them and
//! receives [`StatusMessage`]s over Server-Sent Events).

use serde::{Deserialize, Serialize};

use crate::domain::{Health, HealthState};

/// A status condition of an object, as the control plane wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Condition {
    /// `Ready`, `Synced`, `Reconciling` …
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: Option<String>,
    /// Human message.
    pub message: Option<String>,
    /// RFC 3339: when the condition last changed, if the object says.
    pub since: Option<String>,
}

/// One object of a request's resource tree: the claim, its composite resource, the managed
/// resources that composes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(no_recursion))]
pub struct ResourceNode {
    /// `group/version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Its own health (not its children's).
    pub health: Health,
    /// Its conditions, as written.
    pub conditions: Vec<Condition>,
    /// What it references and Slipway could follow.
    pub children: Vec<ResourceNode>,
    /// Referenced but not seen: not created yet, or its kind is not watched.
    pub missing: bool,
}

/// The status of a request's claim, live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LiveStatus {
    /// The claim's health; when something in its tree failed, `Failed` with the deepest
    /// failing object's reason and message. `Stale` while the cluster is unreachable.
    pub health: Health,
    /// The object the root cause comes from (`Kind/name`), when it is not the claim.
    pub cause_in: Option<String>,
    /// When the cluster is unreachable: the state last seen before that (the `health` is Stale).
    pub last_known: Option<HealthState>,
    /// RFC 3339: when the status was last seen to change (for Stale: its age).
    pub since: String,
}

/// A request's live status with its resource tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RequestStatus {
    /// The cluster the request's environment reconciles in, if one is configured.
    pub cluster: Option<String>,
    /// The claim's status, once the claim is seen.
    pub live: Option<LiveStatus>,
    /// Claim → composite → managed resources.
    pub tree: Option<ResourceNode>,
    /// Why there is no status, in words (no cluster, not seen yet, kind not served …).
    pub note: Option<String>,
}

/// One claim in the "my claims" list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClaimRow {
    /// The request whose stamp the claim carries.
    pub request_id: String,
    /// Team label.
    pub team: String,
    /// Environment label.
    pub environment: String,
    /// Cluster.
    pub cluster: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Live status.
    pub live: LiveStatus,
    /// Environments the claim may be promoted to.
    #[serde(default)]
    pub promotes_to: Vec<String>,
}

/// Where following one kind in one cluster stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum KindState {
    /// Looking for it in the cluster's API.
    #[default]
    #[serde(rename = "discovering")]
    Discovering,
    /// Served; the first list has not finished.
    #[serde(rename = "listing")]
    Listing,
    /// Listed completely and watched: absence means absent.
    #[serde(rename = "watching")]
    Watching,
    /// Listing or watching it fails; retried with backoff.
    #[serde(rename = "failing")]
    Failing,
    /// The cluster does not serve it; asked again later.
    #[serde(rename = "not installed")]
    NotInstalled,
}

impl KindState {
    /// The word shown (and serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            KindState::Discovering => "discovering",
            KindState::Listing => "listing",
            KindState::Watching => "watching",
            KindState::Failing => "failing",
            KindState::NotInstalled => "not installed",
        }
    }
}

/// One watched kind in a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WatchedKind {
    /// `group/version` (the served version), or the group when not served.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Why it is watched: `claim`, `composed`, `applier`.
    pub role: String,
    /// Objects held.
    pub objects: usize,
    /// Where following it stands.
    pub state: KindState,
    /// What is wrong, in words.
    pub note: Option<String>,
    /// RFC 3339: the last event received.
    pub last_event: Option<String>,
}

/// A cluster as the watchers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClusterView {
    /// Configured name.
    pub name: String,
    /// Environments reconciling there.
    pub environments: Vec<String>,
    /// Whether its API server answers.
    pub reachable: bool,
    /// RFC 3339: since when it is (un)reachable.
    pub since: String,
    /// The last error, when unreachable.
    pub error: Option<String>,
    /// Milliseconds between an object's last change in the cluster (its newest condition
    /// transition) and Slipway seeing it, for the latest event; `None` before any.
    pub lag_ms: Option<i64>,
    /// The kinds watched.
    pub kinds: Vec<WatchedKind>,
}

/// What the status stream pushes to browsers (`data:` of one Server-Sent Event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StatusMessage {
    /// A claim's live status changed.
    Claim {
        /// The request whose stamp the claim carries.
        request_id: String,
        /// Its team.
        team: String,
        /// The new status.
        live: LiveStatus,
    },
    /// A request's ledger grew (synced, ready, deleted …): timelines should reload.
    Ledger {
        /// The request.
        request_id: String,
        /// Its team.
        team: String,
        /// The event kind.
        kind: crate::requests::EventKind,
    },
    /// A cluster became unreachable, or reachable again.
    Cluster {
        /// Its name.
        cluster: String,
        /// Whether it answers.
        reachable: bool,
        /// The error, when it does not.
        error: Option<String>,
    },
    /// The stream cannot replay what was missed: reload what is shown.
    Reset,
}

impl StatusMessage {
    /// The SSE `event:` name.
    pub fn event_name(&self) -> &'static str {
        match self {
            StatusMessage::Claim { .. } => "claim",
            StatusMessage::Ledger { .. } => "ledger",
            StatusMessage::Cluster { .. } => "cluster",
            StatusMessage::Reset => "reset",
        }
    }

    /// The team it concerns; `None` for messages everyone receives.
    pub fn team(&self) -> Option<&str> {
        match self {
            StatusMessage::Claim { team, .. } | StatusMessage::Ledger { team, .. } => Some(team),
            StatusMessage::Cluster { .. } | StatusMessage::Reset => None,
        }
    }
}

impl LiveStatus {
    /// The root cause in words: where, why, what it said (`DBInstance/x: ReconcileError: …`);
    /// empty when the status says none.
    pub fn root_cause(&self) -> String {
        [
            self.cause_in.clone(),
            self.health.reason.clone(),
            self.health.message.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ")
    }
}

/// A health in words, its reason after the state: "Failed (ReconcileError)".
pub fn health_words(health: &Health) -> String {
    match &health.reason {
        Some(reason) => format!("{} ({reason})", state_label(health.state)),
        None => state_label(health.state).to_owned(),
    }
}

/// Words for a health state.
pub fn state_label(state: HealthState) -> &'static str {
    match state {
        HealthState::Ready => "Ready",
        HealthState::Progressing => "Progressing",
        HealthState::Failed => "Failed",
        HealthState::Deleting => "Deleting",
        HealthState::Unknown => "Unknown",
        HealthState::Stale => "Stale",
    }
}
