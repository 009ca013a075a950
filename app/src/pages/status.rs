//! Live reconciliation status: the teams' claims (`/status`) and the clusters as the watchers
//! see them (`/status/clusters`). Both follow the status stream without reloading: the
//! server renders them, an island of each follows the stream.

use leptos::prelude::*;

use crate::api::{list_claims, list_clusters};
use crate::components::announce::use_announcer;
use crate::components::island::Held;
use crate::components::live::{HealthBadge, on_live_message};
use crate::components::page::{EmptyState, PageHeader, loaded};
use crate::status::{ClaimRow, ClusterView, StatusMessage, health_words};

/// `/status`: my teams' claims with live status.
#[component]
pub fn StatusPage() -> impl IntoView {
    let claims = Resource::new(|| (), |_| list_claims());
    view! {
        <PageHeader title="Status" lead="What the control plane reports for your teams' claims, live, with the root cause when something is not Ready." />
        <p class="mb-4 text-sm"><a href="/status/clusters" class="text-indigo-700 hover:underline dark:text-indigo-300">"Clusters and watched kinds →"</a></p>
        {loaded(claims, |rows| view! { <LiveClaims rows /> })}
    }
}

/// The claims as the server read them, then as the stream says they change.
#[island(lazy)]
fn LiveClaims(rows: Vec<ClaimRow>) -> impl IntoView {
    let claims = Held::new(rows);
    // A claim message carries the new status: patch the row at once. Anything else (a new
    // claim, a cluster coming back, a reset) reads the list again.
    let (patched, set_patched) = signal(Vec::<(String, crate::status::LiveStatus)>::new());
    // Said once to screen readers: which claim changed, and to what.
    let announcer = use_announcer();
    on_live_message(move |message| match message {
        StatusMessage::Claim {
            request_id, live, ..
        } => {
            let name = claims.with_untracked(|rows| {
                rows.iter()
                    .find(|row| row.request_id == *request_id)
                    .map(|row| row.name.clone())
            });
            if let Some(name) = name {
                announcer.say(format!("{name}: {}", health_words(&live.health)));
            }
            set_patched.update(|p| {
                p.retain(|(id, _)| id != request_id);
                p.push((request_id.clone(), live.clone()));
            });
            claims.reload(list_claims());
        }
        _ => claims.reload(list_claims()),
    });
    move || claims_table(claims.get(), patched)
}

fn claims_table(
    rows: Vec<ClaimRow>,
    patched: ReadSignal<Vec<(String, crate::status::LiveStatus)>>,
) -> AnyView {
    if rows.is_empty() {
        return view! {
            <EmptyState title="No claims in the clusters yet">
                <p>"Claims your teams request appear here once the GitOps applier has created them in a cluster."</p>
            </EmptyState>
        }
        .into_any();
    }
    view! {
        // `relative`: the header's visually hidden text is positioned inside the scrolling
        // box, not at the page's edge (it would widen the page at 200 % zoom).
        <div class="relative overflow-x-auto rounded-xl border border-line bg-surface">
            <table data-testid="claims" class="min-w-full text-sm">
                <thead class="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                    <tr>
                        <th class="px-4 py-2">"Claim"</th>
                        <th class="px-4 py-2">"Team"</th>
                        <th class="px-4 py-2">"Environment"</th>
                        <th class="px-4 py-2">"Cluster"</th>
                        <th class="px-4 py-2">"Status"</th>
                        <th class="px-4 py-2">"Root cause"</th>
                        <th class="px-4 py-2"><span class="sr-only">"Promote"</span></th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-line">
                    {rows.into_iter().map(|row| {
                        let id = row.request_id.clone();
                        let initial = row.live.clone();
                        let live = move || {
                            patched.get().into_iter().find(|(i, _)| *i == id).map(|(_, l)| l).unwrap_or_else(|| initial.clone())
                        };
                        let cause = {
                            let live = live.clone();
                            move || {
                                live().root_cause()
                            }
                        };
                        let request = row.request_id.clone();
                        let promote = row.promotes_to.into_iter().map(|target| view! {
                            <a data-testid="claim-promote" data-target=target.clone() class="block whitespace-nowrap text-xs text-indigo-700 hover:underline dark:text-indigo-300"
                                href=format!("/requests/{request}?promote={target}")>{format!("Promote to {target}")}</a>
                        }).collect_view();
                        view! {
                            <tr data-testid="claim-row" data-request=row.request_id.clone()>
                                <td class="px-4 py-2">
                                    <a class="text-indigo-700 hover:underline dark:text-indigo-300" href=format!("/requests/{}", row.request_id)>
                                        {format!("{} {}{}", row.kind, row.namespace.map(|n| format!("{n}/")).unwrap_or_default(), row.name)}
                                    </a>
                                </td>
                                <td class="px-4 py-2">{row.team}</td>
                                <td class="px-4 py-2">{row.environment}</td>
                                <td class="px-4 py-2">{row.cluster}</td>
                                <td class="px-4 py-2">{move || { let l = live(); view! { <HealthBadge health=l.health last_known=l.last_known /> } }}</td>
                                <td class="max-w-md px-4 py-2 text-xs text-secondary">{cause}</td>
                                <td class="px-4 py-2">{promote}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// `/status/clusters`: reachability, kinds watched, object counts, last event, lag.
#[component]
pub fn ClustersPage() -> impl IntoView {
    let clusters = Resource::new(|| (), |_| list_clusters());
    view! {
        <PageHeader title="Clusters" lead="The clusters Slipway watches: whether they answer, which kinds are followed, how many objects and how fresh." />
        {loaded(clusters, |clusters| view! { <LiveClusters clusters /> })}
    }
}

/// The clusters as the server read them, read again when one goes away or comes back.
#[island(lazy)]
fn LiveClusters(clusters: Vec<ClusterView>) -> impl IntoView {
    let clusters = Held::new(clusters);
    on_live_message(move |message| {
        if matches!(
            message,
            StatusMessage::Cluster { .. } | StatusMessage::Reset
        ) {
            clusters.reload(list_clusters());
        }
    });
    move || clusters_view(clusters.get())
}

fn clusters_view(clusters: Vec<ClusterView>) -> AnyView {
    if clusters.is_empty() {
        return view! {
            <EmptyState title="No clusters configured">
                <p>"Set SLIPWAY_CLUSTERS (kubeconfig contexts, or in-cluster) and SLIPWAY_ENVIRONMENT_CLUSTERS to follow claims, composite and managed resources, and Argo CD or Flux appliers."</p>
            </EmptyState>
        }
        .into_any();
    }
    clusters
        .into_iter()
        .map(|c| {
            let reach = if c.reachable {
                view! { <span data-testid="cluster-state" data-state="reachable" class="rounded-full bg-emerald-100 px-2 py-0.5 text-xs text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200">"Reachable"</span> }.into_any()
            } else {
                view! { <span data-testid="cluster-state" data-state="unreachable" class="rounded-full bg-amber-100 px-2 py-0.5 text-xs text-amber-900 dark:bg-amber-950 dark:text-amber-200">"Unreachable"</span> }.into_any()
            };
            view! {
                <section data-testid="cluster" data-cluster=c.name.clone() class="mb-8 rounded-xl border border-line bg-surface p-4">
                    <h2 class="flex flex-wrap items-center gap-3 font-medium">
                        <span>{c.name.clone()}</span>{reach}
                        <span class="text-xs font-normal text-muted">{format!("environments: {} · since {} · lag {}", c.environments.join(", "), c.since, c.lag_ms.map(|l| format!("{l} ms")).unwrap_or_else(|| "—".into()))}</span>
                    </h2>
                    {c.error.map(|e| view! { <p class="mt-1 text-xs text-amber-800 dark:text-amber-300">{e}</p> })}
                    <div class="mt-3 overflow-x-auto">
                    <table class="min-w-full text-sm">
                        <thead class="text-left text-xs uppercase tracking-wide text-muted">
                            <tr><th class="py-1 pr-4">"Kind"</th><th class="py-1 pr-4">"API version"</th><th class="py-1 pr-4">"Role"</th><th class="py-1 pr-4">"Objects"</th><th class="py-1 pr-4">"State"</th><th class="py-1 pr-4">"Last event"</th></tr>
                        </thead>
                        <tbody class="divide-y divide-line">
                            {c.kinds.into_iter().map(|k| { let (kind, state) = (k.kind.clone(), k.state.as_str()); view! {
                                <tr data-testid="watched-kind" data-kind=kind data-state=state>
                                    <td class="py-1 pr-4">{k.kind}</td>
                                    <td class="py-1 pr-4 font-mono text-xs">{k.api_version}</td>
                                    <td class="py-1 pr-4">{k.role}</td>
                                    <td class="py-1 pr-4">{k.objects}</td>
                                    <td class="py-1 pr-4">{k.state.as_str()}{k.note.map(|n| view! { <p class="text-xs text-muted">{n}</p> })}</td>
                                    <td class="py-1 pr-4 font-mono text-xs">{k.last_event.unwrap_or_else(|| "—".into())}</td>
                                </tr>
                            }}).collect_view()}
                        </tbody>
                    </table>
                    </div>
                </section>
            }
        })
        .collect_view()
        .into_any()
}
