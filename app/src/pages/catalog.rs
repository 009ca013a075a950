//! The catalog of offerings: search, filters (tag, source, environment) and server-side paging.
//! The filters live in the URL's query, so a filtered page can be linked and reloaded.

use crate::components::filter::FilterForm;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::list_offerings;
use crate::catalog::{CatalogFilter, CatalogPage as Page, OfferingSource, OfferingSummary};
use crate::components::page::{EmptyState, PageHeader};

const INPUT: &str = "rounded-md border border-control bg-surface px-2 py-1.5 text-sm";

/// `/catalog`.
#[component]
pub fn CatalogPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| CatalogFilter {
            q: q.get("q").unwrap_or_default(),
            tag: q.get("tag").unwrap_or_default(),
            source: q.get("source").unwrap_or_default(),
            environment: q.get("environment").unwrap_or_default(),
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        })
    });
    let page = Resource::new(move || filter.get(), list_offerings);

    view! {
        <PageHeader title="Catalog" lead="Databases, buckets, clusters and more: pick an offering, fill in the form, and Slipway commits the claim to Git." />
        <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                page.await.map(|page| view! {
                    <Problems problems=page.problems.clone() />
                    <Filters filter=filter.get_untracked() page=page.clone() />
                    <Results page filter=filter.get_untracked() />
                })
            })}
        </Transition>
    }
}

/// What the catalog could not load, for admins: offering files that failed, XRDs that
/// cannot become forms, clusters that do not serve or cannot be reached.
#[component]
fn Problems(problems: Vec<String>) -> impl IntoView {
    (!problems.is_empty()).then(|| {
        let count = problems.len();
        view! {
            <details class="mb-4 rounded-md border border-amber-300 bg-amber-50 px-4 py-2 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-200" data-test="catalog-problems">
                <summary class="cursor-pointer font-medium">
                    {format!("{count} catalog {} (shown to admins)", if count == 1 { "problem" } else { "problems" })}
                </summary>
                <ul class="mt-2 list-disc space-y-1 pl-5">
                    {problems.into_iter().map(|p| view! { <li class="break-words">{p}</li> }).collect_view()}
                </ul>
            </details>
        }
    })
}

#[component]
fn Filters(filter: CatalogFilter, page: Page) -> impl IntoView {
    let option = |value: String, label: String, selected: bool| {
        view! { <option value=value selected=selected>{label}</option> }
    };
    view! {
        <FilterForm>
            <div role="search" class="mb-6 flex flex-wrap items-end gap-3">
                <label class="flex grow flex-col gap-1 text-xs font-medium">"Search"
                    <input type="search" name="q" value=filter.q.clone() placeholder="postgres, bucket, kafka…" class=INPUT data-testid="catalog-search" />
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Tag"
                    <select name="tag" class=INPUT>
                        <option value="">"Any"</option>
                        {page.tags.iter().map(|t| option(t.clone(), t.clone(), *t == filter.tag)).collect_view()}
                    </select>
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Source"
                    <select name="source" class=INPUT>
                        <option value="">"Any"</option>
                        {[OfferingSource::Template, OfferingSource::Xrd, OfferingSource::Promise]
                            .into_iter()
                            .map(|s| option(s.as_str().into(), s.label().into(), filter.source == s.as_str()))
                            .collect_view()}
                    </select>
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Environment"
                    <select name="environment" class=INPUT>
                        <option value="">"Any"</option>
                        {page.environments.iter().map(|e| option(e.clone(), e.clone(), *e == filter.environment)).collect_view()}
                    </select>
                </label>
                <button type="submit" class="rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium">"Filter"</button>
            </div>
        </FilterForm>
    }
}

#[component]
fn Results(page: Page, filter: CatalogFilter) -> impl IntoView {
    if page.total == 0 {
        let filtered = filter != CatalogFilter::default()
            && filter
                != CatalogFilter {
                    page: 1,
                    ..Default::default()
                };
        return if filtered {
            view! {
                <EmptyState title="No offering matches">
                    <p>"Try fewer words or clear a filter."</p>
                </EmptyState>
            }
            .into_any()
        } else {
            view! {
                <EmptyState title="No offerings published yet">
                    <p>"Offerings come from offering files in the catalog folder of the GitOps repository and from Crossplane XRDs discovered in your clusters."</p>
                </EmptyState>
            }
            .into_any()
        };
    }
    let pages = page.pages();
    let link = move |n: u32| {
        let mut params = vec![];
        for (k, v) in [
            ("q", &filter.q),
            ("tag", &filter.tag),
            ("source", &filter.source),
            ("environment", &filter.environment),
        ] {
            if !v.is_empty() {
                params.push(format!("{k}={}", crate::pages::login::encode_component(v)));
            }
        }
        params.push(format!("page={n}"));
        format!("/catalog?{}", params.join("&"))
    };
    view! {
        <p class="mb-3 text-sm text-secondary" data-testid="catalog-count">
            {format!("{} offering{}", page.total, if page.total == 1 { "" } else { "s" })}
        </p>
        <ul class="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="catalog-list">
            {page.items.into_iter().map(card).collect_view()}
        </ul>
        <nav aria-label="Pages" class="mt-6 flex items-center justify-between text-sm">
            {(page.page > 1).then(|| view! { <A href=link(page.page - 1)>"← Previous"</A> })}
            <span class="text-muted">{format!("Page {} of {pages}", page.page)}</span>
            {(page.page < pages).then(|| view! { <A href=link(page.page + 1)>"Next →"</A> })}
        </nav>
    }
    .into_any()
}

fn card(offering: OfferingSummary) -> impl IntoView {
    let href = format!("/catalog/{}", offering.id);
    view! {
        <li class="rounded-xl border border-line bg-surface p-4 shadow-sm hover:border-slate-400">
            <A href=href attr:class="block" attr:data-testid="offering-card">
                <div class="flex items-start justify-between gap-2">
                    <h2 class="font-medium">{offering.title.clone()}</h2>
                    <span class="shrink-0 rounded bg-subtle px-1.5 py-0.5 text-xs text-slate-600 dark:text-slate-300">{offering.source.label()}</span>
                </div>
                <p class="mt-1 line-clamp-3 text-sm text-secondary">{offering.description.clone()}</p>
                <p class="mt-3 font-mono text-xs text-muted">{format!("{} · {}", offering.kind, offering.version)}</p>
                <ul class="mt-2 flex flex-wrap gap-1">
                    {offering.tags.iter().map(|t| view! { <li class="rounded-full bg-indigo-50 px-2 py-0.5 text-xs text-indigo-700 dark:bg-indigo-950 dark:text-indigo-300">{t.clone()}</li> }).collect_view()}
                </ul>
            </A>
        </li>
    }
}
