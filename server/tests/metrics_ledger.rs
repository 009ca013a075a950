//! Every measure on a hand-built ledger, on the backend under test (SQLite, and PostgreSQL in
//! `make test`'s second pass). The expected figures are worked out by hand in the comments.
//!
//! Period: [T, T + 14 days), T = Monday 2026-11-09 00:00 UTC (two whole weeks).
//! People: u1, u2 in team-a; u3 in team-b; u4 in team-c (never active). M = minute, D = day.
//!
//! | req | who | offering | env     | ledger (from T)                                                         |
//! |-----|-----|----------|---------|--------------------------------------------------------------------------|
//! | R0  | u2  | pg       | dev     | submitted −2D, committed −2D+1M, synced −2D+2M, ready −2D+9M; failed 3D "DBInstance/r0: ReconcileError: quota exceeded", ready 3D+30M |
//! | R1  | u1  | pg       | dev     | submitted 1D, committed +1M, synced +3M, reconciling +4M, ready +11M    |
//! | R2  | u2  | pg       | dev     | submitted 2D, pr_opened +2M, merged +12M, synced +14M, ready +20M; failed 2D+100M "DBInstance/r2: ReconcileError: quota", reconciling +105M, failed +110M, ready +160M |
//! | R3  | u3  | bucket   | prod    | submitted 8D, committed +1M, synced +2M, failed +5M "Bucket/r3: CannotCreate: denied" |
//! | R4  | u3  | bucket   | prod    | submitted 9D, failed +1M "the path is taken. Pick another name"          |
//! | R5  | u1  | pg       | staging | submitted 10D, pr_opened +1M, closed +30M                                |
//! | R6  | u1  | pg       | dev     | delete: submitted 11D, committed +1M, synced +2M, deleted +5M            |
//! | R7  | u2  | bucket   | dev     | submitted 12D, committed +1M                                              |
//!
//! Ratings: R1 4 "quick" at 1D+1h; R2 2 "slow review" at 2D+3h.

mod common;

use app::domain::CurrentUser;
use app::metrics::{Dashboard, MetricsQuery};
use common::TestDb;
use slipway::db::Db;
use slipway::db::metrics::{HistoricRequest, Scope, import, import_feedback};
use slipway::db::users::{NewLogin, upsert_login};
use slipway::metrics::measures::compute;

const M: i64 = 60_000;
const D: i64 = 86_400_000;
/// Monday 2026-11-09 00:00 UTC.
const T: i64 = 1_794_182_400_000;
const TO: i64 = T + 14 * D;

struct Ledger {
    db: TestDb,
    users: Vec<CurrentUser>,
}

async fn user(db: &Db, handle: &str, team: &str, admin: bool) -> CurrentUser {
    upsert_login(
        db,
        &NewLogin {
            subject: format!("dev|{handle}"),
            display_name: handle.to_owned(),
            email: format!("{handle}@example.com"),
            is_admin: admin,
            teams: vec![team.to_owned()],
        },
    )
    .await
    .unwrap()
    .expect("an active user")
}

fn req(
    n: usize,
    who: &CurrentUser,
    offering: &str,
    env: &str,
    action: &str,
    events: &[(&str, i64, Option<&str>)],
) -> HistoricRequest {
    HistoricRequest {
        id: format!("r{n}"),
        action: action.to_owned(),
        offering: offering.to_owned(),
        team: who.teams[0].clone(),
        environment: env.to_owned(),
        name: format!("claim-{n}"),
        requested_by: who.id.clone(),
        events: events
            .iter()
            .map(|(k, at, m)| ((*k).to_owned(), *at, m.map(str::to_owned)))
            .collect(),
    }
}

async fn ledger() -> Ledger {
    let db = TestDb::new().await;
    let u1 = user(&db.db, "u1", "team-a", false).await;
    let u2 = user(&db.db, "u2", "team-a", false).await;
    let u3 = user(&db.db, "u3", "team-b", false).await;
    let u4 = user(&db.db, "u4", "team-c", false).await;
    let admin = user(&db.db, "pat", "team-c", true).await;
    let requests = vec![
        req(
            0,
            &u2,
            "pg",
            "dev",
            "create",
            &[
                ("submitted", T - 2 * D, None),
                ("committed", T - 2 * D + M, None),
                ("synced", T - 2 * D + 2 * M, None),
                ("ready", T - 2 * D + 9 * M, None),
                (
                    "failed",
                    T + 3 * D,
                    Some("DBInstance/r0: ReconcileError: quota exceeded"),
                ),
                ("ready", T + 3 * D + 30 * M, None),
            ],
        ),
        req(
            1,
            &u1,
            "pg",
            "dev",
            "create",
            &[
                ("submitted", T + D, None),
                ("committed", T + D + M, None),
                ("synced", T + D + 3 * M, None),
                ("reconciling", T + D + 4 * M, None),
                ("ready", T + D + 11 * M, None),
            ],
        ),
        req(
            2,
            &u2,
            "pg",
            "dev",
            "create",
            &[
                ("submitted", T + 2 * D, None),
                ("pr_opened", T + 2 * D + 2 * M, None),
                ("merged", T + 2 * D + 12 * M, None),
                ("synced", T + 2 * D + 14 * M, None),
                ("ready", T + 2 * D + 20 * M, None),
                (
                    "failed",
                    T + 2 * D + 100 * M,
                    Some("DBInstance/r2: ReconcileError: quota"),
                ),
                ("reconciling", T + 2 * D + 105 * M, None),
                (
                    "failed",
                    T + 2 * D + 110 * M,
                    Some("DBInstance/r2: ReconcileError: quota"),
                ),
                ("ready", T + 2 * D + 160 * M, None),
            ],
        ),
        req(
            3,
            &u3,
            "bucket",
            "prod",
            "create",
            &[
                ("submitted", T + 8 * D, None),
                ("committed", T + 8 * D + M, None),
                ("synced", T + 8 * D + 2 * M, None),
                (
                    "failed",
                    T + 8 * D + 5 * M,
                    Some("Bucket/r3: CannotCreate: denied"),
                ),
            ],
        ),
        req(
            4,
            &u3,
            "bucket",
            "prod",
            "create",
            &[
                ("submitted", T + 9 * D, None),
                (
                    "failed",
                    T + 9 * D + M,
                    Some("the path is taken. Pick another name"),
                ),
            ],
        ),
        req(
            5,
            &u1,
            "pg",
            "staging",
            "create",
            &[
                ("submitted", T + 10 * D, None),
                ("pr_opened", T + 10 * D + M, None),
                ("closed", T + 10 * D + 30 * M, None),
            ],
        ),
        req(
            6,
            &u1,
            "pg",
            "dev",
            "delete",
            &[
                ("submitted", T + 11 * D, None),
                ("committed", T + 11 * D + M, None),
                ("synced", T + 11 * D + 2 * M, None),
                ("deleted", T + 11 * D + 5 * M, None),
            ],
        ),
        req(
            7,
            &u2,
            "bucket",
            "dev",
            "create",
            &[
                ("submitted", T + 12 * D, None),
                ("committed", T + 12 * D + M, None),
            ],
        ),
    ];
    assert_eq!(import(&db.db, &requests).await.unwrap(), 8);
    import_feedback(&db.db, "r1", 4, "quick", T + D + 3_600_000)
        .await
        .unwrap();
    import_feedback(&db.db, "r2", 2, "slow review", T + 2 * D + 3 * 3_600_000)
        .await
        .unwrap();
    Ledger {
        db,
        users: vec![u1, u2, u3, u4, admin],
    }
}

async fn dashboard(db: &Db, scope: Scope) -> Dashboard {
    let inputs = slipway::db::metrics::inputs(db, &scope, T, TO)
        .await
        .unwrap();
    let mut dashboard = compute(&inputs, T, TO);
    slipway::db::metrics::fill_examples(db, &scope, &mut dashboard.failures)
        .await
        .unwrap();
    dashboard
}

#[tokio::test]
async fn adoption_counts_requests_people_and_teams_per_period_and_week() {
    let l = ledger().await;
    let d = dashboard(&l.db.db, Scope::default()).await;
    // Submitted in the period: R1–R7 (R0 was submitted before it).
    assert_eq!(d.summary.requests, 7);
    // u1 (R1, R5, R6), u2 (R2, R7), u3 (R3, R4).
    assert_eq!(d.summary.active_users, 3);
    // team-a and team-b of the four known teams (team-c has u4 and pat, who asked nothing).
    assert_eq!((d.summary.active_teams, d.summary.known_teams), (2, 3));
    // Week 1 [T, T+7D): R1, R2 by u1, u2 of team-a; synced R1, R2; failures R2's and R0's.
    // Week 2: R3–R7 by u3, u1, u2 of both teams; synced R3, R6; failures R3's and R4's.
    let weeks: Vec<_> = d
        .weeks
        .iter()
        .map(|w| {
            (
                w.start,
                w.requests,
                w.active_users,
                w.active_teams,
                w.deployments,
                w.failures,
            )
        })
        .collect();
    assert_eq!(weeks, vec![(T, 2, 2, 1, 2, 2), (T + 7 * D, 5, 3, 2, 2, 2)]);
    // Per offering: pg R1, R2, R5, R6; bucket R3, R4, R7. Per environment: dev R1, R2, R6, R7;
    // prod R3, R4; staging R5. Per team: team-a 5, team-b 2.
    let counts = |rows: &[app::metrics::GroupRow]| -> Vec<(String, u64)> {
        rows.iter().map(|g| (g.key.clone(), g.requests)).collect()
    };
    assert_eq!(
        counts(&d.offerings),
        vec![("pg".into(), 4), ("bucket".into(), 3)]
    );
    assert_eq!(
        counts(&d.environments),
        vec![("dev".into(), 4), ("prod".into(), 2), ("staging".into(), 1)]
    );
    assert_eq!(
        counts(&d.teams),
        vec![("team-a".into(), 5), ("team-b".into(), 2)]
    );
}

#[tokio::test]
async fn time_to_ready_percentiles_and_stage_shares() {
    let l = ledger().await;
    let d = dashboard(&l.db.db, Scope::default()).await;
    // Ready among the period's requests: R1 after 11M, R2 after 20M. Nearest rank of [11, 20]:
    // p50 → rank ceil(1.0) = 1 → 11M; p90 → rank ceil(1.8) = 2 → 20M.
    assert_eq!(d.summary.ready_p50_ms, Some(11 * M));
    assert_eq!(d.summary.ready_p90_ms, Some(20 * M));
    let pg = &d.offerings[0];
    assert_eq!(
        (pg.ready_p50_ms, pg.ready_p90_ms),
        (Some(11 * M), Some(20 * M))
    );
    assert_eq!(
        d.offerings[1].ready_p50_ms, None,
        "no bucket was ever Ready"
    );
    // Stages of R1 | R2: submit→commit 1 | 2, commit→merge 0 | 10, merge→synced 2 | 2,
    // synced→ready 8 | 6. Sums 3, 10, 4, 14 of 31 minutes.
    let stages: Vec<_> = d
        .stages
        .iter()
        .map(|s| (s.stage.as_str(), s.total_ms, s.p50_ms))
        .collect();
    assert_eq!(
        stages,
        vec![
            ("submit → commit", 3 * M, Some(M)),
            ("commit → merge", 10 * M, Some(0)),
            ("merge → synced", 4 * M, Some(2 * M)),
            ("synced → ready", 14 * M, Some(6 * M)),
        ]
    );
    let shares: Vec<f64> = d.stages.iter().map(|s| s.share.unwrap()).collect();
    for (share, minutes) in shares.iter().zip([3.0, 10.0, 4.0, 14.0]) {
        assert!((share - minutes / 31.0).abs() < 1e-12, "{shares:?}");
    }
}

#[tokio::test]
async fn success_rate_and_top_failure_reasons() {
    let l = ledger().await;
    let d = dashboard(&l.db.db, Scope::default()).await;
    // Succeeded: R1, R2 (Ready; R2's later failure does not undo it), R6 (deleted as asked).
    // Failed: R3 (failing, never Ready), R4 (Git). R5 withdrawn and R7 pending do not count.
    assert_eq!((d.summary.succeeded, d.summary.failed), (3, 2));
    assert_eq!(d.summary.success_rate, Some(0.6));
    // Started in the period: R2's incident (one, though it failed twice before Ready) and
    // R0's: the same cause on two objects; R3's; R4's in Git. Ties by name.
    let reasons: Vec<_> = d
        .failures
        .iter()
        .map(|f| (f.reason.as_str(), f.count))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("DBInstance: ReconcileError", 2),
            ("Bucket: CannotCreate", 1),
            ("Git: the path is taken", 1),
        ]
    );
    assert_eq!(
        d.failures[0].request_id, "r0",
        "the latest one is the example"
    );
    assert_eq!(
        d.failures[0].example,
        "DBInstance/r0: ReconcileError: quota exceeded"
    );
}

#[tokio::test]
async fn dora_measures_per_team_and_environment() {
    let l = ledger().await;
    let d = dashboard(&l.db.db, Scope::default()).await;
    // Synced in the period: R1, R2, R6 (team-a, dev) and R3 (team-b, prod); R0 synced before.
    assert_eq!(d.summary.deployments, 4);
    assert!(
        (d.summary.deployments_per_week - 2.0).abs() < 1e-12,
        "4 in 2 weeks"
    );
    // Lead times 3M, 14M, 2M, 2M → sorted [2, 2, 3, 14], p50 rank 2 → 2M.
    assert_eq!(d.summary.lead_time_p50_ms, Some(2 * M));
    // R2 and R3 failed after syncing: 2 of 4.
    assert_eq!(
        (d.summary.change_failures, d.summary.change_failure_rate),
        (2, Some(0.5))
    );
    // Restored in the period: R2 after 60M (2D+100M → 2D+160M), R0 after 30M. p50 → 30M.
    assert_eq!(
        (d.summary.restores, d.summary.restore_p50_ms),
        (2, Some(30 * M))
    );
    let rows: Vec<_> = d
        .dora
        .iter()
        .map(|r| {
            (
                r.team.as_str(),
                r.environment.as_str(),
                r.deployments,
                r.lead_time_p50_ms,
                r.change_failures,
                r.restores,
                r.restore_p50_ms,
            )
        })
        .collect();
    // team-a/dev: lead [3, 14, 2] → sorted [2, 3, 14], p50 rank 2 → 3M; R2 failed: 1 of 3;
    // restores R2 60M and R0 30M (also team-a, dev) → p50 30M. team-b/prod: R3 only.
    assert_eq!(
        rows,
        vec![
            ("team-a", "dev", 3, Some(3 * M), 1, 2, Some(30 * M)),
            ("team-b", "prod", 1, Some(2 * M), 1, 0, None),
        ]
    );
    assert!((d.dora[0].per_week - 1.5).abs() < 1e-12);
    assert_eq!(d.dora[1].change_failure_rate, Some(1.0));
}

#[tokio::test]
async fn feedback_averages_per_offering_and_lists_comments_newest_first() {
    let l = ledger().await;
    let d = dashboard(&l.db.db, Scope::default()).await;
    // R1 rated 4, R2 rated 2, both pg: mean 3.0.
    assert_eq!((d.summary.rating, d.summary.ratings), (Some(3.0), 2));
    assert_eq!(
        (d.offerings[0].rating, d.offerings[0].ratings),
        (Some(3.0), 2)
    );
    assert_eq!(d.offerings[1].rating, None);
    let comments: Vec<_> = d
        .feedback
        .iter()
        .map(|f| (f.comment.as_str(), f.rating))
        .collect();
    assert_eq!(comments, vec![("slow review", 2), ("quick", 4)]);
}

#[tokio::test]
async fn a_team_scope_counts_only_that_teams_requests_and_an_offering_scope_that_offering() {
    let l = ledger().await;
    let b = dashboard(
        &l.db.db,
        Scope {
            teams: Some(vec!["team-b".into()]),
            offering: None,
        },
    )
    .await;
    // team-b: R3, R4 by u3, both failed; R3 synced and failed afterwards.
    assert_eq!((b.summary.requests, b.summary.active_users), (2, 1));
    assert_eq!((b.summary.active_teams, b.summary.known_teams), (1, 1));
    assert_eq!(b.summary.success_rate, Some(0.0));
    assert_eq!(
        (b.summary.deployments, b.summary.change_failure_rate),
        (1, Some(1.0))
    );
    assert_eq!(b.summary.restores, 0, "R0's and R2's restores are team-a's");
    let bucket = dashboard(
        &l.db.db,
        Scope {
            teams: None,
            offering: Some("bucket".into()),
        },
    )
    .await;
    // bucket: R3, R4 (team-b), R7 (team-a).
    assert_eq!(bucket.summary.requests, 3);
    assert_eq!(bucket.summary.active_teams, 2);
}

#[tokio::test]
async fn the_service_keeps_members_to_their_teams_and_lets_admins_see_all() {
    use slipway::services::metrics::MetricsService;
    let l = ledger().await;
    let service = MetricsService::new(l.db.db.clone(), common::environments(&l.db.db));
    let [u1, _, u3, _, admin] = [0, 1, 2, 3, 4].map(|i| l.users[i].clone());
    let query = |team: Option<&str>| MetricsQuery {
        days: Some(30),
        team: team.map(str::to_owned),
        ..MetricsQuery::default()
    };
    // 30 days ending at T+14D start at T−16D: every request, R0 too.
    let mine = service
        .dashboard_until(&u3, &query(None), TO)
        .await
        .unwrap();
    assert_eq!(mine.summary.requests, 2, "u3 sees team-b only");
    assert_eq!(mine.teams_available, vec!["team-b".to_owned()]);
    let refused = service
        .dashboard_until(&u1, &query(Some("team-b")), TO)
        .await
        .unwrap_err();
    assert_eq!(
        refused.status_code(),
        404,
        "another team's figures are not found"
    );
    let all = service
        .dashboard_until(&admin, &query(None), TO)
        .await
        .unwrap();
    assert_eq!(all.summary.requests, 8);
    assert_eq!(all.teams_available, vec!["team-a", "team-b", "team-c"]);
    // The administrator's whole dashboard, changed by `change`.
    let admin_with = |change: fn(&mut MetricsQuery)| {
        let (service, admin) = (&service, &admin);
        let mut asked = query(None);
        change(&mut asked);
        async move { service.dashboard_until(admin, &asked, TO).await }
    };
    let odd = admin_with(|q| q.days = Some(12)).await.unwrap_err();
    assert_eq!(odd.status_code(), 422, "only the offered periods");
    // The page's first view: one row per long table, the team with most requests, the same
    // headline figures; the cut named with each table's full length.
    let first = admin_with(|q| q.rows = Some(1)).await.unwrap();
    assert_eq!(first.summary, all.summary);
    assert!(all.teams.len() > 1, "more than one team to cut");
    assert_eq!(first.teams, all.teams[..1]);
    assert_eq!(first.cut.get("teams"), Some(&(all.teams.len() as u64)));
    assert!(all.cut.is_empty(), "every row when no cut is asked for");
    let none = admin_with(|q| q.rows = Some(0)).await.unwrap_err();
    assert_eq!(none.status_code(), 422, "at least one row");
}

#[tokio::test]
async fn appending_to_the_ledger_updates_the_facts_in_the_same_transaction() {
    use slipway::db::ledger::{StatusEvent, record_status};
    let l = ledger().await;
    let lease = slipway::lease::Lease::new(
        l.db.db.clone(),
        "status-ledger",
        "test",
        std::time::Duration::from_secs(30),
    )
    .hold()
    .await
    .unwrap()
    .expect("the lease is free");
    // R7 was committed and waits for its applier: pending, no deployment yet.
    let before = dashboard(&l.db.db, Scope::default()).await;
    assert_eq!(before.summary.deployments, 4);
    assert!(
        record_status(
            &l.db.db,
            lease.fence(),
            "r7",
            StatusEvent::Synced,
            Some("applied")
        )
        .await
        .unwrap()
        .is_some()
    );
    assert!(
        record_status(
            &l.db.db,
            lease.fence(),
            "r7",
            StatusEvent::Ready,
            Some("Ready")
        )
        .await
        .unwrap()
        .is_some()
    );
    let now = slipway::db::now_ms();
    let inputs = slipway::db::metrics::inputs(&l.db.db, &Scope::default(), T, now + 1)
        .await
        .unwrap();
    // R7 is team-a's only bucket.
    let r7 = inputs
        .facts
        .iter()
        .find(|f| f.offering == "bucket" && f.team == "team-a")
        .unwrap();
    assert!(r7.facts.synced_at.is_some_and(|at| at >= now - 60_000));
    assert!(r7.facts.ready_at.is_some());
    assert_eq!(
        r7.facts.outcome,
        slipway::metrics::ledger::Outcome::Succeeded
    );
}

#[tokio::test]
async fn requests_stored_before_the_metrics_migration_get_their_rows_from_the_ledger() {
    let l = ledger().await;
    let before = dashboard(&l.db.db, Scope::default()).await;
    // As after migrating a database whose requests predate request_facts.
    sqlx::query("DELETE FROM request_incidents")
        .execute(l.db.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM request_facts")
        .execute(l.db.db.pool())
        .await
        .unwrap();
    assert_eq!(
        dashboard(&l.db.db, Scope::default()).await.summary.requests,
        0
    );
    assert_eq!(slipway::db::metrics::backfill(&l.db.db).await.unwrap(), 8);
    assert_eq!(dashboard(&l.db.db, Scope::default()).await, before);
    assert_eq!(
        slipway::db::metrics::backfill(&l.db.db).await.unwrap(),
        0,
        "nothing left to fill"
    );
}

#[tokio::test]
async fn a_replica_reading_dashboards_sees_what_another_replica_appended() {
    let l = ledger().await;
    // This replica's dashboards keep the facts in memory once read.
    let before = dashboard(&l.db.db, Scope::default()).await;
    // Another replica (its own connection pool and memory) imports a request of the period.
    let other = Db::connect(&l.db.url, 2).await.unwrap();
    let u3 = l.users[2].clone();
    import(
        &other,
        &[req(
            20,
            &u3,
            "bucket",
            "prod",
            "create",
            &[
                ("submitted", T + 4 * D, None),
                ("committed", T + 4 * D + M, None),
                ("synced", T + 4 * D + 2 * M, None),
                ("ready", T + 4 * D + 4 * M, None),
            ],
        )],
    )
    .await
    .unwrap();
    let after = dashboard(&l.db.db, Scope::default()).await;
    assert_eq!(
        after.summary.requests,
        before.summary.requests + 1,
        "the other replica's request counts"
    );
    // … and records R7 (committed, waiting for its applier) as synced: a changed row, not a
    // new one.
    use slipway::db::ledger::{StatusEvent, record_status};
    let lease = slipway::lease::Lease::new(
        other.clone(),
        "status-ledger",
        "other",
        std::time::Duration::from_secs(30),
    )
    .hold()
    .await
    .unwrap()
    .expect("the lease is free");
    record_status(
        &other,
        lease.fence(),
        "r7",
        StatusEvent::Synced,
        Some("applied"),
    )
    .await
    .unwrap()
    .expect("recorded");
    let now = slipway::db::now_ms();
    let inputs = slipway::db::metrics::inputs(&l.db.db, &Scope::default(), T, now + 1)
        .await
        .unwrap();
    let r7 = inputs
        .facts
        .iter()
        .find(|f| f.offering == "bucket" && f.team == "team-a")
        .unwrap();
    assert!(
        r7.facts.synced_at.is_some(),
        "this replica sees R7 synced by the other"
    );
    assert_eq!(
        dashboard(&l.db.db, Scope::default()).await,
        after,
        "R7 synced now, after the period"
    );
    let fresh = dashboard(&other, Scope::default()).await;
    assert_eq!(after, fresh, "both replicas show the same figures");
    other.close().await;
}

#[tokio::test]
async fn a_year_of_history_imports_line_by_line_in_batches_with_its_ratings() {
    use std::fmt::Write as _;
    let db = TestDb::new().await;
    let mut text = String::new();
    text.push_str(r#"{"user": {"subject": "dev|alice", "name": "Alice", "email": "a@example.com", "teams": ["team-a"]}}"#);
    text.push('\n');
    // More requests than one transaction takes (2,000), the rating naming one of the last.
    for n in 0..2_100 {
        writeln!(
            text,
            r#"{{"request": {{"id": "h{n:05}", "offering": "pg", "team": "team-a", "environment": "dev", "name": "c{n}", "requested_by": "dev|alice", "events": [{{"kind": "submitted", "ago": "{}m"}}, {{"kind": "committed", "ago": "{}m"}}]}}}}"#,
            3_000 - n,
            2_999 - n
        )
        .unwrap();
    }
    text.push_str(
        r#"{"feedback": {"request": "h02099", "rating": 4, "comment": "quick", "ago": "1m"}}"#,
    );
    text.push_str("\n\n");
    let now = slipway::db::now_ms();
    let stored = slipway::devdata::ledger::import_lines(&db.db, text.as_bytes(), now)
        .await
        .unwrap();
    assert_eq!(stored, 2_100);
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM requests")
        .fetch_one(db.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 2_100);
    assert_eq!(
        slipway::db::metrics::feedback_of(&db.db, "h02099")
            .await
            .unwrap(),
        Some((4, "quick".to_owned()))
    );
    // A line that is not a record stops the import and names its line; what came before it
    // in whole batches stays, the rest of its batch is not stored.
    let bad = format!(
        "{}{}",
        text.lines()
            .take(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        r#"{"request": {"offering": "pg"}}"#
    );
    let error = slipway::devdata::ledger::import_lines(&db.db, bad.as_bytes(), now)
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("line 2"), "{error:#}");
}

#[tokio::test]
async fn a_dashboard_is_computed_again_after_any_write_it_depends_on() {
    use slipway::services::metrics::MetricsService;
    let l = ledger().await;
    let service = MetricsService::new(l.db.db.clone(), common::environments(&l.db.db));
    let admin = l.users[4].clone();
    let query = MetricsQuery {
        days: Some(30),
        ..MetricsQuery::default()
    };
    let first = service.dashboard_until(&admin, &query, TO).await.unwrap();
    assert_eq!(
        service.dashboard_until(&admin, &query, TO).await.unwrap(),
        first,
        "the same figures while nothing changed"
    );
    // A request appended to the ledger (by another replica, even).
    let other = Db::connect(&l.db.url, 2).await.unwrap();
    let u3 = l.users[2].clone();
    import(
        &other,
        &[req(
            21,
            &u3,
            "bucket",
            "dev",
            "create",
            &[("submitted", T + 5 * D, None)],
        )],
    )
    .await
    .unwrap();
    let second = service.dashboard_until(&admin, &query, TO).await.unwrap();
    assert_eq!(second.summary.requests, first.summary.requests + 1);
    // A rating.
    import_feedback(&other, "r21", 5, "", T + 6 * D)
        .await
        .unwrap();
    let third = service.dashboard_until(&admin, &query, TO).await.unwrap();
    assert_eq!(third.summary.ratings, second.summary.ratings + 1);
    // A team signing in for the first time.
    user(&other, "newcomer", "team-new", false).await;
    let fourth = service.dashboard_until(&admin, &query, TO).await.unwrap();
    assert_eq!(fourth.summary.known_teams, third.summary.known_teams + 1);
    other.close().await;
}

/// Eight readers of a dashboard not computed yet, forced to arrive while a computation is in
/// hand: one computation serves them all, with the same figures.
#[tokio::test]
async fn readers_arriving_together_wait_for_one_computation_of_a_dashboard() {
    use slipway::services::metrics::MetricsService;
    let l = ledger().await;
    let service = std::sync::Arc::new(MetricsService::new(
        l.db.db.clone(),
        common::environments(&l.db.db),
    ));
    let admin = l.users[4].clone();
    let query = MetricsQuery {
        days: Some(30),
        ..MetricsQuery::default()
    };
    let held = service.hold_computing().await;
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (service, admin, query) = (service.clone(), admin.clone(), query.clone());
            tokio::spawn(async move { service.dashboard_until(&admin, &query, TO).await })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while service.readers_waiting() < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "eight readers waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    drop(held);
    let mut dashboards = Vec::new();
    for reader in readers {
        dashboards.push(reader.await.unwrap().unwrap());
    }
    assert!(
        dashboards.windows(2).all(|w| w[0] == w[1]),
        "the same figures"
    );
    assert_eq!(service.computations(), 1, "one computation for the eight");
}

/// While one reader computes a dashboard for a new minute of the same data, readers arriving
/// meanwhile are served the previous minute's figures at once, with their own period, instead
/// of queueing behind it. A period kept from too long ago, or data changed since, makes them
/// queue: new data is never answered with old figures.
#[tokio::test]
async fn while_the_next_minute_is_computed_readers_get_the_last_one_of_the_same_data() {
    use slipway::services::metrics::MetricsService;
    let l = ledger().await;
    let service = std::sync::Arc::new(MetricsService::new(
        l.db.db.clone(),
        common::environments(&l.db.db),
    ));
    let admin = l.users[4].clone();
    let query = MetricsQuery {
        days: Some(30),
        ..MetricsQuery::default()
    };
    let first = service.dashboard_until(&admin, &query, TO).await.unwrap();
    assert_eq!(service.computations(), 1);
    let held = service.hold_computing().await;
    // The next minute, nothing written: served while the computation is held. Without the
    // served-while-computing path this waits for `held`, which the test never drops here.
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        service.dashboard_until(&admin, &query, TO + 60_000),
    )
    .await
    .expect("served at once while another computation is in hand")
    .unwrap();
    assert_eq!(next, first, "the last minute's figures, with its period");
    assert_eq!(next.to, TO);
    let waiting = |n: usize| {
        let service = service.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while service.readers_waiting() < n {
                assert!(std::time::Instant::now() < deadline, "{n} readers waiting");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    };
    // Six minutes on: too old to stand in, the reader queues.
    let later = tokio::spawn({
        let (service, admin, query) = (service.clone(), admin.clone(), query.clone());
        async move {
            service
                .dashboard_until(&admin, &query, TO + 6 * 60_000)
                .await
        }
    });
    waiting(1).await;
    // A request appended: a reader of the next minute queues too, and gets it counted.
    import(
        &l.db.db,
        &[req(
            22,
            &l.users[2],
            "bucket",
            "dev",
            "create",
            &[("submitted", T + 5 * D, None)],
        )],
    )
    .await
    .unwrap();
    let after = tokio::spawn({
        let (service, admin, query) = (service.clone(), admin.clone(), query.clone());
        async move { service.dashboard_until(&admin, &query, TO + 60_000).await }
    });
    waiting(2).await;
    drop(held);
    let later = later.await.unwrap().unwrap();
    assert_eq!(later.to, TO + 6 * 60_000);
    let after = after.await.unwrap().unwrap();
    assert_eq!(after.to, TO + 60_000);
    assert_eq!(after.summary.requests, first.summary.requests + 1);
}
