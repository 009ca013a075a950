//! The requests of the user's teams, newest first.

use leptos::prelude::*;

use crate::components::page::{EmptyState, PageHeader};

/// `/requests`.
#[component]
pub fn RequestsPage() -> impl IntoView {
    view! {
        <PageHeader title="Requests" lead="Every create, update and delete your teams asked for, from submission to Ready." />
        <EmptyState title="No requests yet">
            <p>"Submit a form from the catalog; its request appears here with its timeline: submitted, committed, synced, ready."</p>
        </EmptyState>
    }
}
