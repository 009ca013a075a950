//! Slipway's user interface, compiled twice: into the server (feature `ssr`) to render pages
//! and run server functions, and into WebAssembly (feature `hydrate`) to make those pages live.
//!
//! ```text
//!   browser ──GET /catalog──▶ server: shell() + App rendered to HTML (ssr)
//!      │                                   │
//!      │◀── HTML + /pkg/slipway.<hash>.js ─┘
//!      └─ hydrate(): the same App attaches to that HTML; server fns are then plain POSTs
//! ```
//!
//! Invariants: this crate never depends on sqlx, kube, git or OIDC crates. Server functions in
//! [`api`] are thin: they read the ports and the current user from context, call one port
//! method and map its error. The server crate implements the traits in [`ports`].

#![recursion_limit = "256"]

pub mod api;
pub mod catalog;
pub mod components;
pub mod domain;
pub mod error;
pub mod formats;
pub mod metrics;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ports;
pub mod requests;
pub mod routes;
pub mod status;
pub mod structure;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy, SsrMode, StaticSegment,
    components::{Outlet, ParentRoute, Route, Router, Routes},
    path,
};

use crate::components::layout::Layout;
use crate::pages::{login::LoginPage, not_found::NotFound};
use crate::routes::{
    AdminRoute, ApprovalsRoute, AuditRoute, CatalogRoute, ClustersRoute, GitJobsRoute,
    MetricsRoute, OfferingMetricsRoute, OfferingRoute, RequestRoute, RequestsRoute, StatusRoute,
    TeamMetricsRoute, TokensRoute, UsersRoute,
};

/// Sets the colour scheme before first paint, so a dark-mode user never sees a white flash.
/// Reads the choice saved by the theme toggle, else the operating system's preference.
const THEME_BOOT_SCRIPT: &str = r#"(function(){try{var t=localStorage.getItem('slipway-theme');var d=t?t==='dark':window.matchMedia('(prefers-color-scheme: dark)').matches;if(d)document.documentElement.classList.add('dark');}catch(e){}})();"#;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <script nonce=use_nonce() inner_html=THEME_BOOT_SCRIPT></script>
                <HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
                <App />
            </body>
        </html>
    }
}

/// The application: routes inside the shared layout (navigation, user menu, error boundary).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    components::live::provide_live_feed();
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "Slipway".to_owned() } else { format!("{page} · Slipway") }
        } />
        <Router>
            <Routes fallback=|| view! { <Layout><NotFound /></Layout> }>
                <Route path=StaticSegment("login") view=LoginPage />
                // Every other page inside the shared layout (navigation, user menu, banners).
                <ParentRoute path=StaticSegment("") view=|| view! { <Layout><Outlet /></Layout> }>
                    <Route path=StaticSegment("catalog") view={Lazy::<CatalogRoute>::new()} />
                    <Route path=path!("catalog/:id") view={Lazy::<OfferingRoute>::new()} />
                    <Route path=StaticSegment("requests") view={Lazy::<RequestsRoute>::new()} />
                    // Async: an unknown (or another team's) request is a real 404, not a 200
                    // page whose status came too late to send.
                    <Route path=path!("requests/:id") view={Lazy::<RequestRoute>::new()} ssr=SsrMode::Async />
                    <Route path=StaticSegment("status") view={Lazy::<StatusRoute>::new()} />
                    <Route path=path!("status/clusters") view={Lazy::<ClustersRoute>::new()} />
                    // Async: another team's figures are a real 404, known before the first byte.
                    <Route path=StaticSegment("metrics") view={Lazy::<MetricsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("metrics/offerings/:id") view={Lazy::<OfferingMetricsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("metrics/teams/:team") view={Lazy::<TeamMetricsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=StaticSegment("tokens") view={Lazy::<TokensRoute>::new()} />
                    <Route path=StaticSegment("approvals") view={Lazy::<ApprovalsRoute>::new()} />
                    // Async: the page's status (403 for non-admins) is known before the first byte.
                    <Route path=StaticSegment("admin") view={Lazy::<AdminRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/git") view={Lazy::<GitJobsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/users") view={Lazy::<UsersRoute>::new()} ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Browser entry point: attaches the app to the server-rendered HTML.
///
/// Hydration is asynchronous because the page's view may live in a chunk still loading
/// ([`routes`]): the router waits for the chunks of every route on the path before it builds
/// any of their views, the layout's included, so no effect of the layout or the page runs
/// while they load. Once every node is attached, `data-hydrated` on `<body>` tells tests (and
/// anyone debugging) that the WebAssembly front end has taken over the page; an effect in
/// `App` would have said so before the page was attached.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    std::panic::set_hook(Box::new(|panic| {
        console_error_panic_hook::hook(panic);
        if panic.to_string().contains(SPLIT_LOAD_FAILED) {
            reload_for_new_release();
        }
    }));
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        else {
            return;
        };
        hydrate_from_async(body.clone(), App).await.forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}

/// What a page's chunk that cannot be fetched panics with (wasm_split_helpers' loader).
#[cfg(feature = "hydrate")]
const SPLIT_LOAD_FAILED: &str = "load callback should succeed";

#[cfg(feature = "hydrate")]
thread_local! {
    /// Where the router is taking the tab (path, query and fragment): the page a navigation
    /// that fails for a missing chunk was going to.
    static DESTINATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Notes where the router is going; the layout calls it whenever the location changes, which
/// the router does before it loads the new page's chunks (links, `navigate` after a
/// submission, back and forward alike).
#[cfg(feature = "hydrate")]
pub fn note_destination(url: String) {
    DESTINATION.set(Some(url));
}

/// A page's chunk could not be loaded: after an upgrade, a tab still running the previous
/// release asks for chunks the server no longer has (their names carry the old hashes). The
/// WebAssembly module cannot go on after a panic, so the browser loads the page the router
/// was going to (a path of this portal) from the server, that is from the new release. At
/// most once a minute, so a chunk missing from the release itself shows its error instead of
/// reloading forever.
#[cfg(feature = "hydrate")]
fn reload_for_new_release() {
    const KEY: &str = "slipway-reloaded-for-chunks";
    let Some(window) = web_sys::window() else {
        return;
    };
    let now = js_sys::Date::now();
    let storage = window.session_storage().ok().flatten();
    let last = storage
        .as_ref()
        .and_then(|s| s.get_item(KEY).ok().flatten())
        .and_then(|v| v.parse::<f64>().ok());
    if last.is_some_and(|last| now - last < 60_000.0) {
        return;
    }
    if let Some(storage) = storage {
        let _ = storage.set_item(KEY, &now.to_string());
    }
    match DESTINATION.take() {
        // Only ever a path of this origin: the router's own location.
        Some(path) if path.starts_with('/') && !path.starts_with("//") => {
            let _ = window.location().assign(&path);
        }
        _ => {
            let _ = window.location().reload();
        }
    }
}
