//! `GET /api/status/events`: the status hub as Server-Sent Events, for the signed-in user.
//!
//! Each event is `id: <epoch>.<seq>`, `event: claim|ledger|cluster|reset` and a JSON
//! [`StatusMessage`]. A browser reconnecting sends `Last-Event-ID`; what it missed is replayed
//! from the hub's ring, or a `reset` tells it to reload what it shows. Members receive their
//! teams' claim and ledger messages only (administrators all); cluster messages go to
//! everyone. A comment line every 15 s keeps proxies from closing an idle stream.
//!
//! A stream lives no longer than its session: every `check_every` the session is read again
//! (without counting as activity, so an open tab does not keep an idle session alive). When
//! it has ended — sign-out, expiry, idle timeout, a deactivated user — the stream closes (the
//! browser's reconnect then gets 401). When the user's teams or administrator flag changed,
//! the stream filters by the new ones from then on and sends `reset`, so pages re-read what
//! they show. Streams are capped per user and in total ([`Streams`]); a refused connect is
//! answered 429 (per user) or 503 (in total) and counted in Prometheus.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::domain::CurrentUser;
use app::status::StatusMessage;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::session::{BearerToken, SessionToken, hash_token};
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::metrics::prom::Telemetry;
use crate::shutdown::Stopping;
use crate::state::AppState;

/// The open status streams of this process, and their caps.
pub struct Streams {
    per_user: usize,
    total: usize,
    check_every: Duration,
    open: Mutex<Open>,
    telemetry: Arc<Telemetry>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_user: HashMap<String, usize>,
}

/// One open stream's place under the caps; dropping it (the stream ended or the browser went
/// away) frees the place.
pub struct Slot {
    streams: Arc<Streams>,
    user: String,
}

impl Streams {
    /// Caps of `per_user` and `total` open streams; sessions re-read every `check_every`.
    pub fn new(
        per_user: usize,
        total: usize,
        check_every: Duration,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Streams {
            per_user: per_user.max(1),
            total: total.max(1),
            check_every: check_every.max(Duration::from_millis(10)),
            open: Mutex::new(Open::default()),
            telemetry,
        }
    }

    /// A place for one more stream of `user`, or the cap (`per_user`, `total`) that is full.
    pub fn acquire(self: &Arc<Self>, user: &str) -> Result<Slot, &'static str> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = open.by_user.get(user).copied().unwrap_or(0);
        let full = if mine >= self.per_user {
            Some("per_user")
        } else if open.total >= self.total {
            Some("total")
        } else {
            None
        };
        if let Some(cap) = full {
            self.telemetry.stream_refused(cap);
            return Err(cap);
        }
        open.total += 1;
        *open.by_user.entry(user.to_owned()).or_default() += 1;
        self.telemetry.stream_open(1);
        Ok(Slot {
            streams: self.clone(),
            user: user.to_owned(),
        })
    }

    /// Streams open now (all users).
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.by_user.remove(&self.user);
            }
        }
        self.streams.telemetry.stream_open(-1);
    }
}

/// See the module documentation.
pub async fn events(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    session: Option<Extension<SessionToken>>,
    bearer: Option<Extension<BearerToken>>,
    headers: HeaderMap,
) -> Response {
    let credential = match (session, bearer) {
        (_, Some(Extension(BearerToken(hash)))) => Credential::Token(hash),
        (Some(Extension(session)), None) => Credential::Session(hash_token(&session.0)),
        (None, None) => return ApiError::unauthenticated().into_response(),
    };
    let Some(Extension(user)) = user else {
        return ApiError::unauthenticated().into_response();
    };
    let slot = match state.streams.acquire(&user.id) {
        Ok(slot) => slot,
        Err(cap) => return refused(cap),
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let hub = state.status.hub().clone();
    let subscription = hub.subscribe(last.as_deref());
    let check = Check {
        db: state.db.clone(),
        credential,
        idle: state.settings.session_idle,
        every: tokio::time::interval_at(
            tokio::time::Instant::now() + state.streams.check_every,
            state.streams.check_every,
        ),
        _slot: slot,
    };
    let stream = messages(hub, subscription, user, check, state.stopping.clone());
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn refused(cap: &'static str) -> Response {
    let (status, code, message) = if cap == "per_user" {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            "You have too many live status streams open; close some tabs.",
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "streams_full",
            "The portal serves as many live status streams as it can; try again shortly.",
        )
    };
    ApiError::new(status, code, message)
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("30"))
        .into_response()
}

/// What a stream was opened with: a browser's session, or an API token (the CLI's).
enum Credential {
    /// The session token's hash.
    Session(String),
    /// The API token's hash.
    Token(String),
}

/// What a stream re-reads its session (or token) with, and its place under the caps.
struct Check {
    db: Db,
    credential: Credential,
    idle: Duration,
    every: tokio::time::Interval,
    _slot: Slot,
}

impl Check {
    /// The session's user now: `None` when the session ended. A database error keeps the
    /// stream as it is (the next check tries again) rather than closing every stream at once.
    async fn user(&self, current: &CurrentUser) -> Option<CurrentUser> {
        let now = match &self.credential {
            Credential::Session(hash) => {
                db::sessions::user_for(&self.db, hash, self.idle, false).await
            }
            Credential::Token(hash) => db::tokens::authenticate(&self.db, hash)
                .await
                .map(|found| found.map(|(user, _)| user)),
        };
        match now {
            Ok(user) => user,
            Err(error) => {
                tracing::warn!(%error, "status stream: session check failed; kept open");
                Some(current.clone())
            }
        }
    }
}

fn allowed(user: &CurrentUser, message: &StatusMessage) -> bool {
    match message.team() {
        None => true,
        Some(team) => user.is_admin || user.teams.iter().any(|t| t == team),
    }
}

fn event(hub: &crate::hub::Hub, seq: u64, message: &StatusMessage) -> Event {
    Event::default()
        .id(hub.event_id(seq))
        .event(message.event_name())
        .json_data(message)
        .unwrap_or_else(|_| Event::default().comment("unserialisable message skipped"))
}

fn messages(
    hub: Arc<crate::hub::Hub>,
    subscription: crate::hub::Subscription,
    user: CurrentUser,
    check: Check,
    stopping: Stopping,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let crate::hub::Subscription {
        replay,
        reset,
        receiver,
    } = subscription;
    let mut pending: VecDeque<Event> = VecDeque::new();
    if reset {
        pending.push_back(reset_event());
    }
    pending.extend(
        replay
            .iter()
            .filter(|(_, m)| allowed(&user, m))
            .map(|(seq, m)| event(&hub, *seq, m)),
    );
    futures_util::stream::unfold(
        (pending, receiver, hub, user, check, stopping),
        |(mut pending, mut receiver, hub, mut user, mut check, stopping)| async move {
            loop {
                if let Some(next) = pending.pop_front() {
                    return Some((Ok(next), (pending, receiver, hub, user, check, stopping)));
                }
                tokio::select! {
                    // The process stops: the stream ends, and the browser's EventSource
                    // reconnects (through the load balancer, to a replica that serves).
                    () = stopping.wait() => return None,
                    received = receiver.recv() => match received {
                        Ok((seq, message)) if allowed(&user, &message) => {
                            pending.push_back(event(&hub, seq, &message));
                        }
                        Ok(_) => {}
                        // Too slow to keep up: what it shows may be wrong, so it reloads.
                        Err(RecvError::Lagged(_)) => pending.push_back(reset_event()),
                        Err(RecvError::Closed) => return None,
                    },
                    _ = check.every.tick() => {
                        let fresh = check.user(&user).await?;
                        if fresh.teams != user.teams || fresh.is_admin != user.is_admin {
                            // What the page shows was chosen by the old teams: re-read it.
                            pending.push_back(reset_event());
                        }
                        user = fresh;
                    }
                }
            }
        },
    )
}

fn reset_event() -> Event {
    Event::default()
        .event("reset")
        .json_data(StatusMessage::Reset)
        .unwrap_or_default()
}
