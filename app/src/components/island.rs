//! What every island needs around its props: reading data again after a change (a live
//! message, an action that went through) and going to another page.
//!
//! An island is hydrated from the props the server rendered it with; it never creates a
//! `Resource` of its own, whose hydration would depend on the ids of every resource the
//! server-only page around it read. It holds its data in a signal and reads it again with
//! [`reload`] when something says it changed.

use std::future::Future;

use leptos::prelude::*;

use crate::error::AppError;

/// Reads `fetch` into `into`, in the browser (nothing happens on the server). A failed read
/// keeps what is shown: the next change reads again.
pub fn reload<T: Send + Sync + 'static>(
    into: RwSignal<T>,
    fetch: impl Future<Output = Result<T, AppError>> + 'static,
) {
    run(async move {
        if let Ok(value) = fetch.await {
            into.set(value);
        }
    });
}

/// Runs `task` in the browser (nothing happens on the server).
pub fn run(task: impl Future<Output = ()> + 'static) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(task);
    #[cfg(not(feature = "hydrate"))]
    drop(task);
}

/// Runs `then` each time an action has finished again, given its `version()` (not for the
/// state it had when the island hydrated).
pub fn after_each(version: RwSignal<usize>, then: impl Fn() + 'static) {
    Effect::new(move |seen: Option<usize>| {
        let now = version.get();
        if seen.is_some_and(|seen| seen != now) {
            then();
        }
        now
    });
}

/// Opens `path` as a new page (the browser's own navigation: islands have no router).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}
