//! The catalog of offerings: what a team can ask the platform for.

use leptos::prelude::*;

use crate::components::page::{EmptyState, PageHeader};

/// `/catalog`.
#[component]
pub fn CatalogPage() -> impl IntoView {
    view! {
        <PageHeader title="Catalog" lead="Databases, buckets, namespaces and more: pick an offering, fill in the form, and Slipway commits the claim to Git." />
        <EmptyState title="No offerings published yet">
            <p>"Offerings come from template files in the catalog folder of the GitOps repository and from Crossplane XRDs discovered in your clusters."</p>
        </EmptyState>
    }
}
