//! `GET /api/status/events`: the status hub as Server-Sent Events, for the signed-in user.
//!
//! Each event is `id: <epoch>.<seq>`, `event: claim|ledger|cluster|reset` and a JSON
//! [`StatusMessage`]. A browser reconnecting sends `Last-Event-ID`; what it missed is replayed
//! from the hub's ring, or a `reset` tells it to reload what it shows. Members receive their
//! teams' claim and ledger messages only (administrators all); cluster messages go to
//! everyone. A comment line every 15 s keeps proxies from closing an idle stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use app::domain::CurrentUser;
use app::status::StatusMessage;
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::state::AppState;

/// See the module documentation.
pub async fn events(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    headers: HeaderMap,
) -> Response {
    let Some(Extension(user)) = user else {
        return crate::error::ApiError::unauthenticated().into_response();
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let hub = state.status.hub().clone();
    let subscription = hub.subscribe(last.as_deref());
    let stream = messages(hub, subscription, user);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
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
    hub: std::sync::Arc<crate::hub::Hub>,
    subscription: crate::hub::Subscription,
    user: CurrentUser,
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
        (pending, receiver, hub, user),
        |(mut pending, mut receiver, hub, user)| async move {
            loop {
                if let Some(next) = pending.pop_front() {
                    return Some((Ok(next), (pending, receiver, hub, user)));
                }
                match receiver.recv().await {
                    Ok((seq, message)) if allowed(&user, &message) => {
                        pending.push_back(event(&hub, seq, &message));
                    }
                    Ok(_) => {}
                    // Too slow to keep up: what it shows may be wrong, so it reloads.
                    Err(RecvError::Lagged(_)) => pending.push_back(reset_event()),
                    Err(RecvError::Closed) => return None,
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
