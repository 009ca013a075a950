//! One polite live region for the whole page: what changes without the focus moving (a
//! request's stage, a claim's health, a list refreshed by a filter) is said to screen-reader
//! users once, without interrupting them. The layout holds the region; pages say things
//! through [`use_announcer`].

use leptos::prelude::*;

/// Says things in the page's live region.
#[derive(Clone, Copy)]
pub struct Announcer(RwSignal<String>);

impl Announcer {
    /// A new announcer, provided to everything rendered after this in the same owner (the
    /// layout calls it before its page).
    pub fn provide() -> Self {
        let announcer = Announcer(RwSignal::new(String::new()));
        provide_context(announcer);
        announcer
    }

    /// Says `text` politely. The same words again are said again (a region announces changes
    /// only, so a repeat alternates a trailing no-break space).
    pub fn say(&self, text: impl Into<String>) {
        let text = text.into();
        self.0.update(|said| {
            *said = if said.trim_end_matches('\u{a0}') == text && !said.ends_with('\u{a0}') {
                format!("{text}\u{a0}")
            } else {
                text
            };
        });
    }
}

/// The announcer the layout provides (one that says nothing outside it, e.g. on sign-in).
pub fn use_announcer() -> Announcer {
    use_context::<Announcer>().unwrap_or_else(|| Announcer(RwSignal::new(String::new())))
}

/// The live region of `announcer`; placed once, by the layout.
#[component]
pub fn AnnouncerRegion(announcer: Announcer) -> impl IntoView {
    view! {
        <p class="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer">{move || announcer.0.get()}</p>
    }
}
