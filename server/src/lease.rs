//! Holding a lease while working: the one helper the Git writers and the status recorder use
//! to be the only replica doing their job.
//!
//! ```text
//!  Lease::hold() ──take──▶ Held { fence } ──every ttl/3──▶ renew
//!                                  │                           │ refused, or no answer until expiry
//!                                  ▼                           ▼
//!            writes carry fence (db::leases::check)      lost: is_lost() = true, work stops
//! ```
//! A holder that loses its lease while it works (a long drain, a paused process, a database
//! it cannot reach) learns it at the next renewal, and its writes are refused by the fence
//! even before that: another replica that took over is never overwritten.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::db::leases::{self, Fence};
use crate::db::{self, Db};

/// The longest a standby replica waits before asking for a lease again.
const STANDBY_AT_MOST: Duration = Duration::from_millis(500);

/// A lease some job is done under.
#[derive(Clone, Debug)]
pub struct Lease {
    db: Db,
    name: String,
    holder: String,
    ttl: Duration,
}

/// The lease while it is held; renewed in the background until dropped or lost.
pub struct Held {
    fence: Fence,
    lost: Arc<Lost>,
    renewer: tokio::task::JoinHandle<()>,
    db: Db,
}

#[derive(Default)]
struct Lost {
    flag: AtomicBool,
    notify: Notify,
}

impl Lost {
    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

impl Lease {
    /// The lease `name`, held as `holder` for `ttl` at a time.
    pub fn new(db: Db, name: impl Into<String>, holder: impl Into<String>, ttl: Duration) -> Self {
        Lease {
            db,
            name: name.into(),
            holder: holder.into(),
            ttl,
        }
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How often a replica without the lease asks for it again: three times per TTL, and at
    /// least twice a second, so a released lease (a holder stopping in order) is taken within
    /// half a second and a lapsed one (a holder that died) within about a TTL. Each ask is
    /// one statement on the lease's row by its primary key.
    pub fn standby(&self) -> Duration {
        (self.ttl / 3).min(STANDBY_AT_MOST)
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(30_000)
    }

    /// Takes the lease if no one else holds it, and keeps renewing it until the returned
    /// [`Held`] is dropped or the lease is lost.
    pub async fn hold(&self) -> db::Result<Option<Held>> {
        let Some(generation) =
            leases::take(&self.db, &self.name, &self.holder, self.ttl_ms()).await?
        else {
            return Ok(None);
        };
        let fence = Fence {
            name: self.name.clone(),
            holder: self.holder.clone(),
            generation,
        };
        let lost = Arc::new(Lost::default());
        let renewer = tokio::spawn(renew(
            self.db.clone(),
            fence.clone(),
            self.ttl,
            lost.clone(),
        ));
        Ok(Some(Held {
            fence,
            lost,
            renewer,
            db: self.db.clone(),
        }))
    }
}

/// Renews every third of the lifetime; the lease is lost when a renewal is refused, or when
/// none succeeded before it would have expired.
async fn renew(db: Db, fence: Fence, ttl: Duration, lost: Arc<Lost>) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(30_000);
    let mut renewed_at = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(ttl / 3).await;
        match leases::renew(&db, &fence, ttl_ms).await {
            Ok(true) => renewed_at = tokio::time::Instant::now(),
            Ok(false) => {
                tracing::warn!(lease = %fence.name, "lease lost to another holder; stopping its work");
                lost.set();
                return;
            }
            Err(error) if renewed_at.elapsed() >= ttl => {
                tracing::warn!(lease = %fence.name, %error, "lease expired while the database could not be reached; stopping its work");
                lost.set();
                return;
            }
            Err(error) => {
                tracing::warn!(lease = %fence.name, %error, "renewing the lease failed; will retry");
            }
        }
    }
}

impl Held {
    /// What writes made under this lease carry.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Whether the lease was lost (stop working and take it again).
    pub fn is_lost(&self) -> bool {
        self.lost.flag.load(Ordering::SeqCst)
    }

    /// Resolves when the lease is lost.
    pub async fn lost(&self) {
        loop {
            let notified = self.lost.notify.notified();
            if self.is_lost() {
                return;
            }
            notified.await;
        }
    }

    /// Gives the lease up now, so another replica takes over without waiting for expiry.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(error) = leases::release(&self.db, &self.fence).await {
            tracing::warn!(lease = %self.fence.name, %error, "releasing the lease failed; it expires on its own");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
