//! The status hub: every status change the watchers and the ledger recorder see, numbered and
//! fanned out to the browsers' Server-Sent Event streams.
//!
//! ```text
//!  watchers / recorder ──publish──▶ Hub { epoch, seq, recent (ring) } ──broadcast──▶ SSE streams
//!                                        ▲ subscribe(Last-Event-ID): replay what is newer
//!                                        └ unknown epoch or fallen out of the ring: Reset
//! ```
//! Event ids are `<epoch>.<seq>`: the epoch names this process, so an id from another
//! replica (or from before a restart) is never mistaken for one of ours; it is answered with a
//! Reset (reload what you show) instead of a silently incomplete replay.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use app::status::StatusMessage;
use tokio::sync::broadcast;

/// A numbered message.
pub type Numbered = (u64, Arc<StatusMessage>);

/// See the module documentation.
pub struct Hub {
    epoch: String,
    inner: Mutex<Inner>,
    sender: broadcast::Sender<Numbered>,
    capacity: usize,
}

struct Inner {
    seq: u64,
    recent: VecDeque<Numbered>,
}

/// What a new subscriber receives first, then the live receiver.
pub struct Subscription {
    /// Messages newer than the subscriber's last, oldest first.
    pub replay: Vec<Numbered>,
    /// The subscriber's last id could not be honoured: it should reload.
    pub reset: bool,
    /// Everything published from now on.
    pub receiver: broadcast::Receiver<Numbered>,
}

impl Hub {
    /// A hub remembering the last `capacity` messages for reconnecting clients.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Hub {
            epoch: uuid::Uuid::now_v7().simple().to_string()[..12].to_owned(),
            inner: Mutex::new(Inner {
                seq: 0,
                recent: VecDeque::with_capacity(capacity),
            }),
            sender: broadcast::channel(capacity.max(16)).0,
            capacity,
        })
    }

    /// Numbers `message` and sends it to every subscriber.
    pub fn publish(&self, message: StatusMessage) -> u64 {
        let mut inner = self.inner.lock().expect("hub lock");
        inner.seq += 1;
        let numbered = (inner.seq, Arc::new(message));
        if inner.recent.len() == self.capacity {
            inner.recent.pop_front();
        }
        inner.recent.push_back(numbered.clone());
        // No subscriber is not an error: nobody is looking.
        let _ = self.sender.send(numbered);
        inner.seq
    }

    /// The SSE id of message `seq`.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}.{seq}", self.epoch)
    }

    /// Subscribes, replaying what came after `last_event_id` (the browser's `Last-Event-ID`).
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        // Under the lock publish holds while sending: nothing falls between replay and live.
        let inner = self.inner.lock().expect("hub lock");
        let receiver = self.sender.subscribe();
        let Some(last) = last_event_id else {
            return Subscription {
                replay: Vec::new(),
                reset: false,
                receiver,
            };
        };
        let seq = last
            .split_once('.')
            .filter(|(epoch, _)| *epoch == self.epoch)
            .and_then(|(_, seq)| seq.parse::<u64>().ok())
            .filter(|seq| *seq <= inner.seq);
        let oldest_kept = inner.recent.front().map_or(inner.seq + 1, |(s, _)| *s);
        match seq {
            Some(seq) if seq + 1 >= oldest_kept => Subscription {
                replay: inner
                    .recent
                    .iter()
                    .filter(|(s, _)| *s > seq)
                    .cloned()
                    .collect(),
                reset: false,
                receiver,
            },
            _ => Subscription {
                replay: Vec::new(),
                reset: true,
                receiver,
            },
        }
    }

    /// The number of open subscriptions (streams).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(name: &str) -> StatusMessage {
        StatusMessage::Cluster {
            cluster: name.into(),
            reachable: true,
            error: None,
        }
    }

    #[test]
    fn a_reconnecting_client_gets_exactly_what_it_missed() {
        let hub = Hub::new(8);
        let first = hub.publish(cluster("a"));
        hub.publish(cluster("b"));
        hub.publish(cluster("c"));
        let sub = hub.subscribe(Some(&hub.event_id(first)));
        assert!(!sub.reset);
        let names: Vec<u64> = sub.replay.iter().map(|(s, _)| *s).collect();
        assert_eq!(names, vec![first + 1, first + 2]);
    }

    #[test]
    fn an_id_from_another_process_or_too_old_asks_for_a_reset() {
        let hub = Hub::new(2);
        for name in ["a", "b", "c", "d"] {
            hub.publish(cluster(name));
        }
        assert!(hub.subscribe(Some("otherepoch.3")).reset);
        assert!(
            hub.subscribe(Some(&hub.event_id(1))).reset,
            "fell out of the ring"
        );
        assert!(
            !hub.subscribe(Some(&hub.event_id(2))).reset,
            "3 and 4 are kept"
        );
        assert!(
            hub.subscribe(Some(&hub.event_id(99))).reset,
            "from the future"
        );
    }

    #[tokio::test]
    async fn live_messages_follow_the_replay_without_gaps() {
        let hub = Hub::new(8);
        let mut sub = hub.subscribe(None);
        let seq = hub.publish(cluster("x"));
        let (got, message) = sub.receiver.recv().await.expect("message");
        assert_eq!(got, seq);
        assert_eq!(message.event_name(), "cluster");
    }
}
