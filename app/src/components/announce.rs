//! One polite live region for the whole page: what changes without the focus moving (a
//! request's stage, a claim's health, a list refreshed by a filter) is said to screen-reader
//! users once, without interrupting them. The layout renders the region; islands say things
//! through [`use_announcer`], which writes into it (islands share no reactive context with
//! the page, so the region is found in the document).

use leptos::prelude::*;

/// The region's `data-testid`, by which islands find it.
const REGION: &str = r#"[data-testid="announcer"]"#;

/// Says things in the page's live region.
#[derive(Clone, Copy, Debug, Default)]
pub struct Announcer;

impl Announcer {
    /// Says `text` politely. The same words again are said again (a region announces changes
    /// only, so a repeat alternates a trailing no-break space). Nothing happens on the server.
    pub fn say(&self, text: impl Into<String>) {
        let text = text.into();
        #[cfg(feature = "hydrate")]
        if let Some(region) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(REGION).ok().flatten())
        {
            let said = region.text_content().unwrap_or_default();
            region.set_text_content(Some(&next_words(&said, text)));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (text, REGION);
    }
}

/// What the region should hold to say `text` after it held `said`.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn next_words(said: &str, text: String) -> String {
    if said.trim_end_matches('\u{a0}') == text && !said.ends_with('\u{a0}') {
        format!("{text}\u{a0}")
    } else {
        text
    }
}

/// The page's announcer.
pub fn use_announcer() -> Announcer {
    Announcer
}

/// The live region; placed once, by the layout.
#[component]
pub fn AnnouncerRegion() -> impl IntoView {
    view! {
        <p class="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer"></p>
    }
}

#[cfg(test)]
mod tests {
    use super::next_words;

    #[test]
    fn the_same_words_twice_differ_so_the_region_says_them_again() {
        assert_eq!(next_words("", "Ready".into()), "Ready");
        assert_eq!(next_words("Ready", "Ready".into()), "Ready\u{a0}");
        assert_eq!(next_words("Ready\u{a0}", "Ready".into()), "Ready");
        assert_eq!(next_words("Ready", "Failed".into()), "Failed");
    }
}
