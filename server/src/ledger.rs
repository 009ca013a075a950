//! What the ledger recorded, announced: every append (a submission, the Git writer's
//! outcomes, the recorder's cluster events, an administrator's retry) is pushed to the
//! browsers through the hub and counted for Prometheus, by whoever made it, after its
//! transaction committed. Each replica also relays to its own browsers, within a second, what
//! the other replicas appended: the Git writer and the recorder run on one replica at a time,
//! and a browser may be connected to any.
//!
//! ```text
//!  db::{requests, outbox, ledger} ──Appended──▶ Ledger::announce ──▶ Hub (StatusMessage::Ledger)
//!                                                                └─▶ Telemetry (requests, stages)
//!  request_events (another replica's appends) ──every second──▶ Ledger::spawn_relay ──▶ Hub
//! ```
//! The request page follows its whole timeline, Git stages and cluster stages alike, over the
//! one status stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::status::StatusMessage;

use crate::db::Db;
use crate::db::ledger::Appended;
use crate::hub::Hub;
use crate::metrics::prom::Telemetry;

/// Announces ledger appends. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    hub: Arc<Hub>,
    telemetry: Arc<Telemetry>,
    /// Events this replica announced itself (id → when), so the relay skips them.
    announced: Arc<Mutex<HashMap<String, i64>>>,
}

/// How often the relay asks for other replicas' events.
const RELAY_EVERY: Duration = Duration::from_secs(1);

/// How far back each relay query looks (ms): an event appended in a transaction that took
/// longer than this to commit, or by a replica whose clock is that far off, is not relayed;
/// its browsers see it on their next reconnect or reload.
const RELAY_WINDOW_MS: i64 = 30_000;

impl Ledger {
    /// Announcing through `hub` and counting in `telemetry`.
    pub fn new(hub: Arc<Hub>, telemetry: Arc<Telemetry>) -> Self {
        Ledger {
            hub,
            telemetry,
            announced: Arc::default(),
        }
    }

    /// The hub announcements go to.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Announces what a committed transaction appended.
    pub fn announce(&self, appended: impl IntoIterator<Item = Appended>) {
        for event in appended {
            self.announced
                .lock()
                .expect("the announced set")
                .insert(event.id.clone(), event.at);
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

    /// Relays to this replica's browsers the events other replicas appended, polling the
    /// ledger once a second (one indexed query; the same on SQLite and PostgreSQL). Events
    /// appended before the relay started are history, not news: they are not sent.
    pub fn spawn_relay(&self, db: Db) -> tokio::task::JoinHandle<()> {
        let ledger = self.clone();
        tokio::spawn(async move {
            let started = crate::db::now_ms();
            // Events already looked at, so that overlapping windows send nothing twice.
            let mut seen: HashMap<String, i64> = HashMap::new();
            loop {
                let since = (crate::db::now_ms() - RELAY_WINDOW_MS).max(started);
                match crate::db::ledger::appended_since(&db, since).await {
                    Ok(events) => {
                        let mut announced = ledger.announced.lock().expect("the announced set");
                        for event in events {
                            if seen.insert(event.id.clone(), event.at).is_some()
                                || announced.remove(&event.id).is_some()
                            {
                                continue;
                            }
                            ledger.hub.publish(StatusMessage::Ledger {
                                request_id: event.request_id,
                                team: event.team,
                                kind: event.kind,
                            });
                        }
                        announced.retain(|_, at| *at >= since - RELAY_WINDOW_MS);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "relaying other replicas' ledger events failed");
                    }
                }
                seen.retain(|_, at| *at >= since);
                tokio::time::sleep(RELAY_EVERY).await;
            }
        })
    }
}
