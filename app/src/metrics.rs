//! Adoption metrics as the UI sees them: serde-only types the server computes from the
//! request ledger (see the README's "Metrics" section for each measure's definition) and the
//! dashboard pages render as SVG charts and tables.

use serde::{Deserialize, Serialize};

/// The periods a dashboard can show, in days (ending now).
pub const PERIODS: [u32; 4] = [7, 30, 90, 365];

/// The default period.
pub const DEFAULT_DAYS: u32 = 90;

/// What a dashboard shows: a period and optional team and offering filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MetricsQuery {
    /// Period length in days (one of [`PERIODS`]; default [`DEFAULT_DAYS`]).
    #[serde(default)]
    pub days: Option<u32>,
    /// Only this team.
    #[serde(default)]
    pub team: Option<String>,
    /// Only this offering.
    #[serde(default)]
    pub offering: Option<String>,
    /// At most this many rows in each long table (offerings, teams, environments, DORA,
    /// promotions, feedback; see [`Dashboard::cut_to`]). Every row when absent.
    #[serde(default)]
    pub rows: Option<u32>,
}

impl MetricsQuery {
    /// The period in days, defaulted.
    pub fn days(&self) -> u32 {
        self.days.unwrap_or(DEFAULT_DAYS)
    }
}

/// The tables a dashboard has, each exported as CSV at `/api/metrics/export/<name>`.
pub const TABLES: [&str; 10] = [
    "weeks",
    "offerings",
    "teams",
    "environments",
    "stages",
    "failures",
    "dora",
    "feedback",
    "promotions",
    "refusals",
];

/// A whole dashboard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Dashboard {
    /// The period, as Unix ms `[from, to)`.
    pub from: i64,
    /// End of the period (exclusive).
    pub to: i64,
    /// Period length in days.
    pub days: u32,
    /// The team filter applied, if any.
    pub team: Option<String>,
    /// The offering filter applied, if any.
    pub offering: Option<String>,
    /// Teams the viewer may filter by.
    pub teams_available: Vec<String>,
    /// The headline figures.
    pub summary: Summary,
    /// One row per ISO week (Monday 00:00 UTC) overlapping the period.
    pub weeks: Vec<Week>,
    /// Requests and time to ready per offering.
    pub offerings: Vec<GroupRow>,
    /// … per team.
    pub teams: Vec<GroupRow>,
    /// … per environment.
    pub environments: Vec<GroupRow>,
    /// Where the time to ready goes.
    pub stages: Vec<StageRow>,
    /// The most frequent root causes of failures that started in the period.
    pub failures: Vec<FailureRow>,
    /// DORA measures per team and environment.
    pub dora: Vec<DoraRow>,
    /// Ratings and comments given in the period, newest first.
    pub feedback: Vec<FeedbackRow>,
    /// Promotions per team and offering.
    #[serde(default)]
    pub promotions: Vec<PromotionRow>,
    /// Promotions refused in the period, per gate.
    #[serde(default)]
    pub refusals: Vec<RefusalRow>,
    /// Offering titles by id, for every offering the dashboard names.
    #[serde(default)]
    pub titles: std::collections::BTreeMap<String, String>,
    /// The tables shown in part ([`MetricsQuery::rows`]): each one's name (as in [`TABLES`])
    /// and how many rows it has in full.
    #[serde(default)]
    pub cut: std::collections::BTreeMap<String, u64>,
}

impl Dashboard {
    /// Keeps at most `rows` rows in each long table: those that weigh most (requests;
    /// deployments and restores; promotions and refusals; the newest feedback), in the table's
    /// own order. The headline figures, the weeks, the stages and the (already bounded)
    /// failures and refusals stay whole; [`Dashboard::cut`] names what was cut and its full
    /// length.
    pub fn cut_to(&mut self, rows: usize) {
        let cut = &mut self.cut;
        keep_heaviest(cut, "offerings", &mut self.offerings, rows, |g| g.requests);
        keep_heaviest(cut, "teams", &mut self.teams, rows, |g| g.requests);
        keep_heaviest(cut, "environments", &mut self.environments, rows, |g| {
            g.requests
        });
        // A row of restores only, or of refused promotions only, still counts.
        keep_heaviest(cut, "dora", &mut self.dora, rows, |d| {
            d.deployments + d.restores
        });
        keep_heaviest(cut, "promotions", &mut self.promotions, rows, |p| {
            p.promotions + p.refusals
        });
        keep_heaviest(cut, "feedback", &mut self.feedback, rows, |_| 0);
    }

    /// The offering's title, or its id when the catalog no longer has it.
    pub fn title<'a>(&'a self, offering: &'a str) -> &'a str {
        self.titles.get(offering).map_or(offering, String::as_str)
    }
}

/// Keeps the `n` rows of `table` that weigh most, ties (and equal weights) in table order, and
/// the table's order among them; records `name`'s full length in `cut` when rows went.
fn keep_heaviest<T>(
    cut: &mut std::collections::BTreeMap<String, u64>,
    name: &str,
    table: &mut Vec<T>,
    n: usize,
    weight: impl Fn(&T) -> u64,
) {
    if table.len() <= n {
        return;
    }
    cut.insert(name.to_owned(), table.len() as u64);
    let mut order: Vec<usize> = (0..table.len()).collect();
    // Stable: rows of equal weight keep the table's order.
    order.sort_by_key(|&i| std::cmp::Reverse(weight(&table[i])));
    let mut keep = vec![false; table.len()];
    for &i in &order[..n] {
        keep[i] = true;
    }
    let mut index = 0;
    table.retain(|_| {
        index += 1;
        keep[index - 1]
    });
}

/// Promotions of one team's claims of one offering.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PromotionRow {
    /// Team.
    pub team: String,
    /// Offering id.
    pub offering: String,
    /// Promotions submitted in the period.
    pub promotions: u64,
    /// Of those, Ready in their environment.
    pub ready: u64,
    /// Promotion lead time (first Ready in the path's first environment → Ready in its last),
    /// median over the period's promotions into a last environment (ms).
    pub lead_time_p50_ms: Option<i64>,
    /// Promotions a gate refused in the period.
    pub refusals: u64,
}

/// Promotions a gate refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RefusalRow {
    /// The gate (`ready`, `soak`, `version`).
    pub gate: String,
    /// Refusals in the period.
    pub count: u64,
}

/// Headline figures of a period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Summary {
    /// Requests submitted in the period.
    pub requests: u64,
    /// Distinct people who submitted a request in the period.
    pub active_users: u64,
    /// Distinct teams that submitted a request in the period.
    pub active_teams: u64,
    /// Teams known to the portal (in the viewer's scope).
    pub known_teams: u64,
    /// Requests of the period that succeeded (Ready, deleted as asked, or nothing to change).
    pub succeeded: u64,
    /// Requests of the period that failed (in Git, or failing without ever being Ready).
    pub failed: u64,
    /// `succeeded / (succeeded + failed)`, when any request settled.
    pub success_rate: Option<f64>,
    /// Time to ready, nearest-rank median (ms).
    pub ready_p50_ms: Option<i64>,
    /// Time to ready, nearest-rank 90th percentile (ms).
    pub ready_p90_ms: Option<i64>,
    /// Requests synced in the period (DORA deployment frequency's numerator).
    pub deployments: u64,
    /// Deployments per week.
    pub deployments_per_week: f64,
    /// Lead time for changes, median (ms).
    pub lead_time_p50_ms: Option<i64>,
    /// Deployments that later failed in the cluster.
    pub change_failures: u64,
    /// `change_failures / deployments`.
    pub change_failure_rate: Option<f64>,
    /// Failures restored in the period.
    pub restores: u64,
    /// Time to restore, median (ms).
    pub restore_p50_ms: Option<i64>,
    /// Mean rating (1–5) of the period's feedback.
    pub rating: Option<f64>,
    /// Ratings given in the period.
    pub ratings: u64,
    /// Commits to the GitOps paths in the period, through Slipway and out of band.
    pub self_service: Option<SelfService>,
    /// Requests submitted in the period that a policy held for approval.
    #[serde(default)]
    pub held_for_approval: u64,
    /// Approved ÷ decided, among them (`None`: none decided).
    #[serde(default)]
    pub approval_rate: Option<f64>,
    /// Median time from submission to the approval that sent a request on.
    #[serde(default)]
    pub approval_p50_ms: Option<i64>,
    /// Promotions submitted in the period.
    #[serde(default)]
    pub promotions: u64,
    /// Promotion lead time, median (see [`PromotionRow::lead_time_p50_ms`]).
    #[serde(default)]
    pub promotion_lead_p50_ms: Option<i64>,
    /// Promotions a gate refused in the period.
    #[serde(default)]
    pub promotion_refusals: u64,
}

/// Commits to the environments' paths, by whether Slipway made them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SelfService {
    /// Commits carrying Slipway's request trailer.
    pub through_slipway: u64,
    /// Commits without it.
    pub out_of_band: u64,
    /// `through_slipway / (through_slipway + out_of_band)`.
    pub share: Option<f64>,
    /// The repositories that could not be read (their commits are not counted).
    pub unreadable: Vec<String>,
}

/// One week of the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Week {
    /// Monday 00:00 UTC, Unix ms.
    pub start: i64,
    /// Requests submitted.
    pub requests: u64,
    /// Distinct requesters.
    pub active_users: u64,
    /// Distinct teams.
    pub active_teams: u64,
    /// Requests synced.
    pub deployments: u64,
    /// Failures that started.
    pub failures: u64,
}

/// Requests of one offering, team or environment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GroupRow {
    /// The offering id, team or environment.
    pub key: String,
    /// Requests submitted in the period.
    pub requests: u64,
    /// Of those, succeeded.
    pub succeeded: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Time to ready, median (ms).
    pub ready_p50_ms: Option<i64>,
    /// Time to ready, 90th percentile (ms).
    pub ready_p90_ms: Option<i64>,
    /// Mean rating of the period's feedback.
    pub rating: Option<f64>,
    /// Ratings given.
    pub ratings: u64,
}

/// One stage of the way to Ready.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StageRow {
    /// `submit → commit`, `commit → merge`, `merge → synced`, `synced → ready`.
    pub stage: String,
    /// Sum over the requests that reached Ready (ms).
    pub total_ms: i64,
    /// Its share of the summed time to ready.
    pub share: Option<f64>,
    /// Median (ms).
    pub p50_ms: Option<i64>,
}

/// A root cause and how often it struck.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FailureRow {
    /// The grouping key: where and why (`DBInstance: ReconcileError`, `Git: …`).
    pub reason: String,
    /// Failures that started in the period.
    pub count: u64,
    /// The latest one's full message.
    pub example: String,
    /// The latest one's request.
    pub request_id: String,
    /// When the latest one started (Unix ms).
    pub started_at: i64,
}

/// DORA measures of one team in one environment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DoraRow {
    /// Team.
    pub team: String,
    /// Environment.
    pub environment: String,
    /// Requests synced in the period.
    pub deployments: u64,
    /// Deployments per week.
    pub per_week: f64,
    /// Lead time for changes (submitted → synced), median (ms).
    pub lead_time_p50_ms: Option<i64>,
    /// Deployments that failed in the cluster afterwards.
    pub change_failures: u64,
    /// `change_failures / deployments`.
    pub change_failure_rate: Option<f64>,
    /// Failures restored (Failed → Ready again) in the period.
    pub restores: u64,
    /// Time to restore, median (ms).
    pub restore_p50_ms: Option<i64>,
}

/// A rating.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FeedbackRow {
    /// Offering.
    pub offering: String,
    /// Team.
    pub team: String,
    /// 1–5.
    pub rating: u8,
    /// Words (may be empty).
    pub comment: String,
    /// Unix ms.
    pub at: i64,
    /// The request rated.
    pub request_id: String,
}

/// What a requester sends to rate an offering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewFeedback {
    /// The request (must be theirs and have been Ready).
    pub request_id: String,
    /// 1–5.
    pub rating: u8,
    /// Optional words, up to [`MAX_COMMENT_CHARS`].
    #[serde(default)]
    pub comment: String,
}

/// Longest feedback comment accepted.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The viewer's own rating of a request's offering, shown on the request page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GivenFeedback {
    /// 1–5.
    pub rating: u8,
    /// Words.
    pub comment: String,
}

/// `1234567` ms → `"20.6 min"`: the largest unit that keeps the number readable.
pub fn human_duration(ms: i64) -> String {
    let s = ms as f64 / 1000.0;
    if s < 1.0 {
        format!("{ms} ms")
    } else if s < 120.0 {
        format!("{} s", one_decimal(s))
    } else if s < 7200.0 {
        format!("{} min", one_decimal(s / 60.0))
    } else if s < 172_800.0 {
        format!("{} h", one_decimal(s / 3600.0))
    } else {
        format!("{} d", one_decimal(s / 86_400.0))
    }
}

/// `0.8766` → `"87.7 %"`.
pub fn percent(share: f64) -> String {
    format!("{} %", one_decimal(share * 100.0))
}

/// `v` with one decimal by integer arithmetic: `v × 10` rounded half away from zero. It writes
/// what `format!("{v:.1}")` writes except at a tie, exact or made one by the multiplication
/// (0.25 and 0.15 give 0.3 and 0.2 where the formatter writes 0.2 and 0.1), never `-0.0`, and
/// `0.0` for NaN; the same in the browser as on the server. For figures and chart coordinates:
/// the exact float formatter (and its slow fallback) took a twentieth of the time to render the
/// platform's year dashboard.
pub fn one_decimal(v: f64) -> String {
    let tenths = (v * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    let tenths = tenths.unsigned_abs();
    format!("{sign}{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str, requests: u64) -> GroupRow {
        GroupRow {
            key: key.into(),
            requests,
            ..GroupRow::default()
        }
    }

    #[test]
    fn a_cut_keeps_the_heaviest_rows_in_table_order_and_says_how_many_there_were() {
        let dora = |team: &str, deployments| DoraRow {
            team: team.into(),
            environment: "prod".into(),
            deployments,
            ..DoraRow::default()
        };
        let mut dashboard = Dashboard {
            summary: Summary {
                requests: 99,
                ..Summary::default()
            },
            weeks: vec![Week::default(); 5],
            teams: vec![group("a", 9), group("b", 5), group("c", 5), group("d", 1)],
            environments: vec![group("dev", 3), group("prod", 2)],
            // Alphabetical, as the measures list them: the cut keeps that order.
            dora: vec![dora("a", 1), dora("b", 7), dora("c", 0), dora("d", 7)],
            promotions: vec![
                PromotionRow {
                    team: "a".into(),
                    promotions: 1,
                    ..PromotionRow::default()
                },
                PromotionRow {
                    team: "b".into(),
                    refusals: 3,
                    ..PromotionRow::default()
                },
                PromotionRow {
                    team: "c".into(),
                    promotions: 2,
                    ..PromotionRow::default()
                },
            ],
            feedback: (0..4)
                .map(|at| FeedbackRow {
                    at: 10 - at,
                    ..FeedbackRow::default()
                })
                .collect(),
            ..Dashboard::default()
        };
        let whole = dashboard.clone();
        dashboard.cut_to(2);
        let keys = |rows: &[GroupRow]| rows.iter().map(|g| g.key.clone()).collect::<Vec<_>>();
        // Equal weights: the one first in the table stays.
        assert_eq!(keys(&dashboard.teams), ["a", "b"]);
        assert_eq!(keys(&dashboard.environments), ["dev", "prod"]);
        let teams: Vec<_> = dashboard.dora.iter().map(|d| d.team.as_str()).collect();
        assert_eq!(teams, ["b", "d"]);
        let teams: Vec<_> = dashboard
            .promotions
            .iter()
            .map(|p| p.team.as_str())
            .collect();
        assert_eq!(teams, ["b", "c"], "refused promotions weigh too");
        let mut restored = whole.clone();
        restored.dora[2].restores = 9;
        restored.cut_to(1);
        assert_eq!(restored.dora[0].team, "c", "so do restores");
        let at: Vec<_> = dashboard.feedback.iter().map(|f| f.at).collect();
        assert_eq!(at, [10, 9], "the newest feedback");
        assert_eq!(
            dashboard.cut,
            [
                ("dora".to_owned(), 4),
                ("feedback".to_owned(), 4),
                ("promotions".to_owned(), 3),
                ("teams".to_owned(), 4)
            ]
            .into()
        );
        assert_eq!(
            dashboard.summary, whole.summary,
            "headline figures stay whole"
        );
        assert_eq!(dashboard.weeks, whole.weeks, "so do the weeks");
    }

    #[test]
    fn one_decimal_writes_what_the_float_formatter_writes() {
        for v in [
            0.0,
            0.04,
            0.05,
            1.0,
            12.34,
            99.96,
            1099.5,
            640.0 / 3.0,
            1100.0 / 53.0,
            -2.5,
        ] {
            assert_eq!(one_decimal(v), format!("{v:.1}"), "{v}");
        }
        // An exact tie rounds away from zero (the formatter rounds it to even), and no
        // negative zero.
        assert_eq!(one_decimal(156.25), "156.3");
        assert_eq!(one_decimal(-0.01), "0.0");
        assert_eq!(percent(0.8766), "87.7 %");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(human_duration(250), "250 ms");
        assert_eq!(human_duration(4_500), "4.5 s");
        assert_eq!(human_duration(1_234_567), "20.6 min");
        assert_eq!(human_duration(3 * 3_600_000), "3.0 h");
        assert_eq!(human_duration(3 * 86_400_000), "3.0 d");
    }
}
