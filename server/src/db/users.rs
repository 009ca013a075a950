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

/// Creates or updates the user and replaces their memberships; returns the user.
pub async fn upsert_login(db: &Db, login: &NewLogin) -> Result<CurrentUser> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let (id,): (String,) = sqlx::query_as(
        "INSERT INTO users (id, subject, display_name, email, is_admin, created_at, last_login_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (subject) DO UPDATE SET
             display_name = excluded.display_name,
             email = excluded.email,
             is_admin = excluded.is_admin,
             last_login_at = excluded.last_login_at
         RETURNING id",
    )
    .bind(new_id())
    .bind(&login.subject)
    .bind(&login.display_name)
    .bind(&login.email)
    .bind(i64::from(login.is_admin))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;

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
    Ok(CurrentUser {
        id,
        name: login.display_name.clone(),
        email: login.email.clone(),
        teams,
        is_admin: login.is_admin,
    })
}

/// Loads a user with their teams.
pub async fn find(db: &Db, id: &str) -> Result<Option<CurrentUser>> {
    let row: Option<(String, String, String, i64)> =
        sqlx::query_as("SELECT id, display_name, email, is_admin FROM users WHERE id = $1")
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
