//! Adoption metrics derived from the request ledger.

use leptos::prelude::*;

use crate::components::page::{EmptyState, PageHeader};

/// `/metrics`.
#[component]
pub fn MetricsPage() -> impl IntoView {
    view! {
        <PageHeader title="Metrics" lead="Time to ready, success rate, active teams and DORA measures, computed from the request ledger." />
        <EmptyState title="Nothing to measure yet">
            <p>"Figures appear once requests have gone through the portal."</p>
        </EmptyState>
    }
}
