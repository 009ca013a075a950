//! Metrics over HTTP: the dashboard server function and CSV export scoped to the caller's
//! teams, feedback only by the requester of a request that has been Ready (bad input changes
//! nothing), and the Prometheus exposition with bounded labels.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestApp;
use serde_json::Value;
use slipway::db::metrics::HistoricRequest;
use tower::ServiceExt as _;

const MIN: i64 = 60_000;

/// A Ready request of alice's (team-a) and a failing one of bob's (team-b), an hour old.
async fn seeded() -> (TestApp, String, String) {
    let app = TestApp::new(true).await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let id_of = |subject: &'static str| {
        let db = app.db().clone();
        async move {
            let (id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE subject = $1")
                .bind(subject)
                .fetch_one(db.pool())
                .await
                .unwrap();
            id
        }
    };
    let now = slipway::db::now_ms();
    let ready = |kind: &str, at: i64| (kind.to_owned(), now - 60 * MIN + at, None);
    let requests = vec![
        HistoricRequest {
            id: "alice-db".into(),
            action: "create".into(),
            offering: "postgresql".into(),
            team: "team-a".into(),
            environment: "dev".into(),
            name: "orders".into(),
            requested_by: id_of("dev|alice").await,
            events: vec![
                ready("submitted", 0),
                ready("committed", MIN),
                ready("synced", 2 * MIN),
                ready("ready", 12 * MIN),
            ],
        },
        HistoricRequest {
            id: "bob-bucket".into(),
            action: "create".into(),
            offering: "bucket".into(),
            team: "team-b".into(),
            environment: "dev".into(),
            name: "=cmd|' /C calc'!A0".into(),
            requested_by: id_of("dev|bob").await,
            events: vec![
                ready("submitted", 0),
                ready("committed", MIN),
                (
                    "failed".into(),
                    now - 50 * MIN,
                    Some("=HYPERLINK(\"http://x\")".into()),
                ),
            ],
        },
    ];
    slipway::db::metrics::import(app.db(), &requests)
        .await
        .unwrap();
    (app, alice, bob)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_dashboard_of_a_member_counts_their_teams_only() {
    let (app, alice, bob) = seeded().await;
    let pat = app.login_as("pat").await;
    let mine = app
        .server_fn("metrics/dashboard", Some(&alice), "query[days]=7")
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let mine = json(&mine.body);
    assert_eq!(mine["summary"]["requests"], 1);
    assert_eq!(mine["summary"]["ready_p50_ms"], 12 * MIN);
    let theirs = app
        .server_fn(
            "metrics/dashboard",
            Some(&bob),
            "query[days]=7&query[team]=team-a",
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    let all = json(
        &app.server_fn("metrics/dashboard", Some(&pat), "query[days]=7")
            .await
            .body,
    );
    assert_eq!(all["summary"]["requests"], 2);
    let bad = app
        .server_fn("metrics/dashboard", Some(&pat), "query[days]=8")
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
}

#[tokio::test]
async fn csv_exports_are_scoped_named_and_defuse_spreadsheet_formulas() {
    let (app, alice, _) = seeded().await;
    let pat = app.login_as("pat").await;
    let res = app
        .get("/api/metrics/export/teams?days=7", Some(&alice))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header(header::CONTENT_TYPE),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        res.header(header::CONTENT_DISPOSITION),
        Some("attachment; filename=\"slipway-teams-7d.csv\"")
    );
    assert_eq!(
        res.body,
        "team,requests,succeeded,failed,ready_p50_ms,ready_p90_ms,rating,ratings\nteam-a,1,1,0,720000,720000,,0\n"
    );
    // The page shows the heaviest rows of a long table; its CSV is the whole table.
    let whole = app
        .get("/api/metrics/export/teams?days=7", Some(&pat))
        .await;
    assert!(
        whole.body.lines().count() > 2,
        "two teams at least: {}",
        whole.body
    );
    let asked_cut = app
        .get("/api/metrics/export/teams?days=7&rows=1", Some(&pat))
        .await;
    assert_eq!(asked_cut.body, whole.body);
    let failures = app
        .get("/api/metrics/export/failures?days=7", Some(&pat))
        .await;
    assert_eq!(failures.status, StatusCode::OK);
    assert!(
        failures.body.contains("\"'=HYPERLINK(\"\"http://x\"\")\""),
        "a formula is defused: {}",
        failures.body
    );
    for table in app::metrics::TABLES {
        let res = app
            .get(&format!("/api/metrics/export/{table}?days=30"), Some(&pat))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{table}");
        assert!(res.body.lines().count() >= 1, "{table} has a header");
    }
    let unknown = app
        .get("/api/metrics/export/secrets?days=7", Some(&pat))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let other = app
        .get("/api/metrics/export/teams?days=7&team=team-b", Some(&alice))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_requester_rates_a_request_that_was_ready_and_bad_ratings_change_nothing() {
    let (app, alice, bob) = seeded().await;
    let carol = app.login_as("carol").await;
    let rate = |cookie: String, id: &'static str, rating: &'static str, comment: String| {
        let app = &app;
        async move {
            let form = format!(
                "feedback[request_id]={id}&feedback[rating]={rating}&feedback[comment]={comment}"
            );
            app.server_fn("metrics/feedback", Some(&cookie), &form)
                .await
        }
    };
    // Out of range, too long: refused, nothing stored.
    let zero = rate(alice.clone(), "alice-db", "0", String::new()).await;
    assert_eq!(
        zero.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        zero.body
    );
    let long = rate(alice.clone(), "alice-db", "4", "x".repeat(2001)).await;
    assert_eq!(
        long.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        long.body
    );
    // Carol is in team-a too, but did not make the request; bob cannot see it.
    let carols = rate(carol, "alice-db", "1", String::new()).await;
    assert_eq!(carols.status, StatusCode::FORBIDDEN, "{}", carols.body);
    let bobs = rate(bob.clone(), "alice-db", "1", String::new()).await;
    assert_eq!(bobs.status, StatusCode::NOT_FOUND, "{}", bobs.body);
    // Bob's own request never was Ready.
    let early = rate(bob, "bob-bucket", "5", String::new()).await;
    assert_eq!(
        early.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        early.body
    );
    assert_eq!(app.count("feedback").await, 0);

    let ok = rate(alice.clone(), "alice-db", "4", "smooth".into()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let again = rate(alice.clone(), "alice-db", "5", "even better".into()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(app.count("feedback").await, 1, "rating again replaces");
    let detail = json(
        &app.server_fn("requests/get", Some(&alice), "id=alice-db")
            .await
            .body,
    );
    assert_eq!(detail["can_rate"], true);
    assert_eq!(detail["feedback"]["rating"], 5);
    let dashboard = json(
        &app.server_fn("metrics/dashboard", Some(&alice), "query[days]=7")
            .await
            .body,
    );
    assert_eq!(dashboard["summary"]["rating"], 5.0);
    assert_eq!(dashboard["feedback"][0]["comment"], "even better");
}

#[tokio::test]
async fn prometheus_exposition_counts_http_by_route_pattern_not_by_path() {
    let (app, alice, _) = seeded().await;
    for id in ["a", "b", "c"] {
        let res = app
            .get(&format!("/requests/no-such-{id}"), Some(&alice))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }
    // A ledger append through the recorder's path (recorded under its lease, then
    // announced): bob's bucket is synced 51 minutes after its commit (it was committed 59
    // minutes ago), observed once as merge → synced.
    let lease = slipway::lease::Lease::new(
        app.db().clone(),
        "status-ledger",
        "test",
        std::time::Duration::from_secs(30),
    )
    .hold()
    .await
    .unwrap()
    .expect("the lease is free");
    let appended = slipway::db::ledger::record_status(
        app.db(),
        lease.fence(),
        "bob-bucket",
        slipway::db::ledger::StatusEvent::Synced,
        Some("applied"),
    )
    .await
    .unwrap();
    assert!(appended.is_some());
    app.state.ledger.announce(appended);
    let res = slipway::http::admin_router(app.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"slipway_http_requests_total{method="GET",route="/requests/{id}",status="4xx"} 3"#
        ),
        "{text}"
    );
    assert!(!text.contains("no-such-a"), "paths never become labels");
    assert!(
        text.contains(r#"slipway_request_stage_seconds_count{stage="merge_to_synced"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains(r#"stage="commit_to_merge"} 1"#),
        "only the stage that ended is observed"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn the_self_service_share_counts_commits_to_environment_folders_by_their_trailer() {
    use common::repo::Repo;
    use common::requests::{draft_in, submit, writer};
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let pat = app.login_as("pat").await;
    // Through Slipway: two requests, two commits with the trailer.
    submit(&app, &alice, &draft_in("dev", "team-a", "orders-db", 20)).await;
    submit(&app, &alice, &draft_in("prod", "team-a", "billing-db", 20)).await;
    assert_eq!(writer(&app).run_once().await.unwrap().committed, 2);
    // Out of band: a file pushed by hand into dev/; the catalog and the README are not
    // GitOps paths. `slipway init`'s first commit created dev/, staging/ and prod/.
    repo.push(
        "dev/team-a/by-hand.yaml",
        "apiVersion: v1\nkind: ConfigMap\n",
    );
    repo.push("catalog/notes.md", "notes");
    repo.push("README.md", "changed");
    let body = app
        .server_fn("metrics/dashboard", Some(&pat), "query[days]=7")
        .await;
    assert_eq!(body.status, StatusCode::OK, "{}", body.body);
    let share = &json(&body.body)["summary"]["self_service"];
    assert_eq!(share["through_slipway"], 2, "{share}");
    assert_eq!(
        share["out_of_band"], 2,
        "the hand push and the seed: {share}"
    );
    assert_eq!(share["share"], 0.5);
    // The writer's pass was counted for Prometheus, under the repository's key.
    let exposition = app.state.telemetry.render(&[]);
    let key = writer(&app).key().to_owned();
    assert!(
        exposition.contains(&format!(
            "slipway_git_writer_runs_total{{repository=\"{key}\",outcome=\"ok\"}} 1"
        )),
        "{exposition}"
    );
    // Members and filtered views do not get the platform-wide figure.
    let mine = json(
        &app.server_fn("metrics/dashboard", Some(&alice), "query[days]=7")
            .await
            .body,
    );
    assert!(mine["summary"]["self_service"].is_null());
}

#[tokio::test]
async fn the_page_shows_the_heaviest_rows_of_a_long_table_and_all_of_them_on_request() {
    let app = TestApp::new(true).await;
    let pat = app.login_as("pat").await;
    let alice = app.login_as("alice").await;
    let (by,): (String,) = sqlx::query_as("SELECT id FROM users WHERE subject = 'dev|alice'")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    let now = slipway::db::now_ms();
    // 30 teams, team-00 with three requests and team-01 with two: they must stay when the
    // table is cut to 25, whatever their place in it.
    let requests: Vec<HistoricRequest> = (0..30)
        .flat_map(|t| {
            let copies = match t {
                0 => 3,
                1 => 2,
                _ => 1,
            };
            (0..copies).map(move |c| (t, c))
        })
        .map(|(t, c)| HistoricRequest {
            id: format!("r-{t:02}-{c}"),
            action: "create".into(),
            offering: "postgresql".into(),
            team: format!("team-{t:02}"),
            environment: "dev".into(),
            name: format!("db-{t:02}-{c}"),
            requested_by: by.clone(),
            events: vec![("submitted".into(), now - 60 * MIN, None)],
        })
        .collect();
    slipway::db::metrics::import(app.db(), &requests)
        .await
        .unwrap();
    let page = app.get("/metrics?days=7", Some(&pat)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(
        body.contains("Showing the 25 teams with the most requests, of 30."),
        "{body}"
    );
    assert!(body.contains(r##"href="?days=7&amp;rows=all#panel-teams""##));
    assert!(body.contains(r#"data-key="team-00""#) && body.contains(r#"data-key="team-01""#));
    assert!(
        !body.contains(r#"data-key="team-29""#),
        "the last of the lightest is cut"
    );
    assert!(
        body.contains("Requests per team: the 25 with the most requests, of 30"),
        "the chart says so too"
    );
    assert!(
        !body.contains(r#"name="rows""#),
        "the filter asks for the cut again"
    );

    let all = app.get("/metrics?days=7&rows=all", Some(&pat)).await;
    let body = &all.body;
    assert!(body.contains("Showing all 30 teams."), "{body}");
    assert!(body.contains(r##"href="?days=7#panel-teams""##));
    assert!(body.contains(r#"data-key="team-29""#));
    assert!(
        body.contains(r#"<input type="hidden" name="rows" value="all""#),
        "another period keeps every row"
    );
    // The REST API cuts when asked to, and its CSV export is every row whatever is asked.
    let token = app.api_token(&pat, "read").await;
    let rest = |path: &'static str| {
        let request = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        app.send(request)
    };
    let cut = json(&rest("/api/v1/metrics?days=7&rows=25").await.body);
    assert_eq!(cut["teams"].as_array().map(Vec::len), Some(25), "{cut}");
    assert_eq!(cut["cut"]["teams"], 30);
    let whole = json(&rest("/api/v1/metrics?days=7").await.body);
    assert_eq!(whole["teams"].as_array().map(Vec::len), Some(30));
    let csv = rest("/api/v1/metrics/export/teams?days=7&rows=1").await;
    assert_eq!(
        csv.body.lines().count(),
        31,
        "a header and 30 teams: {}",
        csv.body
    );
    // A member sees their own teams' figures, never a cut of everyone's.
    let mine = app.get("/metrics?days=7", Some(&alice)).await;
    assert!(!mine.body.contains("team-00"), "{}", mine.body);
}
