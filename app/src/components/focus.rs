//! Where keyboard focus goes when the page changes under it: to a new list item, to the first
//! refused field, to a page reached by a link. Without this a keyboard or screen-reader user
//! is left on a button that no longer exists (focus falls back to `<body>`) or on a link of
//! the page they left.

/// Focuses the first element matching `selector` once the browser has drawn the change that
/// produced it; does nothing when nothing matches (and on the server).
pub fn focus_after_render(selector: String) {
    #[cfg(feature = "hydrate")]
    leptos::prelude::request_animation_frame(move || {
        use wasm_bindgen::JsCast as _;
        if let Some(element) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(&selector).ok().flatten())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = element.focus();
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
