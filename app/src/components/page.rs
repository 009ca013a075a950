//! Page furniture: a heading with a lead paragraph, and the empty state every list shows
//! before it has anything in it.

use leptos::prelude::*;
use leptos_meta::Title;

/// A page's title (also the document title) and a one-line description.
#[component]
pub fn PageHeader(
    /// The page's title.
    title: &'static str,
    /// What the page is for, in one sentence.
    lead: &'static str,
) -> impl IntoView {
    view! {
        <Title text=title />
        <header class="mb-6">
            <h1 class="text-2xl font-semibold tracking-tight">{title}</h1>
            <p class="mt-1 text-sm text-secondary">{lead}</p>
        </header>
    }
}

/// What a list shows while it is empty: what will appear here, and how to get there.
#[component]
pub fn EmptyState(
    /// Short statement of what is missing.
    title: &'static str,
    /// What will appear here and how it gets here.
    children: Children,
) -> impl IntoView {
    view! {
        <section
            data-testid="empty-state"
            class="rounded-xl border border-dashed border-line bg-surface p-10 text-center"
        >
            <h2 class="text-base font-medium">{title}</h2>
            <div class="mx-auto mt-2 max-w-prose text-sm text-secondary">
                {children()}
            </div>
        </section>
    }
}
