//! Where keyboard focus goes when an island changes the page under it: to a new list item, to
//! the first refused field, to a preview, back to a filter's control on the page it loaded.
//! Without this a keyboard or screen-reader user is left on a button that no longer exists
//! (focus falls back to `<body>`).

/// Focuses the first element matching `selector` (in document order) that can take the
/// focus, once the browser has drawn the change that produced it: one folded in a closed
/// `<details>` is unfolded first, a disabled one is passed over. Does nothing when none can
/// (and on the server).
pub fn focus_after_render(selector: String) {
    focus_first_after_render(vec![selector]);
}

/// [`focus_after_render`] with fallbacks: the first of `selectors` (in that order) that
/// matches an element able to take the focus.
pub fn focus_first_after_render(selectors: Vec<String>) {
    #[cfg(feature = "hydrate")]
    leptos::prelude::request_animation_frame(move || {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        for selector in &selectors {
            if focus_first_match(&document, selector) {
                return;
            }
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = selectors;
}

#[cfg(feature = "hydrate")]
fn focus_first_match(document: &web_sys::Document, selector: &str) -> bool {
    use wasm_bindgen::JsCast as _;
    let Ok(found) = document.query_selector_all(selector) else {
        return false;
    };
    for i in 0..found.length() {
        let Some(element) = found
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            continue;
        };
        if element.has_attribute("disabled") {
            continue;
        }
        while let Ok(Some(closed)) = element.closest("details:not([open])") {
            let _ = closed.set_attribute("open", "");
        }
        let _ = element.focus();
        if document.active_element().is_some_and(|a| a == *element) {
            return true;
        }
    }
    false
}

/// The element whose `id` is `id`, as a selector: quoted as a CSS string, since ids made
/// from the schema's keys may hold characters a `#id` selector cannot.
pub fn with_id(id: &str) -> String {
    let id = id.replace('\\', "\\\\").replace('"', "\\\"");
    format!(r#"[id="{id}"]"#)
}

/// The first control (input, select or text area) inside the element with `data-path`.
/// The path comes from the schema's keys, so it is quoted as a CSS string.
pub fn first_control_of(path: &str) -> String {
    let path = path.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"[data-path="{path}"] input, [data-path="{path}"] select, [data-path="{path}"] textarea"#
    )
}

#[cfg(test)]
mod tests {
    use super::first_control_of;

    #[test]
    fn ids_are_quoted_as_css_strings() {
        assert_eq!(super::with_id("add-a.b c"), r#"[id="add-a.b c"]"#);
        assert_eq!(super::with_id(r#"x"y\z"#), r#"[id="x\"y\\z"]"#);
    }

    #[test]
    fn paths_are_quoted_as_css_strings() {
        assert!(first_control_of("/ports/1").starts_with(r#"[data-path="/ports/1"] input"#));
        assert!(first_control_of(r#"/a"b\c"#).starts_with(r#"[data-path="/a\"b\\c"] input"#));
    }
}
