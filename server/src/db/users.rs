//! Users and their team memberships. Memberships are replaced at every login: the identity
//! provider (or the dev persona) is the source of truth for who is in which team.

use app::domain::CurrentUser;

use super::{Db, Result, new_id, now_ms};

/// A successful sign-in, as the auth layer hands it over.
#[derive(Clone, Debug)]
pub struct NewLogin {
    /// Stable subject: `<issuer>|<sub>` or `dev|<handle>`.
    pub subject: String,
    /// Display name.
    pub display_name: String,
    /// E-mail address.
    pub email: String,
    /// Platform administrator.
    pub is_admin: bool,
    /// Team names (already mapped from groups).
    pub teams: Vec<String>,
}

/// Creates or updates the user and replaces their memberships; returns the user, or `None`
/// when an administrator deactivated them (then nothing is changed).
pub async fn upsert_login(db: &Db, login: &NewLogin) -> Result<Option<CurrentUser>> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let row: Option<(String,)> = sqlx::query_as(
        "INSERT INTO users (id, subject, display_name, email, is_admin, created_at, last_login_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (subject) DO UPDATE SET
             display_name = excluded.display_name,
             email = excluded.email,
             is_admin = excluded.is_admin,
             last_login_at = excluded.last_login_at
         WHERE users.deactivated_at IS NULL
         RETURNING id",
    )
    .bind(new_id())
    .bind(&login.subject)
    .bind(&login.display_name)
    .bind(&login.email)
    .bind(i64::from(login.is_admin))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id,)) = row else {
        return Ok(None);
    };

    sqlx::query("DELETE FROM team_members WHERE user_id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    let mut teams = login.teams.clone();
    teams.sort();
    teams.dedup();
    for team in &teams {
        sqlx::query(
            "INSERT INTO teams (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(team)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO team_members (user_id, team) VALUES ($1, $2)")
            .bind(&id)
            .bind(team)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Some(CurrentUser {
        id,
        name: login.display_name.clone(),
        email: login.email.clone(),
        teams,
        is_admin: login.is_admin,
    }))
}

/// Loads an active (not deactivated) user with their teams.
pub async fn find(db: &Db, id: &str) -> Result<Option<CurrentUser>> {
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, display_name, email, is_admin FROM users
         WHERE id = $1 AND deactivated_at IS NULL",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let Some((id, name, email, is_admin)) = row else {
        return Ok(None);
    };
    let teams: Vec<(String,)> =
        sqlx::query_as("SELECT team FROM team_members WHERE user_id = $1 ORDER BY team")
            .bind(&id)
            .fetch_all(db.pool())
            .await?;
    Ok(Some(CurrentUser {
        id,
        name,
        email,
        teams: teams.into_iter().map(|(t,)| t).collect(),
        is_admin: is_admin != 0,
    }))
}

/// A user as administrators see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// User id.
    pub id: String,
    /// `<issuer>|<sub>` or `dev|<handle>`.
    pub subject: String,
    /// Display name.
    pub display_name: String,
    /// E-mail address.
    pub email: String,
    /// Administrator at their last sign-in.
    pub is_admin: bool,
    /// Teams at their last sign-in.
    pub teams: Vec<String>,
    /// Unix ms.
    pub last_login_at: i64,
    /// Unix ms, when deactivated.
    pub deactivated_at: Option<i64>,
    /// Live sessions.
    pub sessions: i64,
    /// Live (unrevoked, unexpired) API tokens.
    pub tokens: i64,
}

/// Every user, most recently signed in first, with their teams and how many sessions and
/// tokens they hold.
pub async fn list(db: &Db) -> Result<Vec<UserRow>> {
    let now = now_ms();
    type Row = (
        String,
        String,
        String,
        String,
        i64,
        i64,
        Option<i64>,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.id, u.subject, u.display_name, u.email, u.is_admin, u.last_login_at,
                u.deactivated_at,
                (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > $1),
                (SELECT COUNT(*) FROM api_tokens t
                  WHERE t.user_id = u.id AND t.revoked_at IS NULL AND t.expires_at > $1)
         FROM users u ORDER BY u.last_login_at DESC, u.id",
    )
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let members: Vec<(String, String)> =
        sqlx::query_as("SELECT user_id, team FROM team_members ORDER BY team")
            .fetch_all(db.pool())
            .await?;
    let mut teams: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (user, team) in members {
        teams.entry(user).or_default().push(team);
    }
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                subject,
                display_name,
                email,
                is_admin,
                last_login_at,
                deactivated_at,
                sessions,
                tokens,
            )| {
                UserRow {
                    teams: teams.remove(&id).unwrap_or_default(),
                    id,
                    subject,
                    display_name,
                    email,
                    is_admin: is_admin != 0,
                    last_login_at,
                    deactivated_at,
                    sessions,
                    tokens,
                }
            },
        )
        .collect())
}

/// What deactivating a user ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deactivated {
    /// Sessions deleted.
    pub sessions: u64,
    /// Tokens revoked.
    pub tokens: u64,
}

/// Deactivates user `id` at once: marks them, deletes their sessions and revokes their
/// tokens in one transaction. `None` when there is no such active user.
pub async fn deactivate(db: &Db, id: &str) -> Result<Option<Deactivated>> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let marked = sqlx::query(
        "UPDATE users SET deactivated_at = $1 WHERE id = $2 AND deactivated_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if marked.rows_affected() == 0 {
        return Ok(None);
    }
    let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let tokens = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(Deactivated { sessions, tokens }))
}

/// Lets a deactivated user sign in again; whether one was reactivated. Sessions and tokens
/// are ended once more in the same transaction: one made by a sign-in that raced the
/// deactivation must not come back with the user (revoked tokens stay revoked).
pub async fn reactivate(db: &Db, id: &str) -> Result<bool> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let done = sqlx::query(
        "UPDATE users SET deactivated_at = NULL WHERE id = $1 AND deactivated_at IS NOT NULL",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}
