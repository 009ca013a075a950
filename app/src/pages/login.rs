//! Sign-in page: single sign-on when configured, and the development login when (and only
//! when) the server runs with `--dev-login`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::get_login_options;
use crate::domain::{DevPersona, LoginOptions};

/// `/login`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| get_login_options());
    let query = use_query_map();
    let error = move || query.with(|q| q.get("error"));
    view! {
        <Title text="Sign in" />
        <div class="grid min-h-screen place-items-center px-4">
            <div class="w-full max-w-md rounded-2xl border border-slate-200 bg-white p-8 shadow-sm dark:border-slate-800 dark:bg-slate-900">
                <div class="flex items-center gap-2">
                    <img src="/favicon.svg" alt="" class="h-8 w-8" />
                    <h1 class="text-xl font-semibold tracking-tight">"Sign in to Slipway"</h1>
                </div>
                {move || error().map(|e| view! {
                    <p role="alert" class="mt-4 rounded-md bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">{e}</p>
                })}
                <Suspense fallback=|| view! { <p class="mt-6 text-sm text-slate-500">"Loading…"</p> }>
                    {move || Suspend::new(async move { options.await.map(login_choices) })}
                </Suspense>
            </div>
        </div>
    }
}

fn login_choices(options: LoginOptions) -> impl IntoView {
    let sso = options.sso_enabled.then(|| view! {
        <a href="/auth/oidc/login" class="mt-6 block rounded-md bg-indigo-600 px-4 py-2 text-center text-sm font-medium text-white hover:bg-indigo-500">
            "Sign in with single sign-on"
        </a>
    });
    let dev = (!options.dev_personas.is_empty()).then(|| dev_login_form(options.dev_personas));
    let nothing = (!options.sso_enabled && dev.is_none()).then(|| view! {
        <p class="mt-6 text-sm text-slate-600 dark:text-slate-400">
            "No sign-in method is configured. Ask your platform team to configure single sign-on."
        </p>
    });
    view! { {sso} {dev} {nothing} }
}

fn dev_login_form(personas: Vec<DevPersona>) -> impl IntoView {
    view! {
        <section data-testid="dev-login" class="mt-6 rounded-lg border-2 border-dashed border-amber-400 p-4">
            <h2 class="text-sm font-semibold text-amber-700 dark:text-amber-300">"Development login — not for production"</h2>
            <p class="mt-1 text-xs text-slate-600 dark:text-slate-400">"No password: pick who to be. The server only offers this with --dev-login on a loopback address."</p>
            <form method="post" action="/auth/dev-login" class="mt-3 flex flex-col gap-2">
                {personas.into_iter().map(|p| view! {
                    <button type="submit" name="handle" value=p.handle.clone()
                        class="flex items-center justify-between rounded-md border border-slate-200 px-3 py-2 text-left text-sm hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-800">
                        <span>{format!("Continue as {}", p.name)}</span>
                        <span class="text-xs text-slate-500">
                            {p.teams.join(", ")}{if p.is_admin { " · admin" } else { "" }}
                        </span>
                    </button>
                }).collect_view()}
            </form>
        </section>
    }
}
