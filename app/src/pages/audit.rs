//! The audit log for administrators: filters, pages of entries, CSV export of the filtered set.

use crate::components::filter::FilterForm;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::get_audit_page;
use crate::components::page::PageHeader;
use crate::domain::{AuditFilter, AuditPage};

const INPUT: &str = "rounded-md border border-control bg-surface px-2 py-1.5 text-sm";

/// `/admin/audit`.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| AuditFilter {
            actor: q.get("actor"),
            action: q.get("action"),
            outcome: q.get("outcome"),
            before: q.get("before"),
        })
    };
    let page = Resource::new(filter, get_audit_page);
    // The export takes the same filters, but all pages.
    let csv_href = move || with_query("/admin/audit.csv", filter_params(&filter()));
    let current = move |name: &'static str| query.with(|q| q.get(name)).unwrap_or_default();

    view! {
        <PageHeader title="Audit log" lead="Every sign-in, sign-out, submission and admin action: who, when, what, and how it ended." />
        <FilterForm>
            <div class="mb-4 flex flex-wrap items-end gap-3" role="search" aria-label="Filter the audit log">
                <label class="flex flex-col gap-1 text-xs font-medium">"Actor"
                    <input name="actor" class=INPUT placeholder="name contains…" value=current("actor") />
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Action"
                    <select name="action" class=INPUT>
                        <option value="" selected=current("action").is_empty()>"any"</option>
                        <option value="login" selected=current("action") == "login">"login"</option>
                        <option value="logout" selected=current("action") == "logout">"logout"</option>
                        <option value="request.create" selected=current("action") == "request.create">"request.create"</option>
                        <option value="token.create" selected=current("action") == "token.create">"token.create"</option>
                        <option value="token.revoke" selected=current("action") == "token.revoke">"token.revoke"</option>
                        <option value="user.deactivate" selected=current("action") == "user.deactivate">"user.deactivate"</option>
                        <option value="user.reactivate" selected=current("action") == "user.reactivate">"user.reactivate"</option>
                        <option value="audit.export" selected=current("action") == "audit.export">"audit.export"</option>
                    </select>
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Outcome"
                    <select name="outcome" class=INPUT>
                        <option value="" selected=current("outcome").is_empty()>"any"</option>
                        <option value="ok" selected=current("outcome") == "ok">"ok"</option>
                        <option value="denied" selected=current("outcome") == "denied">"denied"</option>
                        <option value="error" selected=current("outcome") == "error">"error"</option>
                    </select>
                </label>
                <button type="submit" class="rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium">"Filter"</button>
                <a href=csv_href rel="external" download="slipway-audit.csv" class="ml-auto rounded-md border border-control px-3 py-1.5 text-sm">"Download CSV"</a>
            </div>
        </FilterForm>
        <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
            {move || Suspend::new(async move { page.await.map(|p| audit_table(p, filter())) })}
        </Transition>
    }
}

fn audit_table(page: AuditPage, filter: AuditFilter) -> impl IntoView {
    let older = page.next_before.map(|before| {
        let mut params = filter_params(&filter);
        params.push(format!("before={}", encode(&before)));
        view! { <A href=with_query("/admin/audit", params)>"Older entries →"</A> }
    });
    let empty = page.entries.is_empty();
    view! {
        <div class="overflow-x-auto rounded-xl border border-line bg-surface">
            <table data-testid="audit-table" class="min-w-full text-left text-sm">
                <caption class="sr-only">"Audit entries, newest first"</caption>
                <thead class="border-b border-line text-xs uppercase tracking-wide text-muted">
                    <tr>
                        <th scope="col" class="px-4 py-2">"Time (UTC)"</th>
                        <th scope="col" class="px-4 py-2">"Actor"</th>
                        <th scope="col" class="px-4 py-2">"Action"</th>
                        <th scope="col" class="px-4 py-2">"Target"</th>
                        <th scope="col" class="px-4 py-2">"Outcome"</th>
                        <th scope="col" class="px-4 py-2">"Detail"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-line">
                    {page.entries.into_iter().map(|e| {
                        let outcome_class = match e.outcome.as_str() {
                            "ok" => "text-emerald-700 dark:text-emerald-400",
                            "denied" => "text-amber-700 dark:text-amber-400",
                            _ => "text-red-700 dark:text-red-400",
                        };
                        view! {
                            <tr>
                                <td class="whitespace-nowrap px-4 py-2 font-mono text-xs">{e.at}</td>
                                <td class="px-4 py-2">{e.actor}</td>
                                <td class="px-4 py-2 font-mono text-xs">{e.action}</td>
                                <td class="px-4 py-2">{e.target.unwrap_or_default()}</td>
                                <td class=format!("px-4 py-2 font-medium {outcome_class}")>{e.outcome}</td>
                                <td class="px-4 py-2 text-secondary">{e.detail.unwrap_or_default()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {empty.then(|| view! { <p class="p-6 text-center text-sm text-muted">"No entries match these filters."</p> })}
        </div>
        <div class="mt-3 text-sm">{older}</div>
    }
}

/// The filter as query parameters (without the page cursor).
fn filter_params(filter: &AuditFilter) -> Vec<String> {
    [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("outcome", &filter.outcome),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{k}={}", encode(v)))
    })
    .collect()
}

fn with_query(path: &str, params: Vec<String>) -> String {
    if params.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", params.join("&"))
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    crate::pages::login::encode_component(value)
}
