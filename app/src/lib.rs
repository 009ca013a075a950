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
pub mod promotions;
pub mod requests;
pub mod status;
pub mod structure;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode, StaticSegment,
    components::{Outlet, ParentRoute, Route, Router, Routes},
    path,
};

use crate::components::layout::Layout;
use crate::pages::{
    admin::{AdminPage, GitJobsPage, UsersPage},
    approvals::ApprovalsPage,
    audit::AuditPage,
    catalog::CatalogPage,
    login::LoginPage,
    metrics::{MetricsPage, OfferingMetricsPage, TeamMetricsPage},
    not_found::NotFound,
    offering::OfferingPage,
    requests::{RequestPage, RequestsPage},
    status::{ClustersPage, StatusPage},
    tokens::TokensPage,
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
            <body class="min-h-screen bg-canvas text-slate-900 antialiased dark:text-slate-100">
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
    // Effects run only in the browser, after hydration: the marker tells tests (and anyone
    // debugging) that the WebAssembly front end has taken over the server-rendered page.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "Slipway".to_owned() } else { format!("{page} · Slipway") }
        } />
        <Router>
            <Routes fallback=|| view! { <Layout><NotFound /></Layout> }>
                <Route path=StaticSegment("login") view=LoginPage />
                // Every other page inside the shared layout (navigation, user menu, banners).
                <ParentRoute path=StaticSegment("") view=|| view! { <Layout><Outlet /></Layout> }>
                    <Route path=StaticSegment("catalog") view=CatalogPage />
                    <Route path=path!("catalog/:id") view=OfferingPage />
                    <Route path=StaticSegment("requests") view=RequestsPage />
                    // Async: an unknown (or another team's) request is a real 404, not a 200
                    // page whose status came too late to send.
                    <Route path=path!("requests/:id") view=RequestPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("status") view=StatusPage />
                    <Route path=path!("status/clusters") view=ClustersPage />
                    // Async: another team's figures are a real 404, known before the first byte.
                    <Route path=StaticSegment("metrics") view=MetricsPage ssr=SsrMode::Async />
                    <Route path=path!("metrics/offerings/:id") view=OfferingMetricsPage ssr=SsrMode::Async />
                    <Route path=path!("metrics/teams/:team") view=TeamMetricsPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("tokens") view=TokensPage />
                    <Route path=StaticSegment("approvals") view=ApprovalsPage />
                    // Async: the page's status (403 for non-admins) is known before the first byte.
                    <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async />
                    <Route path=path!("admin/audit") view=AuditPage ssr=SsrMode::Async />
                    <Route path=path!("admin/git") view=GitJobsPage ssr=SsrMode::Async />
                    <Route path=path!("admin/users") view=UsersPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Browser entry point: attaches the app to the server-rendered HTML.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    hydrate_body(App);
}
