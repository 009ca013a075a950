//! The pages as routes whose code the browser loads when it first needs it.
//!
//! Each page behind the sign-in is a [`LazyRoute`]: its view is a split point, so
//! `cargo leptos build --split` moves the page's code (the form engine, the charts, the
//! request timeline…) out of the main WebAssembly module into chunks of its own. The main
//! module keeps the framework, the router, the layout and the sign-in page; a first visit
//! downloads it and the chunks of the page it lands on, which the server names in
//! `<link rel="preload">` tags while rendering, so they arrive beside the main module.
//!
//! ```text
//!   GET /metrics ─▶ HTML + preload: slipway.wasm, the chunks of MetricsRoute
//!   hydrate ─▶ router awaits MetricsRoute's view (chunks already fetched) ─▶ page live
//!   click "Catalog" ─▶ CatalogRoute's chunks fetched once, then the page renders
//! ```
//!
//! Without `--split` (tests that build the server only) a lazy view is an ordinary async
//! function that resolves at once; the pages are the same either way.
//!
//! `data()` loads nothing: every page starts its own resources, which on the server's first
//! render are serialized into the page as before. The cost is one round trip on client-side
//! navigation to a page not yet visited (chunk, then data) instead of both together.

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

use crate::pages::{
    admin::{AdminPage, GitJobsPage, UsersPage},
    approvals::ApprovalsPage,
    audit::AuditPage,
    catalog::CatalogPage,
    metrics::{MetricsPage, OfferingMetricsPage, TeamMetricsPage},
    offering::OfferingPage,
    requests::{RequestPage, RequestsPage},
    status::{ClustersPage, StatusPage},
    tokens::TokensPage,
};

/// One lazily loaded route per page: `Route => Page;`.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident;)*) => {$(
        #[doc = concat!("[`", stringify!($page), "`], loaded on first use.")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    CatalogRoute => CatalogPage;
    OfferingRoute => OfferingPage;
    RequestsRoute => RequestsPage;
    RequestRoute => RequestPage;
    StatusRoute => StatusPage;
    ClustersRoute => ClustersPage;
    MetricsRoute => MetricsPage;
    OfferingMetricsRoute => OfferingMetricsPage;
    TeamMetricsRoute => TeamMetricsPage;
    TokensRoute => TokensPage;
    ApprovalsRoute => ApprovalsPage;
    AdminRoute => AdminPage;
    AuditRoute => AuditPage;
    GitJobsRoute => GitJobsPage;
    UsersRoute => UsersPage;
}
