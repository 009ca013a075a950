//! Administration: facts about the running portal (administrators only).

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::get_system_info;
use crate::components::page::PageHeader;
use crate::domain::SystemInfo;

/// `/admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_system_info());
    view! {
        <PageHeader title="Admin" lead="The running portal: version, storage, GitOps repository and login mode." />
        <p class="mb-4 text-sm">
            <A href="/admin/audit" attr:class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Audit log →"</A>
        </p>
        <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move { info.await.map(system_table) })}
        </Suspense>
    }
}

fn system_table(info: SystemInfo) -> impl IntoView {
    let rows = [
        ("Version", info.version),
        ("Database backend", info.database_backend),
        ("Migrations applied", info.migrations_applied.to_string()),
        ("GitOps repository", info.gitops_repository),
        (
            "Development login",
            if info.dev_login {
                "on".into()
            } else {
                "off".into()
            },
        ),
    ];
    view! {
        <dl data-testid="system-info" class="divide-y divide-slate-200 rounded-xl border border-slate-200 bg-white dark:divide-slate-800 dark:border-slate-800 dark:bg-slate-900">
            {rows.into_iter().map(|(k, v)| view! {
                <div class="grid grid-cols-3 gap-4 px-4 py-3 text-sm">
                    <dt class="font-medium text-slate-600 dark:text-slate-400">{k}</dt>
                    <dd class="col-span-2 break-all font-mono">{v}</dd>
                </div>
            }).collect_view()}
        </dl>
    }
}
