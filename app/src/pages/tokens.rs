//! Personal API tokens: create one (shown once), see when each was last used, revoke.

use leptos::prelude::*;

use crate::api::{CreateApiToken, RevokeApiToken, list_api_tokens};
use crate::components::island::Held;
use crate::components::page::{PageHeader, loaded};
use crate::domain::ApiToken;

const INPUT: &str = "rounded-md border border-control bg-surface px-2 py-1.5 text-sm";

/// `/tokens`.
#[component]
pub fn TokensPage() -> impl IntoView {
    let tokens = Resource::new(|| (), |_| list_api_tokens());
    view! {
        <PageHeader title="API tokens" lead="Personal tokens for scripts and CI. They act as you on the REST API (/api/v1), within the access you give them." />
        {loaded(tokens, |tokens| view! { <Tokens tokens /> })}
    }
}

/// The form for a new token and the list, read again after each creation or revocation.
#[island(lazy)]
fn Tokens(tokens: Vec<ApiToken>) -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Held::new(tokens);
    tokens.reload_after([create.version(), revoke.version()], list_api_tokens);

    view! {
        <section class="mb-8 rounded-xl border border-line bg-surface p-4">
            <h2 class="mb-3 text-base font-medium">"New token"</h2>
            <ActionForm action=create>
                <div class="flex flex-wrap items-end gap-3">
                    <label class="flex flex-col gap-1 text-xs font-medium">"Name"
                        <input name="name" required maxlength="64" placeholder="e.g. ci-pipeline" class=INPUT />
                    </label>
                    <label class="flex flex-col gap-1 text-xs font-medium">"Access"
                        <select name="scopes" class=INPUT>
                            <option value="read">"Read only"</option>
                            <option value="read write">"Read and write"</option>
                        </select>
                    </label>
                    <label class="flex flex-col gap-1 text-xs font-medium">"Expires in"
                        <select name="expires_in_days" class=INPUT>
                            <option value="7">"7 days"</option>
                            <option value="30" selected>"30 days"</option>
                            <option value="90">"90 days"</option>
                            <option value="365">"365 days"</option>
                        </select>
                    </label>
                    <button type="submit" class="rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium">
                        "Create token"
                    </button>
                </div>
            </ActionForm>
            {move || create.value().get().map(|result| match result {
                Ok(created) => view! {
                    <div role="status" data-testid="new-token" class="mt-4 rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm dark:border-emerald-800 dark:bg-emerald-950">
                        <p class="font-medium">"Copy this token now. It will not be shown again."</p>
                        <code data-testid="new-token-secret" class="mt-2 block break-all rounded bg-surface p-2 font-mono text-xs">{created.token}</code>
                    </div>
                }.into_any(),
                Err(error) => view! {
                    <p role="alert" class="mt-4 text-sm text-red-700 dark:text-red-400">{error.to_string()}</p>
                }.into_any(),
            })}
        </section>
        {move || token_table(tokens.get(), revoke)}
    }
}

fn token_table(tokens: Vec<ApiToken>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="text-sm text-muted">"You have no API tokens."</p> }.into_any();
    }
    view! {
        <div class="overflow-x-auto rounded-xl border border-line bg-surface">
            <table data-testid="token-table" class="min-w-full text-left text-sm">
                <thead class="border-b border-line text-xs uppercase tracking-wide text-muted">
                    <tr>
                        <th scope="col" class="px-4 py-2">"Name"</th>
                        <th scope="col" class="px-4 py-2">"Token"</th>
                        <th scope="col" class="px-4 py-2">"Access"</th>
                        <th scope="col" class="px-4 py-2">"Expires"</th>
                        <th scope="col" class="px-4 py-2">"Last used"</th>
                        <th scope="col" class="px-4 py-2"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-line">
                    {tokens.into_iter().map(|t| {
                        let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                        let action = if t.active {
                            view! {
                                <ActionForm action=revoke>
                                    <input type="hidden" name="id" value=t.id.clone() />
                                    <button type="submit" class="text-sm text-red-700 hover:underline dark:text-red-400">"Revoke"</button>
                                </ActionForm>
                            }.into_any()
                        } else {
                            view! { <span class="text-xs text-muted">"inactive"</span> }.into_any()
                        };
                        view! {
                            <tr>
                                <td class="px-4 py-2">{t.name}</td>
                                <td class="px-4 py-2 font-mono text-xs">{format!("{}…", t.prefix)}</td>
                                <td class="px-4 py-2">{scopes}</td>
                                <td class="px-4 py-2 font-mono text-xs">{t.expires_at}</td>
                                <td class="px-4 py-2 font-mono text-xs">{t.last_used_at.unwrap_or_else(|| "never".into())}</td>
                                <td class="px-4 py-2 text-right">{action}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
