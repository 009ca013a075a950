//! Live reconciliation status of the teams' claims.

use leptos::prelude::*;

use crate::components::page::{EmptyState, PageHeader};

/// `/status`.
#[component]
pub fn StatusPage() -> impl IntoView {
    view! {
        <PageHeader title="Status" lead="What the control plane reports for your claims, with the root cause when something is not Ready." />
        <EmptyState title="No clusters connected">
            <p>"Connect a control-plane cluster in the configuration to see claims, composite and managed resources, and Argo CD or Flux sync state here."</p>
        </EmptyState>
    }
}
