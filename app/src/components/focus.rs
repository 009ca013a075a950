//! Where keyboard focus goes when the page changes under it: to a new list item, to the first
//! refused field, to a page reached by a link. Without this a keyboard or screen-reader user
//! is left on a button that no longer exists (focus falls back to `<body>`) or on a link of
//! the page they left.

/// Focuses the first element matching `selector` (in document order) that can take the
/// focus, once the browser has drawn the change that produced it: one folded in a closed
/// `<details>` is unfolded first, a disabled one is passed over. Does nothing when none can
/// (and on the server).
pub fn focus_after_render(selector: String) {
    #[cfg(feature = "hydrate")]
    leptos::prelude::request_animation_frame(move || {
        use wasm_bindgen::JsCast as _;
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Ok(found) = document.query_selector_all(&selector) else {
            return;
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
                return;
            }
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = selector;
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
    fn paths_are_quoted_as_css_strings() {
        assert!(first_control_of("/ports/1").starts_with(r#"[data-path="/ports/1"] input"#));
        assert!(first_control_of(r#"/a"b\c"#).starts_with(r#"[data-path="/a\"b\\c"] input"#));
    }
}
