//! Page furniture: a heading with a lead paragraph, the empty state every list shows before
//! it has anything in it, and what a page read on the server until it is read.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::AppError;

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

/// What a page read on the server, shown by `show` once read ("Loading…" until then; an error
/// goes to the layout's error boundary). Pages hand it their island with the data as props.
pub fn loaded<T, V>(
    read: Resource<Result<T, AppError>>,
    show: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: IntoView + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
            {move || {
                let show = show.clone();
                Suspend::new(async move { read.await.map(show) })
            }}
        </Suspense>
    }
}
