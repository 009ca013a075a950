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
    let error = move || {
        query.with(|q| {
            q.get("error")
                .map(|code| crate::domain::login_message(&code))
        })
    };
    // Where the login guard came from; both sign-in methods bring the user back there.
    let next = query.with_untracked(|q| q.get("next"));
    view! {
        <Title text="Sign in" />
        <main class="grid min-h-screen place-items-center px-4">
            <div class="w-full max-w-md rounded-2xl border border-line bg-surface p-8 shadow-sm">
                <div class="flex items-center gap-2">
                    <img src="/favicon.svg" alt="" class="h-8 w-8" />
                    <h1 class="text-xl font-semibold tracking-tight">"Sign in to Slipway"</h1>
                </div>
                {move || error().map(|e| view! {
                    <p role="alert" class="mt-4 rounded-md bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">{e}</p>
                })}
                <Suspense fallback=|| view! { <p class="mt-6 text-sm text-muted">"Loading…"</p> }>
                    {move || {
                        let next = next.clone();
                        Suspend::new(async move { options.await.map(|o| login_choices(o, next)) })
                    }}
                </Suspense>
            </div>
        </main>
    }
}

fn login_choices(options: LoginOptions, next: Option<String>) -> impl IntoView {
    let sso_href = match &next {
        Some(next) => format!("/auth/oidc/login?next={}", encode_component(next)),
        None => "/auth/oidc/login".to_owned(),
    };
    let sso = options.sso_enabled.then(|| view! {
        <a href=sso_href rel="external" class="mt-6 block rounded-md bg-indigo-600 px-4 py-2 text-center text-sm font-medium text-white hover:bg-indigo-500">
            "Sign in with single sign-on"
        </a>
    });
    let dev =
        (!options.dev_personas.is_empty()).then(|| dev_login_form(options.dev_personas, next));
    let nothing = (!options.sso_enabled && dev.is_none()).then(|| view! {
        <p class="mt-6 text-sm text-secondary">
            "No sign-in method is configured. Ask your platform team to configure single sign-on."
        </p>
    });
    view! { {sso} {dev} {nothing} }
}

fn dev_login_form(personas: Vec<DevPersona>, next: Option<String>) -> impl IntoView {
    view! {
        <section data-testid="dev-login" class="mt-6 rounded-lg border-2 border-dashed border-amber-400 p-4">
            <h2 class="text-sm font-semibold text-amber-700 dark:text-amber-300">"Development login — not for production"</h2>
            <p class="mt-1 text-xs text-secondary">"No password: pick who to be. The server only offers this with --dev-login on a loopback address."</p>
            <form method="post" action="/auth/dev-login" class="mt-3 flex flex-col gap-2">
                {next.map(|next| view! { <input type="hidden" name="next" value=next /> })}
                {personas.into_iter().map(|p| view! {
                    <button type="submit" name="handle" value=p.handle.clone()
                        class="flex items-center justify-between rounded-md border border-line px-3 py-2 text-left text-sm hover:bg-subtle">
                        <span>{format!("Continue as {}", p.name)}</span>
                        <span class="text-xs text-muted">
                            {p.teams.join(", ")}{if p.is_admin { " · admin" } else { "" }}
                        </span>
                    </button>
                }).collect_view()}
            </form>
        </section>
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode_component;

    #[test]
    fn next_paths_are_percent_encoded_for_the_query() {
        assert_eq!(
            encode_component("/requests?team=a b"),
            "%2Frequests%3Fteam%3Da%20b"
        );
    }
}
