//! Leases: which process does a singleton job (a repository's Git writer, the status
//! recorder) across replicas. A lease has a holder, an expiry and a generation that grows
//! whenever it changes hands; writes made under a lease are fenced by that generation.
//!
//! ```text
//!  take(name, holder) ── free, expired, or already ours and alive ──▶ Some(generation)
//!  renew(fence)       ── still ours, same generation, not expired ──▶ true
//!  check(tx, fence)   ── in the writer's own transaction: the row is locked until commit
//! ```

use super::{Db, Error, Result, now_ms};

/// Proof of holding a lease, checked by the writes made under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The lease.
    pub name: String,
    /// Its holder.
    pub holder: String,
    /// The generation it was taken at.
    pub generation: i64,
}

/// Takes the lease `name` for `holder` until `now + ttl_ms` when it is free, expired, or
/// already this holder's and alive (then its generation stays). The generation held, or
/// `None` when another holder has it.
pub async fn take(db: &Db, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<i64>> {
    let now = now_ms();
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO leases (name, holder, expires_at, generation) VALUES ($1, $2, $3, 1)
         ON CONFLICT (name) DO UPDATE SET
             generation = CASE WHEN leases.holder = excluded.holder AND leases.expires_at >= $4
                               THEN leases.generation ELSE leases.generation + 1 END,
             holder = excluded.holder,
             expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at < $4
         RETURNING generation",
    )
    .bind(name)
    .bind(holder)
    .bind(now + ttl_ms)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(generation,)| generation))
}

/// Extends a held lease; `false` when it is no longer held at that generation (it expired,
/// or another holder took it).
pub async fn renew(db: &Db, fence: &Fence, ttl_ms: i64) -> Result<bool> {
    let now = now_ms();
    let renewed = sqlx::query(
        "UPDATE leases SET expires_at = $4
         WHERE name = $1 AND holder = $2 AND generation = $3 AND expires_at >= $5",
    )
    .bind(&fence.name)
    .bind(&fence.holder)
    .bind(fence.generation)
    .bind(now + ttl_ms)
    .bind(now)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(renewed == 1)
}

/// Gives the lease up (orderly shutdown, a lost run), so another replica need not wait for
/// its expiry: the holder's own generation is marked expired. The row stays, so the next
/// holder's generation is still one more (a deleted row would start again at 1).
pub async fn release(db: &Db, fence: &Fence) -> Result<()> {
    sqlx::query(
        "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND generation = $3",
    )
    .bind(&fence.name)
    .bind(&fence.holder)
    .bind(fence.generation)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Inside a transaction: fails with [`Error::Fenced`] unless the lease is still held at the
/// fence's generation. The lease row stays locked until the transaction ends (PostgreSQL;
/// SQLite has one writer anyway), so it cannot change hands before the writes commit.
pub async fn check(tx: &mut sqlx::Transaction<'_, sqlx::Any>, fence: &Fence) -> Result<()> {
    let held = sqlx::query(
        "UPDATE leases SET expires_at = expires_at
         WHERE name = $1 AND holder = $2 AND generation = $3 AND expires_at > $4",
    )
    .bind(&fence.name)
    .bind(&fence.holder)
    .bind(fence.generation)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if held == 1 {
        Ok(())
    } else {
        Err(Error::Fenced(fence.name.clone()))
    }
}
