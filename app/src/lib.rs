//! Slipway's user interface, compiled twice: into the server (feature `ssr`) to render pages
//! and run server functions, and into WebAssembly (feature `hydrate`) for the page's islands.
//!
//! ```text
//!   browser ──GET /catalog──▶ server: shell() + App rendered to HTML (ssr), every page whole
//!      │                                   │
//!      │◀── HTML + /pkg/slipway.<hash>.js ─┘
//!      └─ hydrate_islands(): only the `#[island]` components come alive (menus, forms, live
//!         status); a page's heavier islands load their own chunk of WebAssembly on first use
//! ```
//!
//! Islands (Leptos's `islands` feature): a `#[component]` renders on the server only and
//! never reaches the browser; an `#[island]` is rendered on the server and hydrated in the
//! browser from the props the server serialised beside it. Islands share no reactive context
//! with the page around them: they take their data as props, read the tab's status stream
//! through [`components::live::use_live_feed`] and speak through the page's live region with
//! [`components::announce::use_announcer`]. Links are ordinary links: every page is a
//! document of its own, served at the server's page rate, and the front end it needs comes
//! from the browser's cache.
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
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-canvas text-slate-900 antialiased dark:text-slate-100">
                <App />
                // Last in the document: islands hydrate in document order, so when this one
                // has, every island of the page has (the lazily loaded ones included).
                <HydrationMark />
            </body>
        </html>
    }
}

/// The application: routes inside the shared layout (navigation, user menu, error boundary).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "Slipway".to_owned() } else { format!("{page} · Slipway") }
        } />
        <Router>
            // Every page is rendered whole before its first byte is sent (`SsrMode::Async`):
            // - its status is known (an unknown or another team's request or figures is a
            //   real 404, the admin pages a 403 for members);
            // - its title is in the head (no script in the browser sets it later);
            // - its islands are in the document when the islands script walks it once, on
            //   load (an island streamed in later, out of order, would never hydrate).
            // The pages render in about a millisecond: streaming would gain nothing.
            <Routes fallback=|| view! { <Layout><NotFound /></Layout> }>
                <Route path=StaticSegment("login") view=LoginPage ssr=SsrMode::Async />
                // Every other page inside the shared layout (navigation, user menu, banners).
                <ParentRoute path=StaticSegment("") view=|| view! { <Layout><Outlet /></Layout> } ssr=SsrMode::Async>
                    <Route path=StaticSegment("catalog") view=CatalogPage ssr=SsrMode::Async />
                    <Route path=path!("catalog/:id") view=OfferingPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("requests") view=RequestsPage ssr=SsrMode::Async />
                    <Route path=path!("requests/:id") view=RequestPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("status") view=StatusPage ssr=SsrMode::Async />
                    <Route path=path!("status/clusters") view=ClustersPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("metrics") view=MetricsPage ssr=SsrMode::Async />
                    <Route path=path!("metrics/offerings/:id") view=OfferingMetricsPage ssr=SsrMode::Async />
                    <Route path=path!("metrics/teams/:team") view=TeamMetricsPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("tokens") view=TokensPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("approvals") view=ApprovalsPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("admin") view=AdminPage ssr=SsrMode::Async />
                    <Route path=path!("admin/audit") view=AuditPage ssr=SsrMode::Async />
                    <Route path=path!("admin/git") view=GitJobsPage ssr=SsrMode::Async />
                    <Route path=path!("admin/users") view=UsersPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Marks the page as hydrated (`data-hydrated` on `<body>`) once its islands have come
/// alive: tests, and anyone debugging, know the WebAssembly front end has taken over.
#[island]
fn HydrationMark() -> impl IntoView {
    // Effects run only in the browser, after the island has hydrated.
    Effect::new(|_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

/// Browser entry point: sets up the reactive system; the islands script then hydrates each
/// island of the page in document order.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    hydrate_islands();
}
