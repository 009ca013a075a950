//! What every island needs around its props: data read again after a change (a live
//! message, an action that went through), and going to another page.
//!
//! An island is hydrated from the props the server rendered it with; it never creates a
//! `Resource` of its own, whose hydration would depend on the ids of every resource the
//! server-only page around it read. It holds its data in a [`Held`] and reads it again with
//! [`Held::reload`] when something says it changed.

use std::future::Future;

use leptos::prelude::*;

use crate::error::AppError;

/// Data an island shows, as the server rendered it and then as read again in the browser.
/// Reads may finish out of order (a burst of live messages starts several): only the last
/// one asked for is shown, as a `Resource` would.
pub struct Held<T: Send + Sync + 'static> {
    value: RwSignal<T>,
    /// How many reads were asked for: a read that finishes when another was asked after it is
    /// dropped.
    asked: StoredValue<u64>,
}

impl<T: Send + Sync + 'static> Clone for Held<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Held<T> {}

impl<T: Send + Sync + 'static> Held<T> {
    /// Holds `value`, the server's.
    pub fn new(value: T) -> Self {
        Self {
            value: RwSignal::new(value),
            asked: StoredValue::new(0),
        }
    }

    /// Reads `fetch` in the browser and shows it, unless another read was asked for since
    /// (nothing happens on the server). A failed read keeps what is shown: the next change
    /// reads again.
    pub fn reload(self, fetch: impl Future<Output = Result<T, AppError>> + 'static) {
        let ticket = self.asked.get_value() + 1;
        self.asked.set_value(ticket);
        run(async move {
            if let Ok(value) = fetch.await
                && self.asked.get_value() == ticket
            {
                self.value.set(value);
            }
        });
    }
}

impl<T: Send + Sync + 'static> Held<T> {
    /// Reads `fetch()` again each time one of the actions, given by their `version()`, has
    /// finished (not for the state they had when the island hydrated).
    pub fn reload_after<F>(
        self,
        versions: impl IntoIterator<Item = RwSignal<usize>>,
        fetch: impl Fn() -> F + 'static,
    ) where
        F: Future<Output = Result<T, AppError>> + 'static,
    {
        let versions: Vec<_> = versions.into_iter().collect();
        // Versions only grow: their sum changes whenever one of them does.
        Effect::new(move |seen: Option<usize>| {
            let now = versions.iter().map(|v| v.get()).sum();
            if seen.is_some_and(|seen| seen != now) {
                self.reload(fetch());
            }
            now
        });
    }
}

impl<T: Clone + Send + Sync + 'static> Held<T> {
    /// The value, tracked.
    pub fn get(self) -> T {
        self.value.get()
    }
}

impl<T: Send + Sync + 'static> Held<T> {
    /// Reads the value, tracked.
    pub fn with<R>(self, f: impl FnOnce(&T) -> R) -> R {
        self.value.with(f)
    }

    /// Reads the value, untracked.
    pub fn with_untracked<R>(self, f: impl FnOnce(&T) -> R) -> R {
        self.value.with_untracked(f)
    }
}

/// Runs `task` in the browser (nothing happens on the server).
pub fn run(task: impl Future<Output = ()> + 'static) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(task);
    #[cfg(not(feature = "hydrate"))]
    drop(task);
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
