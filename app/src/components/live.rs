//! Live status in the browser: one `EventSource` per tab on `/api/status/events`, shared by
//! every island of the page, plus the health badge and the unreachable-cluster banner.
//!
//! ```text
//!  EventSource ── claim / ledger / cluster / reset ──▶ LiveFeed.last (signal)
//!      │ reconnects by itself, sending Last-Event-ID         │ islands react: update a badge,
//!      ▼                                                     ▼ read their data again
//!  LiveFeed.open (signal) ─▶ data-live on the indicator (tests wait for "open")
//! ```
//! Islands share no context, so the feed is the tab's own: made by the first island that
//! reads it, kept for the page's life. On the server the feed never changes: pages render
//! their data as read.

use leptos::prelude::*;

use crate::components::island::Held;

use crate::domain::{Health, HealthState};
use crate::status::{ClusterView, StatusMessage, state_label};

/// The tab's status stream.
#[derive(Clone)]
pub struct LiveFeed {
    /// The latest message with a counter (two equal messages are two changes).
    pub last: ArcReadSignal<Option<(u64, StatusMessage)>>,
    /// Whether the stream is connected.
    pub open: ArcReadSignal<bool>,
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The tab's feed, opened by the first island that reads it: a page that shows nothing
    /// live (the sign-in page, whose visitor the stream would refuse) opens none.
    static FEED: LiveFeed = connect();
}

#[cfg(feature = "hydrate")]
fn connect() -> LiveFeed {
    use wasm_bindgen::JsCast as _;
    use wasm_bindgen::prelude::Closure;

    let (last, set_last) = arc_signal(None::<(u64, StatusMessage)>);
    let (open, set_open) = arc_signal(false);
    let feed = LiveFeed { last, open };
    let Ok(source) = web_sys::EventSource::new("/api/status/events") else {
        return feed;
    };
    let counter = std::rc::Rc::new(std::cell::Cell::new(0_u64));
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new({
        let counter = counter.clone();
        let set_last = set_last.clone();
        move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if let Ok(message) = serde_json::from_str::<StatusMessage>(&text) {
                counter.set(counter.get() + 1);
                set_last.set(Some((counter.get(), message)));
            }
        }
    });
    for name in ["claim", "ledger", "cluster", "reset"] {
        let _ = source.add_event_listener_with_callback(name, on_message.as_ref().unchecked_ref());
    }
    on_message.forget();
    // Opening (and every reopening) is announced as a reset: whatever happened before the
    // stream was there (between the page's render and now) is re-read, never missed.
    let on_open = Closure::<dyn FnMut()>::new({
        let set_open = set_open.clone();
        move || {
            set_open.set(true);
            counter.set(counter.get() + 1);
            set_last.set(Some((counter.get(), StatusMessage::Reset)));
        }
    });
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    on_open.forget();
    // The browser reconnects by itself (with Last-Event-ID); meanwhile the page says so.
    let on_error = Closure::<dyn FnMut()>::new(move || set_open.set(false));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    feed
}

/// The tab's feed (opening it in the browser, once per tab). On the server the feed never
/// changes: pages render their data as read.
pub fn use_live_feed() -> LiveFeed {
    #[cfg(feature = "hydrate")]
    {
        FEED.with(LiveFeed::clone)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        LiveFeed {
            last: arc_signal(None).0,
            open: arc_signal(false).0,
        }
    }
}

/// Runs `react` for every message the feed delivers after the island hydrated. The message
/// the feed already held is not delivered: the stream opened before this island was there (a
/// lazily loaded island hydrates after the page's others), so what it said since the page was
/// rendered is unknown to the island, which gets a [`StatusMessage::Reset`] instead and reads
/// its data again. Before the stream opens there is nothing to catch up on: its opening is a
/// reset of its own.
pub fn on_live_message(react: impl Fn(&StatusMessage) + 'static) {
    let feed = use_live_feed();
    Effect::new(move |seen: Option<u64>| {
        let last = feed.last.get();
        let counter = last.as_ref().map_or(0, |(n, _)| *n);
        match (seen, &last) {
            (None, Some(_)) => react(&StatusMessage::Reset),
            (Some(seen), Some((n, message))) if *n != seen => react(message),
            _ => {}
        }
        counter
    });
}

/// Tailwind classes of a health state.
pub fn health_classes(state: HealthState) -> &'static str {
    match state {
        HealthState::Ready => {
            "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200"
        }
        HealthState::Progressing => "bg-sky-100 text-sky-900 dark:bg-sky-950 dark:text-sky-200",
        HealthState::Failed => "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
        HealthState::Deleting => {
            "bg-violet-100 text-violet-900 dark:bg-violet-950 dark:text-violet-200"
        }
        HealthState::Unknown => "bg-subtle text-slate-700 dark:text-slate-200",
        HealthState::Stale => "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
    }
}

/// A health badge; `last_known` is shown next to Stale.
#[component]
pub fn HealthBadge(health: Health, last_known: Option<HealthState>) -> impl IntoView {
    let state = health.state;
    let word = match (state, last_known) {
        (HealthState::Stale, Some(last)) => format!("Stale (last: {})", state_label(last)),
        _ => state_label(state).to_owned(),
    };
    let title = [health.reason.clone(), health.message.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    view! {
        <span data-testid="health-badge" data-state=format!("{state:?}").to_lowercase() title=title
            class=format!("inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium {}", health_classes(state))>
            {word}
        </span>
    }
}

/// The clusters of `all` that cannot be reached: the banner's props (it has nothing to say of
/// the others, and is on every page).
pub fn unreachable(all: Vec<ClusterView>) -> Vec<ClusterView> {
    all.into_iter().filter(|c| !c.reachable).collect()
}

/// A banner per unreachable cluster, kept current by the stream; and the stream's own state.
/// `clusters` are the unreachable ones when the server rendered the page.
#[island]
pub fn ClusterBanner(clusters: Vec<ClusterView>) -> impl IntoView {
    let clusters = Held::new(clusters);
    on_live_message(move |message| {
        if matches!(
            message,
            StatusMessage::Cluster { .. } | StatusMessage::Reset
        ) {
            clusters.reload(async { crate::api::list_clusters().await.map(unreachable) });
        }
    });
    let open = use_live_feed().open;
    let words = open.clone();
    view! {
        <span data-testid="live-indicator" class="sr-only" data-live=move || if open.get() { "open" } else { "closed" }>
            {move || if words.get() { "Live updates on" } else { "Live updates off" }}
        </span>
        {move || clusters.get().into_iter().map(|c| view! {
            <div role="alert" data-testid="cluster-banner" data-cluster=c.name.clone()
                class="border-b border-amber-300 bg-amber-50 px-4 py-2 text-center text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
                {format!("Cluster {} cannot be reached since {}{}. Statuses from it are the last known, marked Stale.",
                    c.name, c.since, c.error.map(|e| format!(" ({e})")).unwrap_or_default())}
            </div>
        }).collect_view()}
    }
}
