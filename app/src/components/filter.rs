//! A filter's form. It is a plain GET form, so a filtered list has an address of its own that
//! can be linked and reloaded, and submitting it loads that address as a new page. Keyboard
//! and screen-reader users keep their place as if the list had changed in place: the control
//! they submitted from takes the focus again on the new page, and "Results updated" is said.

use leptos::prelude::*;

/// Where the form keeps, for the page it loads, which of its controls had the focus.
#[cfg(feature = "hydrate")]
const KEPT: &str = "slipway-filter-focus";

/// A GET form around the filter's controls (`children`, rendered by the server).
#[island]
pub fn FilterForm(children: Children) -> impl IntoView {
    Effect::new(|_| browser::restore());
    view! {
        <form method="get" data-filter="" on:submit=|_| browser::remember()>
            {children()}
        </form>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::KEPT;
    use crate::components::announce::use_announcer;
    use crate::components::focus::focus_after_render;

    fn storage() -> Option<(web_sys::Storage, String)> {
        let window = web_sys::window()?;
        let path = window.location().pathname().ok()?;
        Some((window.session_storage().ok()??, path))
    }

    /// Notes the focused control of the form (by its name, or the submit button) with the
    /// page's path.
    pub fn remember() {
        let Some((storage, path)) = storage() else {
            return;
        };
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let control = match active {
            Some(a) if a.tag_name().eq_ignore_ascii_case("button") => {
                r#"button[type="submit"]"#.to_owned()
            }
            Some(a) => match a.get_attribute("name") {
                Some(name) => format!(
                    r#"[name="{}"]"#,
                    name.replace('\\', "\\\\").replace('"', "\\\"")
                ),
                None => return,
            },
            None => return,
        };
        let _ = storage.set_item(KEPT, &format!("{path}\n{control}"));
    }

    /// On the page the form loaded: the noted control takes the focus and the change is said.
    pub fn restore() {
        let Some((storage, path)) = storage() else {
            return;
        };
        let Ok(Some(kept)) = storage.get_item(KEPT) else {
            return;
        };
        let _ = storage.remove_item(KEPT);
        if let Some((kept_path, control)) = kept.split_once('\n')
            && kept_path == path
        {
            focus_after_render(format!("form[data-filter] {control}"));
            use_announcer().say("Results updated");
        }
    }
}

#[cfg(not(feature = "hydrate"))]
mod browser {
    pub fn remember() {}
    pub fn restore() {}
}
