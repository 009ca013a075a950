//! Promotions: the same claim carried one environment further along its path (dev → staging →
//! prod), gated by what the source really did. Serde-only types shared by the server and the
//! browser, and the timeline's folding of a flapping claim.

use serde::{Deserialize, Serialize};

use crate::catalog::{Preview, RequestDraft};
use crate::requests::{Action, EventKind, RequestEvent, RequestSummary, WriteMode};
use crate::status::LiveStatus;

/// The hint that marks a field as the environment's own: a promotion keeps the target's
/// value (or its default) instead of carrying the source's.
pub const KEEP_HINT: &str = "x-slipway-promotion";

/// A check the source must pass before its claim is promoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// The source's claim is Ready in its cluster now.
    Ready,
    /// … and has been, with no failure or reconciling since, for the target's soak time.
    Soak,
    /// The source runs the offering version the target would get.
    Version,
}

impl Gate {
    /// `ready`, `soak`, `version` (as stored and exported).
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Ready => "ready",
            Gate::Soak => "soak",
            Gate::Version => "version",
        }
    }

    /// The gate in words.
    pub fn label(self) -> &'static str {
        match self {
            Gate::Ready => "Ready in its environment",
            Gate::Soak => "Ready for the soak time, no incident since",
            Gate::Version => "Runs the offering version being promoted",
        }
    }
}

/// One gate as the source stands now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GateCheck {
    /// Which gate.
    pub gate: Gate,
    /// Whether the source passes it.
    pub passed: bool,
    /// What the source shows, in words ("Ready since …", "Failed: …").
    pub detail: String,
}

/// Where a kept (environment-specific) field's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeptFrom {
    /// The target claim's current value.
    Target,
    /// The field's default (the claim is new in the target).
    Default,
    /// Left out: the target has no value and the field no default.
    Unset,
}

/// A field the promotion does not carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeptField {
    /// Dotted path in the form (`replicas`, `backup.window`).
    pub path: String,
    /// Where its value comes from.
    pub from: KeptFrom,
}

/// What promoting a claim to one environment would do, and whether it may.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PromotionPlan {
    /// The source: the claim's latest request in its environment.
    pub source: RequestSummary,
    /// The environment promoted to.
    pub target: String,
    /// A new claim there, or new values for the one there.
    pub action: Action,
    /// The latest request of the claim in the target, when it has one.
    pub target_request: Option<String>,
    /// Every gate the target asks for, passed or not.
    pub gates: Vec<GateCheck>,
    /// All gates pass.
    pub allowed: bool,
    /// The source's live status (with its root cause when it failed).
    pub source_status: Option<LiveStatus>,
    /// Fields the target keeps.
    pub kept: Vec<KeptField>,
    /// The request that would be submitted.
    pub draft: RequestDraft,
    /// Its file and diff against the target's branch, once it validates.
    pub preview: Option<Preview>,
    /// Why it does not validate in the target (its rules, policies), in words.
    pub problems: Vec<String>,
    /// How the target's changes reach its branch.
    pub write_mode: WriteMode,
    /// What this plan was made of (source, target claim, file); sent back on confirmation, so
    /// that what is written is what was shown.
    pub token: String,
}

/// One value that is not the same in every environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Difference {
    /// Dotted path.
    pub path: String,
    /// The value here, as compact JSON (`—` when absent).
    pub value: String,
}

/// The claim in one environment of its path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClaimStage {
    /// The environment.
    pub environment: String,
    /// The environment it is promoted from.
    pub promote_from: Option<String>,
    /// The claim's latest request there, if it has one.
    pub request: Option<RequestSummary>,
    /// Its live status there.
    pub live: Option<LiveStatus>,
    /// Values that are not the same in every environment that has the claim.
    pub differs: Vec<Difference>,
    /// Environments this one's claim may be promoted to.
    pub promotes_to: Vec<String>,
}

/// One resource across every environment, and the request's promotion chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClaimAcross {
    /// Every environment, in display order.
    pub stages: Vec<ClaimStage>,
    /// The request's chain: the requests it was promoted from (first environment first),
    /// itself, then those promoted from it.
    pub lineage: Vec<RequestSummary>,
}

/// A timeline entry: one event, or a run of flapping folded into one.
#[derive(Clone, Debug, PartialEq)]
pub enum TimelineEntry {
    /// One event.
    Event(RequestEvent),
    /// Ready ↔ Reconciling (or Failed) back and forth many times.
    Flapping {
        /// The changes, oldest first.
        events: Vec<RequestEvent>,
    },
}

/// Status changes in a row at least this long fold into one entry.
pub const FLAPPING_AT: usize = 6;

fn is_status_change(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Ready | EventKind::Reconciling | EventKind::Failed
    )
}

/// The timeline with every run of at least [`FLAPPING_AT`] status changes in a row (after
/// the claim was first Ready) folded into one entry. The first Ready stays its own entry:
/// it is what a reader looks for.
pub fn fold_flapping(events: &[RequestEvent]) -> Vec<TimelineEntry> {
    let first_ready = events.iter().position(|e| e.kind == EventKind::Ready);
    let mut out = Vec::new();
    let mut run: Vec<RequestEvent> = Vec::new();
    let flush = |run: &mut Vec<RequestEvent>, out: &mut Vec<TimelineEntry>| {
        if run.len() >= FLAPPING_AT {
            out.push(TimelineEntry::Flapping {
                events: std::mem::take(run),
            });
        } else {
            out.extend(run.drain(..).map(TimelineEntry::Event));
        }
    };
    for (i, event) in events.iter().enumerate() {
        if first_ready.is_some_and(|first| i > first) && is_status_change(event.kind) {
            run.push(event.clone());
        } else {
            flush(&mut run, &mut out);
            out.push(TimelineEntry::Event(event.clone()));
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, at: &str) -> RequestEvent {
        RequestEvent {
            kind,
            at: at.into(),
            actor: "Slipway".into(),
            sha: None,
            url: None,
            message: None,
        }
    }

    #[test]
    fn a_flapping_claim_is_one_entry_and_a_short_wobble_is_not() {
        let mut events = vec![
            event(EventKind::Submitted, "t0"),
            event(EventKind::Committed, "t1"),
            event(EventKind::Reconciling, "t2"),
            event(EventKind::Ready, "t3"),
        ];
        for i in 0..31 {
            let kind = if i % 2 == 0 {
                EventKind::Reconciling
            } else {
                EventKind::Ready
            };
            events.push(event(kind, &format!("f{i}")));
        }
        events.push(event(EventKind::Deleted, "end"));
        let folded = fold_flapping(&events);
        assert_eq!(folded.len(), 6, "{folded:?}");
        let TimelineEntry::Flapping { events: run } = &folded[4] else {
            panic!("{folded:?}")
        };
        assert_eq!((run.len(), run[0].at.as_str()), (31, "f0"));
        assert_eq!(
            folded[5],
            TimelineEntry::Event(event(EventKind::Deleted, "end"))
        );

        let wobble = [
            event(EventKind::Ready, "a"),
            event(EventKind::Reconciling, "b"),
            event(EventKind::Ready, "c"),
        ];
        assert!(
            fold_flapping(&wobble)
                .iter()
                .all(|e| matches!(e, TimelineEntry::Event(_)))
        );
    }
}
