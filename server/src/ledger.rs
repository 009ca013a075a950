//! What the ledger recorded, announced: every append (a submission, the Git writer's
//! outcomes, the recorder's cluster events, an administrator's retry) is pushed to the
//! browsers through the hub and counted for Prometheus, by whoever made it, after its
//! transaction committed.
//!
//! ```text
//!  db::{requests, outbox, ledger} ──Appended──▶ Ledger::announce ──▶ Hub (StatusMessage::Ledger)
//!                                                                └─▶ Telemetry (requests, stages)
//! ```
//! The request page follows its whole timeline, Git stages and cluster stages alike, over the
//! one status stream.

use std::sync::Arc;

use app::status::StatusMessage;

use crate::db::ledger::Appended;
use crate::hub::Hub;
use crate::metrics::prom::Telemetry;

/// Announces ledger appends. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    hub: Arc<Hub>,
    telemetry: Arc<Telemetry>,
}

impl Ledger {
    /// Announcing through `hub` and counting in `telemetry`.
    pub fn new(hub: Arc<Hub>, telemetry: Arc<Telemetry>) -> Self {
        Ledger { hub, telemetry }
    }

    /// The hub announcements go to.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Announces what a committed transaction appended.
    pub fn announce(&self, appended: impl IntoIterator<Item = Appended>) {
        for event in appended {
            let key = &event.refreshed.key;
            self.telemetry.ledger_changed(
                &key.offering,
                key.created_at,
                event.refreshed.before.as_ref(),
                &event.refreshed.after,
            );
            self.hub.publish(StatusMessage::Ledger {
                request_id: key.id.clone(),
                team: key.team.clone(),
                kind: event.kind,
            });
        }
    }
}
