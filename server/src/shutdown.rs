//! The process is stopping (SIGTERM, Ctrl-C): one signal every part that must behave
//! differently while it stops reads.
//!
//! ```text
//!  SIGTERM ─▶ Stopping::begin ─┬─▶ /readyz answers 503 (the load balancer stops sending)
//!                              ├─▶ status streams end (browsers reconnect to another replica)
//!                              └─▶ Git writers and the status recorder finish the step in hand
//!                                  and release their leases (another replica takes over now,
//!                                  not at the lease's expiry)
//! ```

use tokio_util::sync::CancellationToken;

/// Whether the process is stopping; clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Stopping(CancellationToken);

impl Stopping {
    /// Running.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process stops from now on (idempotent).
    pub fn begin(&self) {
        self.0.cancel();
    }

    /// Whether [`Stopping::begin`] was called.
    pub fn is_stopping(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once the process is stopping.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}
