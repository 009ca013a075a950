//! `/approvals`: the requests a platform policy holds until someone agrees, for those who may
//! agree — each with the change it would make, what it still needs and who decided so far.

use leptos::prelude::*;

use crate::api::{DecideApproval, list_approvals};
use crate::components::diff::Diff;
use crate::components::island::Held;
use crate::components::page::{EmptyState, PageHeader, loaded};
use crate::requests::ApprovalItem;

/// The approvals queue.
#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let items = Resource::new(|| (), |_| list_approvals());
    view! {
        <PageHeader title="Approvals" lead="Requests a platform policy holds until enough approvers agree. Nothing reaches Git before; a rejection ends the request." />
        {loaded(items, |items| view! { <Approvals items /> })}
    }
}

/// The queue with its decisions, read again after each one.
#[island(lazy)]
fn Approvals(items: Vec<ApprovalItem>) -> impl IntoView {
    let decide = ServerAction::<DecideApproval>::new();
    let items = Held::new(items);
    items.reload_after([decide.version()], list_approvals);
    let outcome = move || {
        decide.value().get().map(|result| match result {
            Ok(()) => view! { <p role="status" data-testid="decision-recorded" class="mb-4 text-sm text-emerald-800 dark:text-emerald-300">"Decision recorded."</p> }.into_any(),
            Err(error) => view! { <p role="alert" data-testid="decision-error" class="mb-4 text-sm text-red-700 dark:text-red-400">{error.to_string()}</p> }.into_any(),
        })
    };
    view! {
        {outcome}
        {move || queue(items.get(), decide)}
    }
}

fn queue(items: Vec<ApprovalItem>, decide: ServerAction<DecideApproval>) -> AnyView {
    if items.is_empty() {
        return view! {
            <EmptyState title="Nothing awaits your approval">
                <p>"Requests that a policy holds for your approval appear here."</p>
            </EmptyState>
        }
        .into_any();
    }
    view! {
        <ul class="space-y-6" data-testid="approvals">
            {items.into_iter().map(|item| approval(item, decide)).collect_view()}
        </ul>
    }
    .into_any()
}

fn approval(item: ApprovalItem, decide: ServerAction<DecideApproval>) -> impl IntoView {
    let id = item.summary.id.clone();
    let comment = RwSignal::new(String::new());
    let comment_id = format!("comment-{id}");
    let heading_id = format!("approval-{id}");
    let send = move |approve: bool| {
        let id = id.clone();
        move |_| {
            decide.dispatch(DecideApproval {
                id: id.clone(),
                approve,
                comment: comment.get_untracked(),
            });
        }
    };
    let s = &item.summary;
    view! {
        <li data-testid="approval" data-request=s.id.clone() aria-labelledby=heading_id.clone()
            class="rounded-xl border border-line bg-surface p-4">
            <h2 id=heading_id.clone() class="font-medium">
                {
                    let title = format!("{} {} {}/{} in {}", s.action.verb(), s.kind, s.team, s.name, s.environment);
                    if item.can_open {
                        view! { <a class="text-indigo-700 hover:underline dark:text-indigo-300" href=format!("/requests/{}", s.id)>{title}</a> }.into_any()
                    } else {
                        view! { <span>{title}</span> }.into_any()
                    }
                }
            </h2>
            <p class="text-sm text-strong">{format!("Requested by {} at {} · {}", s.requested_by, s.created_at, s.offering)}</p>
            <ul class="mt-2 list-disc pl-5 text-sm text-strong" aria-label="Needs">
                {item.needs.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
            </ul>
            {(!item.decisions.is_empty()).then(|| view! {
                <ul class="mt-2 list-disc pl-5 text-sm text-strong" aria-label="Decisions so far">
                    {item.decisions.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}
                </ul>
            })}
            <p class="mt-3 font-mono text-xs text-strong">{item.path}</p>
            <Diff lines=item.diff testid="approval-diff" />
            {if item.can_decide {
                view! {
                    <div class="mt-3 space-y-2">
                        <label for=comment_id.clone() class="block text-sm font-medium">"Comment"</label>
                        <textarea id=comment_id data-testid="approval-comment" rows="2" maxlength="1000"
                            class="w-full rounded-md border border-control bg-surface px-2 py-1 text-sm"
                            prop:value=move || comment.get()
                            on:input=move |ev| comment.set(event_target_value(&ev))></textarea>
                        <div class="flex gap-2">
                            <button type="button" data-testid="approve" on:click=send(true) disabled=move || decide.pending().get()
                                class="rounded-md bg-emerald-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-emerald-800">"Approve"</button>
                            <button type="button" data-testid="reject" on:click=send(false) disabled=move || decide.pending().get()
                                class="rounded-md border border-red-300 px-3 py-1.5 text-sm font-medium text-red-800 dark:border-red-800 dark:text-red-300">"Reject"</button>
                        </div>
                    </div>
                }.into_any()
            } else {
                view! { <p class="mt-3 text-sm text-strong">"You have decided on this request, or it is your own."</p> }.into_any()
            }}
        </li>
    }
}
