//! Server-side sessions. The browser holds a random token; the table holds its SHA-256, so a
//! leaked database cannot be replayed as cookies.

use std::time::Duration;

use app::domain::CurrentUser;

use super::{Db, Result, now_ms, users};

/// `last_seen_at` is written at most this often per session, not on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Stores a new session for `user_id` that expires after `ttl`; `sso` marks one begun at
/// the identity provider (sign-out continues there).
pub async fn create(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    ttl: Duration,
    sso: bool,
) -> Result<()> {
    let now = now_ms();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, sso)
         VALUES ($1, $2, $3, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(now.saturating_add(ttl_ms))
    .bind(i64::from(sso))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The user of a live session — not expired, and seen within `idle` — if any; notes that
/// the session was seen when `touch` (a request of the user's; an open status stream's
/// periodic check is not one, so it does not keep an idle session alive).
pub async fn user_for(
    db: &Db,
    token_hash: &str,
    idle: Duration,
    touch: bool,
) -> Result<Option<CurrentUser>> {
    let now = now_ms();
    let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX / 2);
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT user_id, last_seen_at FROM sessions
         WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $3",
    )
    .bind(token_hash)
    .bind(now)
    .bind(now.saturating_sub(idle_ms))
    .fetch_optional(db.pool())
    .await?;
    let Some((user_id, last_seen)) = row else {
        return Ok(None);
    };
    if touch && now - last_seen > TOUCH_EVERY_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(db.pool())
            .await?;
    }
    users::find(db, &user_id).await
}

/// Ends a session (sign-out); returns whether it was an SSO session. Unknown tokens are
/// ignored.
pub async fn delete(db: &Db, token_hash: &str) -> Result<bool> {
    let row: Option<(i64,)> =
        sqlx::query_as("DELETE FROM sessions WHERE token_hash = $1 RETURNING sso")
            .bind(token_hash)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.is_some_and(|(sso,)| sso != 0))
}

/// Removes sign-ins that were started at the identity provider and never completed.
pub async fn purge_expired_sign_ins(db: &Db) -> Result<u64> {
    let done = sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Removes expired sessions; returns how many.
pub async fn purge_expired(db: &Db) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
