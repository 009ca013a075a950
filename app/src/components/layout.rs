//! The frame around every signed-in page: development banner, top bar with navigation,
//! theme toggle and user menu, the page itself inside an error boundary, and a footer.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{get_session_info, list_clusters};
use crate::components::announce::AnnouncerRegion;
use crate::components::live::{ClusterBanner, unreachable};
use crate::components::theme::ThemeToggle;
use crate::domain::{CurrentUser, SessionInfo};

/// The main navigation: (path, label, admins only).
const NAV: [(&str, &str, bool); 6] = [
    ("/catalog", "Catalog", false),
    ("/requests", "Requests", false),
    ("/approvals", "Approvals", false),
    ("/status", "Status", false),
    ("/metrics", "Metrics", false),
    ("/admin", "Admin", true),
];

const NAV_LINK: &str = "rounded-md px-3 py-2 text-sm font-medium text-secondary hover:bg-subtle \
    hover:text-slate-900 dark:hover:text-white \
    aria-[current=page]:bg-action aria-[current=page]:text-on-action";

/// Wraps a page with the portal's chrome. Rendered on the server only: its islands are the
/// navigation button for narrow screens, the theme toggle, the user menu and the banner of
/// unreachable clusters with the live-updates indicator.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let session = Resource::new(|| (), |_| get_session_info());
    let clusters = Resource::new(|| (), |_| list_clusters());

    let session_view = move |render: fn(SessionInfo) -> AnyView| {
        move || {
            Suspend::new(async move { session.await.map(render).unwrap_or_else(|_| ().into_any()) })
        }
    };

    // Built apart and type-erased: one type for the whole frame nests too deep for rustc.
    let header = view! {
            <header class="sticky top-0 z-20 border-b border-line bg-surface/90 backdrop-blur">
            <div class="mx-auto flex h-14 max-w-7xl items-center gap-4 px-4 sm:px-6">
                <MobileNavButton />
                <a href="/catalog" class="flex items-center gap-2 font-semibold tracking-tight">
                    <img src="/favicon.svg" alt="" class="h-6 w-6" />
                    <span>"Slipway"</span>
                </a>
                <nav aria-label="Main" class="hidden items-center gap-1 md:flex">
                    <Suspense fallback=|| ()>{session_view(nav_links)}</Suspense>
                </nav>
                <div class="ml-auto flex items-center gap-2">
                    <ThemeToggle />
                    <Suspense fallback=|| ()>{session_view(user_menu)}</Suspense>
                </div>
            </div>
            // Shown by the button above on narrow screens.
            <nav id="mobile-nav" hidden aria-label="Main (mobile)" class="flex flex-col gap-1 border-t border-line px-4 py-2 md:hidden">
                <Suspense fallback=|| ()>{session_view(nav_links)}</Suspense>
            </nav>
        </header>
    }
    .into_any();

    view! {
        <div class="flex min-h-screen flex-col">
            <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:p-2">"Skip to content"</a>
            // Notices about the whole portal, in a landmark of their own: the development
            // login's warning, unreachable clusters, whether live updates are on.
            <section aria-label="Notices">
                <Suspense fallback=|| ()>{session_view(dev_banner)}</Suspense>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        view! { <ClusterBanner clusters=unreachable(clusters.await.unwrap_or_default()) /> }
                    })}
                </Suspense>
                <AnnouncerRegion />
            </section>
            {header}
            <main id="main" tabindex="-1" class="mx-auto w-full max-w-7xl flex-1 px-4 py-8 outline-none sm:px-6">
                <ErrorBoundary fallback=error_panel>{children()}</ErrorBoundary>
            </main>
            <footer class="border-t border-line py-4 text-center text-xs text-muted">
                "Slipway — self-service for the platform, GitOps underneath."
            </footer>
        </div>
    }
}

/// The button that shows the navigation (`#mobile-nav`, rendered by the server) on narrow
/// screens.
#[island]
fn MobileNavButton() -> impl IntoView {
    let (open, set_open) = signal(false);
    let toggle = move |_| {
        let next = !open.get_untracked();
        set_open.set(next);
        #[cfg(feature = "hydrate")]
        if let Some(nav) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("mobile-nav"))
        {
            let _ = if next {
                nav.remove_attribute("hidden")
            } else {
                nav.set_attribute("hidden", "")
            };
        }
    };
    view! {
        <button
            type="button"
            class="rounded-md p-2 text-secondary hover:bg-subtle md:hidden"
            aria-controls="mobile-nav"
            aria-expanded=move || open.get().to_string()
            on:click=toggle
        >
            <span class="sr-only">"Open navigation"</span>
            <svg class="h-5 w-5" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" aria-hidden="true">
                <path d="M4 6h16M4 12h16M4 18h16" />
            </svg>
        </button>
    }
}

fn dev_banner(info: SessionInfo) -> AnyView {
    if !info.dev_login {
        return ().into_any();
    }
    view! {
        <div role="status" data-testid="dev-banner" class="bg-amber-400 px-4 py-1.5 text-center text-sm font-semibold text-amber-950">
            "Development login is ON — anyone can sign in as anyone. Never run this mode in production."
        </div>
    }
    .into_any()
}

fn nav_links(info: SessionInfo) -> AnyView {
    let is_admin = info.user.as_ref().is_some_and(|u| u.is_admin);
    NAV.iter()
        .filter(|(_, _, admin_only)| is_admin || !admin_only)
        .map(|(href, label, _)| view! { <A href=*href attr:class=NAV_LINK>{*label}</A> })
        .collect_view()
        .into_any()
}

fn user_menu(info: SessionInfo) -> AnyView {
    match info.user {
        Some(user) => view! { <UserMenu user /> }.into_any(),
        None => view! {
            <a href="/login" class="rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium">
                "Sign in"
            </a>
        }
        .into_any(),
    }
}

/// Avatar button that opens a menu with the user's teams and "Sign out".
#[island]
fn UserMenu(user: CurrentUser) -> impl IntoView {
    let (open, set_open) = signal(false);
    let initials = user.initials();
    let name = user.name.clone();
    let user = StoredValue::new(user);
    view! {
        <div class="relative">
            <button
                type="button"
                data-testid="user-menu-button"
                aria-haspopup="menu"
                aria-expanded=move || open.get().to_string()
                class="flex items-center gap-2 rounded-full py-1 pl-1 pr-3 text-sm hover:bg-subtle"
                on:click=move |_| set_open.update(|o| *o = !*o)
            >
                <span class="grid h-7 w-7 place-items-center rounded-full bg-indigo-600 text-xs font-semibold text-white">{initials}</span>
                <span class="hidden sm:inline">{name}</span>
            </button>
            <Show when=move || open.get()>
                <div
                    role="menu"
                    aria-label="User menu"
                    class="absolute right-0 mt-2 w-64 rounded-lg border border-line bg-surface p-2 shadow-lg"
                >
                    {move || user.with_value(|u| view! {
                        <div class="px-2 py-1.5">
                            <p class="text-sm font-medium">{u.name.clone()}</p>
                            <p class="truncate text-xs text-muted">{u.email.clone()}</p>
                        </div>
                        <div class="px-2 py-1.5 text-xs text-secondary">
                            <p class="font-medium uppercase tracking-wide">"Teams"</p>
                            <ul data-testid="user-teams" class="mt-1 flex flex-wrap gap-1">
                                {u.teams.iter().map(|t| view! {
                                    <li class="rounded bg-subtle px-1.5 py-0.5">{t.clone()}</li>
                                }).collect_view()}
                            </ul>
                            {u.is_admin.then(|| view! { <p class="mt-1 text-indigo-600 dark:text-indigo-400">"Platform administrator"</p> })}
                        </div>
                    })}
                    <a href="/tokens" role="menuitem" class="block rounded-md px-2 py-1.5 text-sm hover:bg-subtle">
                        "API tokens"
                    </a>
                    <form method="post" action="/auth/logout" class="border-t border-line pt-1">
                        <button type="submit" role="menuitem" class="w-full rounded-md px-2 py-1.5 text-left text-sm hover:bg-subtle">
                            "Sign out"
                        </button>
                    </form>
                </div>
            </Show>
        </div>
    }
}

/// What the error boundary shows instead of a page that failed.
fn error_panel(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <div role="alert" data-testid="error-panel" class="rounded-xl border border-red-300 bg-red-50 p-6 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
            <h2 class="font-semibold">"This page could not be shown"</h2>
            <ul class="mt-2 list-disc pl-5 text-sm">
                {move || errors.get().into_iter().map(|(_, e)| view! { <li>{e.to_string()}</li> }).collect_view()}
            </ul>
        </div>
    }
}
