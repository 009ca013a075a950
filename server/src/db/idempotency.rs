//! Idempotency keys of submissions through the REST API: the same key (per user) and body
//! make one request however often they are sent.
//!
//! ```text
//!  claim(user, key, fingerprint) ──▶ New(claim) (row inserted, request_id NULL, claim id)
//!                                 ├─▶ Done(id)   (an earlier submission with it committed)
//!                                 ├─▶ Reused     (another body under the same key)
//!                                 └─▶ InFlight   (claimed moments ago, not committed yet)
//!  requests::submit fills request_id in its own transaction, only under its own claim id (a
//!  submission whose claim was taken over commits nothing); a failed submission releases its
//!  claim. A claim left without a request for longer than STALE_MS (its process died before
//!  committing) is taken over.
//! ```

use super::{Db, Result, now_ms};

/// How long keys are kept.
const KEEP_MS: i64 = 24 * 3_600_000;
/// A claim older than this without a request belongs to a submission that never committed
/// (one takes seconds; its Git checks are bounded by the Git deadlines).
const STALE_MS: i64 = 10 * 60_000;

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The key is this submission's now, under this claim id.
    New(String),
    /// A submission with this key and body made request `0`.
    Done(String),
    /// The key was used with another body.
    Reused,
    /// A submission with this key is under way.
    InFlight,
}

/// Claims `key` of `user` for a submission whose body hashes to `fingerprint`.
pub async fn claim(db: &Db, user: &str, key: &str, fingerprint: &str) -> Result<Claimed> {
    let now = now_ms();
    // Expired keys go first, outside the claim's transaction (no lock shared between users).
    sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now - KEEP_MS)
        .execute(db.pool())
        .await?;
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE user_id = $1 AND key = $2 AND request_id IS NULL AND created_at < $3",
    )
    .bind(user)
    .bind(key)
    .bind(now - STALE_MS)
    .execute(&mut *tx)
    .await?;
    let claim = super::new_id();
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, claim, request_id, created_at)
         VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (user_id, key) DO NOTHING",
    )
    .bind(user)
    .bind(key)
    .bind(fingerprint)
    .bind(&claim)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let found = if inserted == 1 {
        Claimed::New(claim)
    } else {
        let (held, request): (String, Option<String>) = sqlx::query_as(
            "SELECT fingerprint, request_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .bind(user)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        match request {
            _ if held != fingerprint => Claimed::Reused,
            Some(id) => Claimed::Done(id),
            None => Claimed::InFlight,
        }
    };
    tx.commit().await?;
    Ok(found)
}

/// Gives up the claim of a submission that failed (a retry may submit again).
pub async fn release(db: &Db, user: &str, key: &str, claim: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE user_id = $1 AND key = $2 AND claim = $3 AND request_id IS NULL",
    )
    .bind(user)
    .bind(key)
    .bind(claim)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records, inside the submission's transaction, the request its key made: refused (the
/// transaction then commits nothing) when the claim is no longer this submission's.
pub(super) async fn fill(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: &str,
    (key, claim): (&str, &str),
    request_id: &str,
) -> Result<()> {
    let filled = sqlx::query(
        "UPDATE idempotency_keys SET request_id = $4
         WHERE user_id = $1 AND key = $2 AND claim = $3 AND request_id IS NULL",
    )
    .bind(user)
    .bind(key)
    .bind(claim)
    .bind(request_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if filled == 1 {
        Ok(())
    } else {
        Err(super::Error::KeyTakenOver)
    }
}
