//! Drafts: one saved request form per user and offering (saving again replaces it).

use super::{Db, Result, now_ms};

/// A stored draft.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DraftRow {
    /// The form as JSON (`app::catalog::RequestDraft`).
    pub body: String,
    /// Unix ms.
    pub updated_at: i64,
}

/// Saves (or replaces) the user's draft for an offering.
pub async fn save(db: &Db, user_id: &str, offering: &str, body: &str) -> Result<i64> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO drafts (user_id, offering, body, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, offering) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(offering)
    .bind(body)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(now)
}

/// The user's draft for an offering.
pub async fn get(db: &Db, user_id: &str, offering: &str) -> Result<Option<DraftRow>> {
    Ok(
        sqlx::query_as("SELECT body, updated_at FROM drafts WHERE user_id = $1 AND offering = $2")
            .bind(user_id)
            .bind(offering)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Removes the user's draft for an offering (no error when there is none).
pub async fn delete(db: &Db, user_id: &str, offering: &str) -> Result<()> {
    sqlx::query("DELETE FROM drafts WHERE user_id = $1 AND offering = $2")
        .bind(user_id)
        .bind(offering)
        .execute(db.pool())
        .await?;
    Ok(())
}
