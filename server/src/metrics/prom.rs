//! The Prometheus exporter (prometheus-client, OpenMetrics text): request counters and stage
//! durations as the ledger changes in this process, and the portal's own HTTP, Git and watch
//! metrics. Served at `/metrics` on the admin listener (`SLIPWAY_METRICS_LISTEN`), never on
//! the public one.
//!
//! Label sets are bounded: outcomes, stages, methods and status classes are fixed lists;
//! routes are the router's patterns; repositories and clusters come from configuration;
//! offerings are capped at [`MAX_OFFERINGS`] distinct values (the rest count as `other`).

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::ledger::{Facts, Outcome};

/// Most distinct offering label values; later offerings are counted as `other`.
pub const MAX_OFFERINGS: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    offering: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitLabels {
    repository: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepositoryLabels {
    repository: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GateLabels {
    gate: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The process's metrics.
pub struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    stages: Histograms<StageLabels>,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Histograms<RouteLabels>,
    git_runs: Family<GitLabels, Counter>,
    git_seconds: Histograms<RepositoryLabels>,
    watch_events: Family<ClusterLabels, Counter>,
    reachable: Family<ClusterLabels, Gauge>,
    objects: Family<ClusterLabels, Gauge>,
    limited: Family<LimitLabels, Counter>,
    streams_open: Gauge,
    streams_refused: Family<LimitLabels, Counter>,
    promotions: Family<TargetLabels, Counter>,
    promotion_refusals: Family<GateLabels, Counter>,
    offerings: Mutex<HashSet<String>>,
}

fn stage_histogram() -> Histogram {
    // 0.1 s … 4.9 days, ×4 per bucket: a commit takes seconds, a database minutes.
    Histogram::new(exponential_buckets(0.1, 4.0, 12))
}

fn http_histogram() -> Histogram {
    // 1 ms … 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn git_histogram() -> Histogram {
    // 10 ms … 82 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A registry of its own (one per application state: no process-global metrics).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("slipway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by offering and outcome reached (submitted, succeeded, failed, withdrawn)",
            requests.clone(),
        );
        let stages: Histograms<StageLabels> = Family::new_with_constructor(stage_histogram);
        registry.register_with_unit(
            "request_stage",
            "Time each stage of a request took, observed when the stage ended",
            prometheus_client::registry::Unit::Seconds,
            stages.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route pattern and status class",
            http_requests.clone(),
        );
        let http_seconds: Histograms<RouteLabels> = Family::new_with_constructor(http_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to the response head, by route pattern",
            prometheus_client::registry::Unit::Seconds,
            http_seconds.clone(),
        );
        let git_runs = Family::<GitLabels, Counter>::default();
        registry.register(
            "git_writer_runs",
            "Git writer passes that did work, by repository and outcome (ok, error)",
            git_runs.clone(),
        );
        let git_seconds: Histograms<RepositoryLabels> = Family::new_with_constructor(git_histogram);
        registry.register_with_unit(
            "git_writer_run_duration",
            "Time of a Git writer pass (fetch, commit, push, ledger)",
            prometheus_client::registry::Unit::Seconds,
            git_seconds.clone(),
        );
        let watch_events = Family::<ClusterLabels, Counter>::default();
        registry.register(
            "watch_events",
            "Object changes received from a cluster's watches",
            watch_events.clone(),
        );
        let reachable = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "cluster_reachable",
            "1 when the cluster's API server answers",
            reachable.clone(),
        );
        let objects = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "watched_objects",
            "Objects held by a cluster's watchers",
            objects.clone(),
        );
        let limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 because their client passed its limit",
            limited.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "status_streams_open",
            "Status streams (Server-Sent Events) open now",
            streams_open.clone(),
        );
        let streams_refused = Family::<LimitLabels, Counter>::default();
        registry.register(
            "status_streams_refused",
            "Status stream connects refused because a cap (per_user, total) was reached",
            streams_refused.clone(),
        );
        let promotions = Family::<TargetLabels, Counter>::default();
        registry.register(
            "promotions",
            "Promotions submitted, by the environment promoted to (counted by the process that took them)",
            promotions.clone(),
        );
        let promotion_refusals = Family::<GateLabels, Counter>::default();
        registry.register(
            "promotion_refusals",
            "Refusals of promotions, by gate (ready, soak, version)",
            promotion_refusals.clone(),
        );
        Telemetry {
            promotions,
            promotion_refusals,
            limited,
            streams_open,
            streams_refused,
            registry,
            requests,
            stages,
            http_requests,
            http_seconds,
            git_runs,
            git_seconds,
            watch_events,
            reachable,
            objects,
            offerings: Mutex::new(HashSet::new()),
        }
    }

    /// A request refused by the rate limit `limit` (`sign_in`, `api`, `user`).
    pub fn rate_limited(&self, limit: &'static str) {
        self.limited.get_or_create(&LimitLabels { limit }).inc();
    }

    /// A promotion submitted to `target` (a configured environment).
    pub fn promoted(&self, target: &str) {
        self.promotions
            .get_or_create(&TargetLabels {
                target: target.to_owned(),
            })
            .inc();
    }

    /// A promotion refused by `gate`.
    pub fn promotion_refused(&self, gate: &'static str) {
        self.promotion_refusals
            .get_or_create(&GateLabels { gate })
            .inc();
    }

    /// A status stream opened (`+1`) or closed (`-1`).
    pub fn stream_open(&self, delta: i64) {
        self.streams_open.inc_by(delta);
    }

    /// A status stream connect refused by the cap `limit` (`per_user`, `total`).
    pub fn stream_refused(&self, limit: &'static str) {
        self.streams_refused
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// The offering label for `offering`: itself while fewer than [`MAX_OFFERINGS`] distinct
    /// ones were seen, else `other`.
    fn offering_label(&self, offering: &str) -> String {
        let mut seen = self
            .offerings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(offering) {
            return offering.to_owned();
        }
        if seen.len() < MAX_OFFERINGS {
            seen.insert(offering.to_owned());
            return offering.to_owned();
        }
        "other".to_owned()
    }

    /// A request's derived facts changed from `before` to `after` (a ledger append).
    pub fn ledger_changed(
        &self,
        offering: &str,
        submitted_at: i64,
        before: Option<&Facts>,
        after: &Facts,
    ) {
        let offering = self.offering_label(offering);
        let count = |outcome: &'static str| {
            self.requests
                .get_or_create(&RequestLabels {
                    offering: offering.clone(),
                    outcome,
                })
                .inc();
        };
        if before.is_none() {
            count("submitted");
        }
        let was = before.map_or(Outcome::Pending, |b| b.outcome);
        if after.outcome != was && after.outcome != Outcome::Pending {
            count(after.outcome.as_str());
        }
        let newly = |get: fn(&Facts) -> Option<i64>| {
            get(after).filter(|_| before.is_none_or(|b| get(b).is_none()))
        };
        let observe = |stage: &'static str, from: Option<i64>, to: Option<i64>| {
            if let (Some(from), Some(to)) = (from, to) {
                self.stages
                    .get_or_create(&StageLabels { stage })
                    .observe((to - from).max(0) as f64 / 1000.0);
            }
        };
        observe(
            "submit_to_commit",
            Some(submitted_at),
            newly(|f| f.committed_at),
        );
        observe(
            "commit_to_merge",
            after.committed_at,
            newly(|f| f.merged_at),
        );
        observe("merge_to_synced", after.merged_at, newly(|f| f.synced_at));
        let ready = newly(|f| f.ready_at);
        observe("synced_to_ready", after.synced_at, ready);
        observe("submit_to_ready", Some(submitted_at), ready);
    }

    /// One HTTP request answered.
    pub fn http(&self, method: &http::Method, route: String, status: u16, seconds: f64) {
        let method = match *method {
            http::Method::GET => "GET",
            http::Method::POST => "POST",
            http::Method::PUT => "PUT",
            http::Method::PATCH => "PATCH",
            http::Method::DELETE => "DELETE",
            http::Method::HEAD => "HEAD",
            http::Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests
            .get_or_create(&HttpLabels {
                method,
                route: route.clone(),
                status,
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    /// One Git writer pass that did work.
    pub fn git_run(&self, repository: &str, ok: bool, seconds: f64) {
        self.git_runs
            .get_or_create(&GitLabels {
                repository: repository.to_owned(),
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
        self.git_seconds
            .get_or_create(&RepositoryLabels {
                repository: repository.to_owned(),
            })
            .observe(seconds);
    }

    /// One object change received from `cluster`.
    pub fn watch_event(&self, cluster: &str) {
        self.watch_events
            .get_or_create(&ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .inc();
    }

    /// The exposition: the clusters' gauges set from `clusters`, then everything encoded.
    pub fn render(&self, clusters: &[app::status::ClusterView]) -> String {
        for cluster in clusters {
            let labels = ClusterLabels {
                cluster: cluster.name.clone(),
            };
            self.reachable
                .get_or_create(&labels)
                .set(i64::from(cluster.reachable));
            let objects: usize = cluster.kinds.iter().map(|k| k.objects).sum();
            self.objects
                .get_or_create(&labels)
                .set(i64::try_from(objects).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(%error, "encoding the metrics failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offerings_beyond_the_cap_are_counted_as_other() {
        let telemetry = Telemetry::new();
        for i in 0..MAX_OFFERINGS {
            assert_eq!(telemetry.offering_label(&format!("o{i}")), format!("o{i}"));
        }
        assert_eq!(telemetry.offering_label("one-too-many"), "other");
        assert_eq!(
            telemetry.offering_label("o0"),
            "o0",
            "known ones keep their name"
        );
    }

    #[test]
    fn a_new_stage_time_is_observed_once_and_outcomes_are_counted_on_change() {
        let telemetry = Telemetry::new();
        let pending = Facts {
            committed_at: Some(2_000),
            merged_at: Some(2_000),
            synced_at: None,
            ready_at: None,
            outcome: Outcome::Pending,
            change_failed: false,
        };
        telemetry.ledger_changed("db", 0, None, &pending);
        let ready = Facts {
            synced_at: Some(5_000),
            ready_at: Some(9_000),
            outcome: Outcome::Succeeded,
            ..pending.clone()
        };
        telemetry.ledger_changed("db", 0, Some(&pending), &ready);
        telemetry.ledger_changed("db", 0, Some(&ready), &ready);
        let text = telemetry.render(&[]);
        assert!(
            text.contains(r#"slipway_requests_total{offering="db",outcome="submitted"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"slipway_requests_total{offering="db",outcome="succeeded"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"slipway_request_stage_seconds_count{stage="submit_to_commit"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"slipway_request_stage_seconds_sum{stage="submit_to_ready"} 9.0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"slipway_request_stage_seconds_sum{stage="synced_to_ready"} 4.0"#),
            "{text}"
        );
    }
}
