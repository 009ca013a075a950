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
            .unwrap();
    assert_eq!(
        first.teams,
        vec!["team-a", "team-b"],
        "sorted, deduplicated"
    );
    let second = db::users::upsert_login(&test.db, &login("oidc|u1", &["team-c"]))
        .await
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
        .unwrap();
    db::sessions::create(&test.db, "hash-1", &user.id, Duration::from_secs(600), None)
        .await
        .unwrap();
    let found = db::sessions::user_for(&test.db, "hash-1", IDLE)
        .await
        .unwrap();
    assert_eq!(
        found.as_ref().map(|u| u.id.as_str()),
        Some(user.id.as_str())
    );
    db::sessions::delete(&test.db, "hash-1").await.unwrap();
    assert_eq!(
        db::sessions::user_for(&test.db, "hash-1", IDLE)
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
        .unwrap();
    db::sessions::create(&test.db, "expired", &user.id, Duration::ZERO, None)
        .await
        .unwrap();
    db::sessions::create(&test.db, "live", &user.id, Duration::from_secs(600), None)
        .await
        .unwrap();
    assert_eq!(
        db::sessions::user_for(&test.db, "expired", IDLE)
            .await
            .unwrap(),
        None
    );
    assert_eq!(db::sessions::purge_expired(&test.db).await.unwrap(), 1);
    assert!(
        db::sessions::user_for(&test.db, "live", IDLE)
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
        .unwrap();
    db::sessions::create(
        &test.db,
        "idle",
        &user.id,
        Duration::from_secs(86_400),
        None,
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
        db::sessions::user_for(&test.db, "idle", Duration::from_secs(3600))
            .await
            .unwrap(),
        None
    );
    assert!(
        db::sessions::user_for(&test.db, "idle", Duration::from_secs(3 * 3600))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn ending_an_sso_session_hands_back_its_id_token() {
    let test = TestDb::new().await;
    let user = db::users::upsert_login(&test.db, &login("oidc|t", &[]))
        .await
        .unwrap();
    db::sessions::create(&test.db, "sso", &user.id, IDLE, Some("header.payload.sig"))
        .await
        .unwrap();
    db::sessions::create(&test.db, "dev", &user.id, IDLE, None)
        .await
        .unwrap();
    assert_eq!(
        db::sessions::delete(&test.db, "sso")
            .await
            .unwrap()
            .as_deref(),
        Some("header.payload.sig")
    );
    assert_eq!(db::sessions::delete(&test.db, "dev").await.unwrap(), None);
    assert_eq!(
        db::sessions::delete(&test.db, "unknown").await.unwrap(),
        None
    );
}
