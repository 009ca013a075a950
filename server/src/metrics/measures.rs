//! The measures (pure): per-request facts, incidents and feedback of a period in, a
//! [`Dashboard`] out. Every figure is exact; percentiles are nearest-rank (the value at rank
//! `ceil(p/100 · n)` of the sorted values), so a hand count can check them.

use std::collections::{BTreeMap, BTreeSet};

use app::metrics::{
    Dashboard, DoraRow, FailureRow, FeedbackRow, GroupRow, PromotionRow, RefusalRow, StageRow,
    Summary, Week,
};

use super::ledger::{Facts, Outcome};

/// A week in ms.
pub const WEEK_MS: i64 = 7 * 86_400_000;
/// 1970-01-01 was a Thursday: 1970-01-05, four days later, was a Monday.
pub const MONDAY_OFFSET_MS: i64 = 4 * 86_400_000;

/// One request's facts (a `request_facts` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactRow {
    /// Team.
    pub team: String,
    /// Offering id.
    pub offering: String,
    /// Environment.
    pub environment: String,
    /// Requesting user.
    pub requested_by: String,
    /// Submitted (Unix ms).
    pub submitted_at: i64,
    /// What its ledger says.
    pub facts: Facts,
}

/// Failures of one cause that started in the period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReasonCount {
    /// Grouping key.
    pub reason: String,
    /// How many started.
    pub count: u64,
    /// When the latest started (Unix ms).
    pub latest: i64,
}

/// Cluster failures restored in the period (from the first `failed` to the next `ready`):
/// how many, and the nearest-rank median of how long they took. The database ranks them
/// (there may be one per flapping claim per day), so only this summary crosses over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restores {
    /// Restores.
    pub count: u64,
    /// Median time to restore (ms).
    pub p50_ms: Option<i64>,
}

/// The inputs of one dashboard. The database hands over one row per request, failures
/// already counted per cause and per week, and restores already summarised.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Facts of requests submitted in `[from, to)`, and of requests submitted before it and
    /// synced in it (shared with the database's mirror of them).
    pub facts: Vec<std::sync::Arc<FactRow>>,
    /// Failures started in `[from, to)`, per cause.
    pub reasons: Vec<ReasonCount>,
    /// Failures started in `[from, to)`, per week: (Monday 00:00 UTC, count).
    pub failures_per_week: Vec<(i64, u64)>,
    /// Cluster failures restored in `[from, to)`, in all.
    pub restores: Restores,
    /// … per (team, environment).
    pub restores_by: Vec<(String, String, Restores)>,
    /// Feedback given in `[from, to)`.
    pub feedback: Vec<FeedbackRow>,
    /// Teams known in the viewer's scope.
    pub known_teams: u64,
    /// Requests submitted in `[from, to)` that a policy held for approval.
    pub approvals: Vec<Held>,
    /// Promotions submitted in `[from, to)`.
    pub promotions: Vec<Promoted>,
    /// Refusals of promotions in `[from, to)` by gate: (team, offering, gate, count).
    pub refusals: Vec<(String, String, String, u64)>,
    /// Refused promotions (attempts) in `[from, to)`: (team, offering, count).
    pub refused_attempts: Vec<(String, String, u64)>,
    /// Environments at the end of a promotion path (none is promoted from them).
    pub last_stages: Vec<String>,
}

/// A promoted request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Promoted {
    /// Team.
    pub team: String,
    /// Offering id.
    pub offering: String,
    /// The environment promoted to.
    pub environment: String,
    /// Its first Ready.
    pub ready_at: Option<i64>,
    /// The first Ready of its chain's first request (in the path's first environment).
    pub root_ready_at: Option<i64>,
}

/// A request held for approval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Unix ms.
    pub submitted_at: i64,
    /// When the last approval needed sent it on (`None`: waiting, or rejected).
    pub released_at: Option<i64>,
    /// An approver rejected it.
    pub rejected: bool,
}

/// Monday 00:00 UTC of the week holding `at`.
pub fn week_start(at: i64) -> i64 {
    at - (at - MONDAY_OFFSET_MS).rem_euclid(WEEK_MS)
}

/// Nearest-rank percentile of `values` (sorted in place); `None` when empty.
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let rank = (usize::try_from(p).unwrap_or(100) * n).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn mean(values: &[u8]) -> Option<f64> {
    (!values.is_empty())
        .then(|| values.iter().map(|v| f64::from(*v)).sum::<f64>() / values.len() as f64)
}

#[derive(Default)]
struct Group {
    requests: u64,
    succeeded: u64,
    failed: u64,
    ready: Vec<i64>,
    ratings: Vec<u8>,
}

impl Group {
    fn add(&mut self, fact: &FactRow) {
        self.requests += 1;
        match fact.facts.outcome {
            Outcome::Succeeded => self.succeeded += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Pending | Outcome::Withdrawn => {}
        }
        if let Some(ready) = fact.facts.ready_at {
            self.ready.push(ready - fact.submitted_at);
        }
    }

    fn row(mut self, key: String) -> GroupRow {
        GroupRow {
            key,
            requests: self.requests,
            succeeded: self.succeeded,
            failed: self.failed,
            ready_p50_ms: percentile(&mut self.ready, 50),
            ready_p90_ms: percentile(&mut self.ready, 90),
            rating: mean(&self.ratings),
            ratings: self.ratings.len() as u64,
        }
    }
}

#[derive(Default)]
struct Dora {
    deployments: u64,
    lead: Vec<i64>,
    change_failures: u64,
    restores: Restores,
}

/// Promotions per team and offering, refusals per gate, and their headline figures.
fn promotions(inputs: &Inputs, summary: &mut Summary) -> (Vec<PromotionRow>, Vec<RefusalRow>) {
    #[derive(Default)]
    struct Tally {
        promotions: u64,
        ready: u64,
        lead: Vec<i64>,
        refusals: u64,
    }
    let mut by: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    let mut lead_all = Vec::new();
    for p in &inputs.promotions {
        let tally = by.entry((&p.team, &p.offering)).or_default();
        tally.promotions += 1;
        if let Some(ready) = p.ready_at {
            tally.ready += 1;
            if let Some(root) = p.root_ready_at
                && inputs.last_stages.contains(&p.environment)
            {
                tally.lead.push((ready - root).max(0));
                lead_all.push((ready - root).max(0));
            }
        }
    }
    let mut gates: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, _, gate, count) in &inputs.refusals {
        *gates.entry(gate).or_default() += count;
    }
    for (team, offering, attempts) in &inputs.refused_attempts {
        by.entry((team, offering)).or_default().refusals += attempts;
        summary.promotion_refusals += attempts;
    }
    summary.promotions = inputs.promotions.len() as u64;
    summary.promotion_lead_p50_ms = percentile(&mut lead_all, 50);
    let rows = by
        .into_iter()
        .map(|((team, offering), mut t)| PromotionRow {
            team: team.to_owned(),
            offering: offering.to_owned(),
            promotions: t.promotions,
            ready: t.ready,
            lead_time_p50_ms: percentile(&mut t.lead, 50),
            refusals: t.refusals,
        })
        .collect();
    let mut refusals: Vec<RefusalRow> = gates
        .into_iter()
        .map(|(gate, count)| RefusalRow {
            gate: gate.to_owned(),
            count,
        })
        .collect();
    refusals.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.gate.cmp(&b.gate)));
    (rows, refusals)
}

/// Computes every measure of `[from, to)` (Unix ms) from `inputs`.
pub fn compute(inputs: &Inputs, from: i64, to: i64) -> Dashboard {
    let within = |at: i64| at >= from && at < to;
    let weeks_in_period = (to - from) as f64 / WEEK_MS as f64;

    // Weekly buckets covering the period.
    let mut weeks: BTreeMap<i64, (Week, BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    let mut start = week_start(from);
    while start < to {
        weeks.insert(
            start,
            (
                Week {
                    start,
                    ..Week::default()
                },
                BTreeSet::new(),
                BTreeSet::new(),
            ),
        );
        start += WEEK_MS;
    }

    let mut summary = Summary {
        known_teams: inputs.known_teams,
        ..Summary::default()
    };
    let (mut users, mut teams) = (BTreeSet::new(), BTreeSet::new());
    // The period's requests as one group: counted and timed as each offering's are.
    let mut all = Group::default();
    let mut by_offering: BTreeMap<&str, Group> = BTreeMap::new();
    let mut by_team: BTreeMap<&str, Group> = BTreeMap::new();
    let mut by_environment: BTreeMap<&str, Group> = BTreeMap::new();
    // Stages of the requests that reached Ready: submit→commit, commit→merge, merge→synced,
    // synced→ready. A missing time takes the next known one (a zero-length stage).
    let mut stages: [Vec<i64>; 4] = Default::default();
    let mut dora: BTreeMap<(&str, &str), Dora> = BTreeMap::new();
    let mut lead_all = Vec::new();

    for fact in &inputs.facts {
        if within(fact.submitted_at) {
            all.add(fact);
            users.insert(fact.requested_by.as_str());
            teams.insert(fact.team.as_str());
            if let Some((week, week_users, week_teams)) =
                weeks.get_mut(&week_start(fact.submitted_at))
            {
                week.requests += 1;
                week_users.insert(fact.requested_by.as_str());
                week_teams.insert(fact.team.as_str());
            }
            by_offering.entry(&fact.offering).or_default().add(fact);
            by_team.entry(&fact.team).or_default().add(fact);
            by_environment
                .entry(&fact.environment)
                .or_default()
                .add(fact);
            if let Some(ready) = fact.facts.ready_at {
                let synced = fact.facts.synced_at.unwrap_or(ready);
                let merged = fact.facts.merged_at.unwrap_or(synced);
                let committed = fact.facts.committed_at.unwrap_or(merged);
                let marks = [fact.submitted_at, committed, merged, synced, ready];
                for (i, stage) in stages.iter_mut().enumerate() {
                    stage.push((marks[i + 1] - marks[i]).max(0));
                }
            }
        }
        if let Some(synced) = fact.facts.synced_at.filter(|at| within(*at)) {
            summary.deployments += 1;
            lead_all.push(synced - fact.submitted_at);
            let entry = dora.entry((&fact.team, &fact.environment)).or_default();
            entry.deployments += 1;
            entry.lead.push(synced - fact.submitted_at);
            if fact.facts.change_failed {
                entry.change_failures += 1;
                summary.change_failures += 1;
            }
            if let Some((week, _, _)) = weeks.get_mut(&week_start(synced)) {
                week.deployments += 1;
            }
        }
    }

    // Failures started in the period; restores ended in it.
    for (start, count) in &inputs.failures_per_week {
        if let Some((week, _, _)) = weeks.get_mut(start) {
            week.failures += count;
        }
    }
    for (team, environment, restores) in &inputs.restores_by {
        dora.entry((team, environment)).or_default().restores = restores.clone();
    }

    // Feedback.
    let mut ratings_all = Vec::new();
    for row in inputs.feedback.iter().filter(|f| within(f.at)) {
        ratings_all.push(row.rating);
        by_offering
            .entry(&row.offering)
            .or_default()
            .ratings
            .push(row.rating);
    }

    let all = all.row(String::new());
    summary.requests = all.requests;
    summary.succeeded = all.succeeded;
    summary.failed = all.failed;
    summary.success_rate = ratio(all.succeeded, all.succeeded + all.failed);
    summary.ready_p50_ms = all.ready_p50_ms;
    summary.ready_p90_ms = all.ready_p90_ms;
    summary.active_users = users.len() as u64;
    summary.active_teams = teams.len() as u64;
    summary.deployments_per_week = summary.deployments as f64 / weeks_in_period;
    summary.lead_time_p50_ms = percentile(&mut lead_all, 50);
    summary.change_failure_rate = ratio(summary.change_failures, summary.deployments);
    summary.restores = inputs.restores.count;
    summary.restore_p50_ms = inputs.restores.p50_ms;
    summary.rating = mean(&ratings_all);
    summary.ratings = ratings_all.len() as u64;
    summary.held_for_approval = inputs.approvals.len() as u64;
    let mut waits: Vec<i64> = inputs
        .approvals
        .iter()
        .filter_map(|h| h.released_at.map(|at| (at - h.submitted_at).max(0)))
        .collect();
    let rejected = inputs.approvals.iter().filter(|h| h.rejected).count() as u64;
    summary.approval_rate = ratio(waits.len() as u64, waits.len() as u64 + rejected);
    summary.approval_p50_ms = percentile(&mut waits, 50);

    let total: i64 = stages.iter().flatten().sum();
    let names = [
        "submit → commit",
        "commit → merge",
        "merge → synced",
        "synced → ready",
    ];
    let stages = names
        .iter()
        .zip(stages.iter_mut())
        .map(|(name, values)| {
            let sum: i64 = values.iter().sum();
            StageRow {
                stage: (*name).to_owned(),
                total_ms: sum,
                share: (total > 0).then(|| sum as f64 / total as f64),
                p50_ms: percentile(values, 50),
            }
        })
        .collect();

    let mut failures: Vec<FailureRow> = inputs
        .reasons
        .iter()
        .map(|r| FailureRow {
            reason: r.reason.clone(),
            count: r.count,
            started_at: r.latest,
            ..FailureRow::default()
        })
        .collect();
    failures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    failures.truncate(20);

    let groups = |map: BTreeMap<&str, Group>| -> Vec<GroupRow> {
        let mut rows: Vec<GroupRow> = map
            .into_iter()
            .map(|(key, group)| group.row(key.to_owned()))
            .collect();
        rows.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.key.cmp(&b.key)));
        rows
    };

    let dora = dora
        .into_iter()
        .map(|((team, environment), mut d)| DoraRow {
            team: team.to_owned(),
            environment: environment.to_owned(),
            deployments: d.deployments,
            per_week: d.deployments as f64 / weeks_in_period,
            lead_time_p50_ms: percentile(&mut d.lead, 50),
            change_failures: d.change_failures,
            change_failure_rate: ratio(d.change_failures, d.deployments),
            restores: d.restores.count,
            restore_p50_ms: d.restores.p50_ms,
        })
        .collect();

    let mut feedback: Vec<FeedbackRow> = inputs
        .feedback
        .iter()
        .filter(|f| within(f.at))
        .cloned()
        .collect();
    feedback.sort_by_key(|f| std::cmp::Reverse(f.at));
    feedback.truncate(100);

    let (promotions, refusals) = promotions(inputs, &mut summary);

    Dashboard {
        from,
        to,
        days: u32::try_from((to - from) / 86_400_000).unwrap_or(0),
        summary,
        promotions,
        refusals,
        weeks: weeks
            .into_values()
            .map(|(mut week, users, teams)| {
                week.active_users = users.len() as u64;
                week.active_teams = teams.len() as u64;
                week
            })
            .collect(),
        offerings: groups(by_offering),
        teams: groups(by_team),
        environments: groups(by_environment),
        stages,
        failures,
        dora,
        feedback,
        ..Dashboard::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_midnight_utc() {
        // 2026-11-26 (a Thursday) 15:00 UTC → Monday 2026-11-23 00:00 UTC.
        assert_eq!(week_start(1_795_705_200_000), 1_795_392_000_000);
        assert_eq!(week_start(1_795_392_000_000), 1_795_392_000_000);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        // Sorted: 1 2 3 4 5 6 7 8 9 10. p50 → rank ceil(5.0) = 5 → 5; p90 → rank 9 → 9.
        let mut values = vec![10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
        assert_eq!(percentile(&mut values, 50), Some(5));
        assert_eq!(percentile(&mut values, 90), Some(9));
        // Three values: p50 → rank ceil(1.5) = 2; p90 → rank ceil(2.7) = 3.
        assert_eq!(percentile(&mut [30, 10, 20], 50), Some(20));
        assert_eq!(percentile(&mut [30, 10, 20], 90), Some(30));
        assert_eq!(percentile(&mut [], 50), None);
    }

    #[test]
    fn promotion_lead_time_runs_from_the_chains_first_ready_to_the_last_stage() {
        // Team a, offering pg: dev → staging → prod. The chain's dev request was Ready at
        // 1,000; staging's promotion Ready at 5,000 (not a last stage: no lead time); two
        // prod promotions Ready at 11,000 and 31,000 (leads 10,000 and 30,000; p50 of two
        // is rank 1 → 10,000); one prod promotion not Ready yet. Team b's staging promotion
        // is not Ready. Refusals: 2 attempts of a/pg (2 by the ready gate, 1 of them by the
        // soak gate too), 1 of b/pg by the version gate.
        let promoted = |team: &str, environment: &str, ready_at: Option<i64>| Promoted {
            team: team.into(),
            offering: "pg".into(),
            environment: environment.into(),
            ready_at,
            root_ready_at: Some(1_000),
        };
        let inputs = Inputs {
            promotions: vec![
                promoted("a", "staging", Some(5_000)),
                promoted("a", "prod", Some(11_000)),
                promoted("a", "prod", Some(31_000)),
                promoted("a", "prod", None),
                promoted("b", "staging", None),
            ],
            refusals: vec![
                ("a".into(), "pg".into(), "ready".into(), 2),
                ("a".into(), "pg".into(), "soak".into(), 1),
                ("b".into(), "pg".into(), "version".into(), 1),
            ],
            refused_attempts: vec![("a".into(), "pg".into(), 2), ("b".into(), "pg".into(), 1)],
            last_stages: vec!["prod".into()],
            ..Inputs::default()
        };
        let d = compute(&inputs, 0, 7 * 86_400_000);
        assert_eq!(d.summary.promotions, 5);
        assert_eq!(d.summary.promotion_lead_p50_ms, Some(10_000));
        assert_eq!(d.summary.promotion_refusals, 3);
        assert_eq!(
            d.promotions,
            [
                PromotionRow {
                    team: "a".into(),
                    offering: "pg".into(),
                    promotions: 4,
                    ready: 3,
                    lead_time_p50_ms: Some(10_000),
                    refusals: 2,
                },
                PromotionRow {
                    team: "b".into(),
                    offering: "pg".into(),
                    promotions: 1,
                    ready: 0,
                    lead_time_p50_ms: None,
                    refusals: 1,
                }
            ]
        );
        let gates: Vec<(&str, u64)> = d
            .refusals
            .iter()
            .map(|r| (r.gate.as_str(), r.count))
            .collect();
        assert_eq!(gates, [("ready", 2), ("soak", 1), ("version", 1)]);
    }
}
