//! Storage on the backend under test (SQLite, or PostgreSQL in `make test`'s second pass).

mod common;

use std::time::Duration;

use common::TestDb;
use slipway::db::{self, users::NewLogin};

/// Idle timeout used where a test does not exercise it.
const IDLE: Duration = Duration::from_secs(3600);

fn login(subject: &str, teams: &[&str]) -> NewLogin {
    NewLogin {
        subject: subject.into(),
        display_name: format!("User {subject}"),
        email: format!("{subject}@example.com"),
        is_admin: false,
        teams: teams.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[tokio::test]
async fn the_suite_runs_on_the_backend_it_was_asked_for() {
    let test = TestDb::new().await;
    assert_eq!(test.db.backend(), TestDb::expected_backend());
}

#[tokio::test]
async fn migrations_apply_once_and_rerunning_them_changes_nothing() {
    let test = TestDb::new().await;
    let applied = test.db.migrations_applied().await.unwrap();
    assert_eq!(
        usize::try_from(applied).unwrap(),
        test.db.migrations_known()
    );
    test.db.migrate().await.unwrap();
    assert_eq!(test.db.migrations_applied().await.unwrap(), applied);
}

#[tokio::test]
async fn a_login_replaces_team_memberships_with_the_providers_groups() {
    let test = TestDb::new().await;
    let first =
        db::users::upsert_login(&test.db, &login("oidc|u1", &["team-b", "team-a", "team-a"]))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        first.teams,
        vec!["team-a", "team-b"],
        "sorted, deduplicated"
    );
    let second = db::users::upsert_login(&test.db, &login("oidc|u1", &["team-c"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.id, first.id, "same subject, same user");
    let stored = db::users::find(&test.db, &first.id).await.unwrap().unwrap();
    assert_eq!(stored.teams, vec!["team-c"]);
}

#[tokio::test]
async fn a_live_session_resolves_to_its_user_and_a_deleted_one_to_nobody() {
    let test = TestDb::new().await;
    let user = db::users::upsert_login(&test.db, &login("dev|x", &["team-a"]))
        .await
        .unwrap()
        .unwrap();
    db::sessions::create(
        &test.db,
        "hash-1",
        &user.id,
        Duration::from_secs(600),
        false,
    )
    .await
    .unwrap();
    let found = db::sessions::user_for(&test.db, "hash-1", IDLE, true)
        .await
        .unwrap();
    assert_eq!(
        found.as_ref().map(|u| u.id.as_str()),
        Some(user.id.as_str())
    );
    db::sessions::delete(&test.db, "hash-1").await.unwrap();
    assert_eq!(
        db::sessions::user_for(&test.db, "hash-1", IDLE, true)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn expired_sessions_resolve_to_nobody_and_are_purged() {
    let test = TestDb::new().await;
    let user = db::users::upsert_login(&test.db, &login("dev|y", &[]))
        .await
        .unwrap()
        .unwrap();
    db::sessions::create(&test.db, "expired", &user.id, Duration::ZERO, false)
        .await
        .unwrap();
    db::sessions::create(&test.db, "live", &user.id, Duration::from_secs(600), false)
        .await
        .unwrap();
    assert_eq!(
        db::sessions::user_for(&test.db, "expired", IDLE, true)
            .await
            .unwrap(),
        None
    );
    assert_eq!(db::sessions::purge_expired(&test.db).await.unwrap(), 1);
    assert!(
        db::sessions::user_for(&test.db, "live", IDLE, true)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_session_left_idle_too_long_resolves_to_nobody() {
    let test = TestDb::new().await;
    let user = db::users::upsert_login(&test.db, &login("dev|z", &[]))
        .await
        .unwrap()
        .unwrap();
    db::sessions::create(
        &test.db,
        "idle",
        &user.id,
        Duration::from_secs(86_400),
        false,
    )
    .await
    .unwrap();
    let two_hours_ago = db::now_ms() - 2 * 3600 * 1000;
    sqlx::query("UPDATE sessions SET last_seen_at = $1")
        .bind(two_hours_ago)
        .execute(test.db.pool())
        .await
        .unwrap();
    assert_eq!(
        db::sessions::user_for(&test.db, "idle", Duration::from_secs(3600), true)
            .await
            .unwrap(),
        None
    );
    assert!(
        db::sessions::user_for(&test.db, "idle", Duration::from_secs(3 * 3600), true)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn ending_a_session_tells_whether_it_came_from_single_sign_on() {
    let test = TestDb::new().await;
    let user = db::users::upsert_login(&test.db, &login("oidc|t", &[]))
        .await
        .unwrap()
        .unwrap();
    db::sessions::create(&test.db, "sso", &user.id, IDLE, true)
        .await
        .unwrap();
    db::sessions::create(&test.db, "dev", &user.id, IDLE, false)
        .await
        .unwrap();
    assert!(db::sessions::delete(&test.db, "sso").await.unwrap());
    assert!(!db::sessions::delete(&test.db, "dev").await.unwrap());
    assert!(!db::sessions::delete(&test.db, "unknown").await.unwrap());
}

#[tokio::test]
async fn a_deactivated_user_loses_sessions_and_tokens_at_once_and_cannot_sign_in_again() {
    let test = TestDb::new().await;
    let user = db::users::upsert_login(&test.db, &login("oidc|gone", &["team-a"]))
        .await
        .unwrap()
        .unwrap();
    let other = db::users::upsert_login(&test.db, &login("oidc|stays", &["team-a"]))
        .await
        .unwrap()
        .unwrap();
    for (hash, who) in [("s1", &user), ("s2", &user), ("s3", &other)] {
        db::sessions::create(&test.db, hash, &who.id, IDLE, true)
            .await
            .unwrap();
    }
    let far = db::now_ms() + 86_400_000;
    for (hash, who) in [("t1", &user), ("t2", &other)] {
        db::tokens::create(&test.db, &who.id, hash, hash, "slp_x", &[], far)
            .await
            .unwrap();
    }

    let done = db::users::deactivate(&test.db, &user.id).await.unwrap();
    assert_eq!(
        done,
        Some(db::users::Deactivated {
            sessions: 2,
            tokens: 1
        })
    );
    assert_eq!(
        db::sessions::user_for(&test.db, "s1", IDLE, true)
            .await
            .unwrap(),
        None
    );
    assert!(
        db::tokens::authenticate(&test.db, "t1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db::sessions::user_for(&test.db, "s3", IDLE, true)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        db::tokens::authenticate(&test.db, "t2")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(db::users::find(&test.db, &user.id).await.unwrap(), None);
    assert_eq!(
        db::users::upsert_login(&test.db, &login("oidc|gone", &["team-b"]))
            .await
            .unwrap(),
        None,
        "a deactivated user's sign-in is refused"
    );
    assert_eq!(
        db::users::deactivate(&test.db, &user.id).await.unwrap(),
        None
    );

    // A sign-in that raced the deactivation left a session behind: it must not come back
    // with the user.
    db::sessions::create(&test.db, "raced", &user.id, IDLE, true)
        .await
        .unwrap();
    assert!(db::users::reactivate(&test.db, &user.id).await.unwrap());
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
        .bind(&user.id)
        .fetch_one(test.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "the raced session ended with the reactivation");
    let back = db::users::upsert_login(&test.db, &login("oidc|gone", &["team-b"]))
        .await
        .unwrap()
        .expect("signs in again");
    assert_eq!(back.teams, vec!["team-b"]);
    assert!(
        db::tokens::authenticate(&test.db, "t1")
            .await
            .unwrap()
            .is_none(),
        "revoked tokens stay revoked"
    );
}

#[tokio::test]
async fn a_person_in_two_teams_pages_through_both_teams_requests_newest_first() {
    use slipway::db::metrics::{HistoricRequest, import};
    use slipway::db::requests::{ListQuery, list};
    let test = TestDb::new().await;
    let carol = db::users::upsert_login(&test.db, &login("dev|carol", &["team-a", "team-b"]))
        .await
        .unwrap()
        .unwrap();
    // Ids are time-ordered: r00 oldest. Teams a, b and c interleaved.
    let requests: Vec<HistoricRequest> = (0..12)
        .map(|n| HistoricRequest {
            id: format!("r{n:02}"),
            action: "create".into(),
            offering: "pg".into(),
            team: ["team-a", "team-b", "team-c"][n % 3].into(),
            environment: if n % 2 == 0 { "dev" } else { "prod" }.into(),
            name: format!("claim-{n}"),
            requested_by: carol.id.clone(),
            events: vec![("submitted".into(), 1_000 + n as i64, None)],
        })
        .collect();
    import(&test.db, &requests).await.unwrap();
    let teams = vec!["team-a".to_owned(), "team-b".to_owned()];
    let page = |before: Option<&'static str>, environment: Option<&'static str>| {
        let teams = teams.clone();
        let db = test.db.clone();
        async move {
            let query = ListQuery {
                teams: Some(&teams),
                before,
                environment,
                ..ListQuery::default()
            };
            list(&db, &query, 3)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    // team-c's r02, r05, r08, r11 are never listed.
    assert_eq!(page(None, None).await, ["r10", "r09", "r07"]);
    assert_eq!(page(Some("r07"), None).await, ["r06", "r04", "r03"]);
    assert_eq!(page(Some("r03"), None).await, ["r01", "r00"]);
    assert_eq!(page(None, Some("dev")).await, ["r10", "r06", "r04"]);
    let one = vec!["team-b".to_owned()];
    let query = ListQuery {
        teams: Some(&one),
        ..ListQuery::default()
    };
    let ids: Vec<String> = list(&test.db, &query, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["r10", "r07", "r04", "r01"]);
}
