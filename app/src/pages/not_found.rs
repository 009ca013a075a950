//! The page for any path the router does not know; answered with HTTP 404.

use leptos::prelude::*;
use leptos_meta::Title;

/// Fallback route.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="mx-auto max-w-md py-16 text-center">
            <p class="text-sm font-semibold text-indigo-600 dark:text-indigo-400">"404"</p>
            <h1 class="mt-2 text-2xl font-semibold tracking-tight">"This page does not exist"</h1>
            <p class="mt-2 text-sm text-secondary">"The link may be old, or the page may have moved."</p>
            <a href="/catalog" class="mt-6 inline-block rounded-md bg-action text-on-action px-4 py-2 text-sm font-medium">
                "Back to the catalog"
            </a>
        </section>
    }
}
