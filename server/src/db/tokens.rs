//! Personal API tokens. The secret is `slp_` + 32 random bytes (base64url): the prefix lets
//! secret scanners recognise leaked Slipway tokens. Only its SHA-256 is stored.

use app::domain::{CurrentUser, TokenScope};

use super::{Db, Result, new_id, now_ms, users};

/// `last_used_at` is written at most this often per token.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A stored token (no secret).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    /// Token id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Label.
    pub name: String,
    /// First characters of the secret.
    pub prefix: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// Unix ms.
    pub last_used_at: Option<i64>,
    /// Unix ms.
    pub revoked_at: Option<i64>,
}

/// Stores a new token whose secret hashes to `token_hash`.
pub async fn create(
    db: &Db,
    user_id: &str,
    name: &str,
    token_hash: &str,
    prefix: &str,
    scopes: &[TokenScope],
    expires_at: i64,
) -> Result<TokenRow> {
    let scopes = scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(sqlx::query_as(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(prefix)
    .bind(scopes)
    .bind(now_ms())
    .bind(expires_at)
    .fetch_one(db.pool())
    .await?)
}

/// A user's tokens, newest first.
pub async fn list_for_user(db: &Db, user_id: &str) -> Result<Vec<TokenRow>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
         FROM api_tokens WHERE user_id = $1 ORDER BY id DESC",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?)
}

/// Revokes token `id` if `owner` owns it (any owner when `None`); returns whether a live
/// token was revoked.
pub async fn revoke(db: &Db, id: &str, owner: Option<&str>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1
         WHERE id = $2 AND ($3 IS NULL OR user_id = $3) AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The user and scopes of a live token (not revoked, not expired), noting its use.
pub async fn authenticate(
    db: &Db,
    token_hash: &str,
) -> Result<Option<(CurrentUser, Vec<TokenScope>)>> {
    let now = now_ms();
    let row: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, user_id, scopes, last_used_at FROM api_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    let Some((id, user_id, scopes, last_used)) = row else {
        return Ok(None);
    };
    if last_used.is_none_or(|t| now - t > TOUCH_EVERY_MS) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&id)
            .execute(db.pool())
            .await?;
    }
    let scopes = TokenScope::parse_list(&scopes).unwrap_or_default();
    Ok(users::find(db, &user_id).await?.map(|user| (user, scopes)))
}
