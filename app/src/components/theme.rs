//! Light/dark theme toggle. The choice is stored in `localStorage` and applied as the `dark`
//! class on `<html>` (Tailwind's class-based dark variant); the inline boot script in the
//! shell applies it before first paint.

use leptos::prelude::*;

/// A button that switches between light and dark mode. Works only once hydrated.
#[island]
pub fn ThemeToggle() -> impl IntoView {
    // Both server and browser render `false` first so hydration matches; the real state is
    // read once mounted.
    let (dark, set_dark) = signal(false);
    Effect::new(move |_| set_dark.set(browser::is_dark()));
    let toggle = move |_| {
        let next = !dark.get_untracked();
        browser::apply(next);
        set_dark.set(next);
    };
    view! {
        <button
            type="button"
            data-testid="theme-toggle"
            aria-pressed=move || dark.get().to_string()
            title=move || if dark.get() { "Switch to light mode" } else { "Switch to dark mode" }
            class="rounded-md p-2 text-secondary hover:bg-subtle hover:text-slate-900 dark:hover:text-white"
            on:click=toggle
        >
            <span class="sr-only">"Toggle dark mode"</span>
            <svg class="h-5 w-5" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" aria-hidden="true">
                <path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z" />
            </svg>
        </button>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    const KEY: &str = "slipway-theme";

    fn root() -> Option<web_sys::Element> {
        web_sys::window()?.document()?.document_element()
    }

    pub fn is_dark() -> bool {
        root().is_some_and(|r| r.class_list().contains("dark"))
    }

    pub fn apply(dark: bool) {
        if let Some(root) = root() {
            // Failures here only mean the class or the preference is not changed.
            let _ = root.class_list().toggle_with_force("dark", dark);
        }
        if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.local_storage()) {
            let _ = storage.set_item(KEY, if dark { "dark" } else { "light" });
        }
    }
}

#[cfg(not(feature = "hydrate"))]
mod browser {
    // On the server there is no document: the toggle renders, it never runs.
    pub fn is_dark() -> bool {
        false
    }
    pub fn apply(_dark: bool) {}
}
