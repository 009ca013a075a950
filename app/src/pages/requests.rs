//! The requests of the user's teams, newest first, and one request's timeline.

use crate::components::filter::FilterForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{
    RateOffering, SubmitChange, get_claim_across, get_request, get_request_status, list_requests,
};
use crate::components::announce::use_announcer;
use crate::components::focus::focus_after_render;
use crate::components::island::{Held, go_to};
use crate::components::live::{HealthBadge, on_live_message};
use crate::components::page::{EmptyState, PageHeader};
use crate::pages::promotion::{PromotePanel, across_view, concerns};
use crate::promotions::{ClaimAcross, TimelineEntry, fold_flapping};
use crate::requests::{
    Action as RequestAction, EventKind, RequestDetail, RequestEvent, RequestFilter, RequestPage,
    Stage,
};
use crate::status::{LiveStatus, RequestStatus, ResourceNode, StatusMessage, health_words};

const INPUT: &str = "rounded-md border border-control bg-surface px-2 py-1.5 text-sm";

/// `/requests`.
#[component]
pub fn RequestsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| RequestFilter {
            team: q.get("team"),
            stage: q.get("stage"),
            environment: q.get("environment"),
            q: q.get("q"),
            before: q.get("before"),
        })
    };
    let page = Resource::new(filter, list_requests);
    let current = move |name: &'static str| query.with(|q| q.get(name)).unwrap_or_default();
    view! {
        <PageHeader title="Requests" lead="Every create, update and delete your teams asked for, from submission to Ready." />
        <FilterForm>
            <div class="mb-4 flex flex-wrap items-end gap-3" role="search" aria-label="Filter requests">
                <label class="flex flex-col gap-1 text-xs font-medium">"Name or kind"
                    <input name="q" class=INPUT placeholder="contains…" value=current("q") />
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Team"
                    <input name="team" class=INPUT placeholder="any of mine" value=current("team") />
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Environment"
                    <input name="environment" class=INPUT placeholder="any" value=current("environment") />
                </label>
                <label class="flex flex-col gap-1 text-xs font-medium">"Stage"
                    <select name="stage" class=INPUT>
                        <option value="">"any"</option>
                        {Stage::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=current("stage") == s.as_str()>{s.label()}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit" class="rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium">"Filter"</button>
            </div>
        </FilterForm>
        <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
            {move || Suspend::new(async move { page.await.map(|p| requests_table(p, filter())) })}
        </Transition>
    }
}

/// A coloured badge for a stage.
#[component]
pub fn StageBadge(stage: Stage) -> impl IntoView {
    let class = match stage {
        Stage::Submitted => "bg-subtle text-slate-700 dark:text-slate-200",
        Stage::AwaitingApproval => {
            "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200"
        }
        Stage::Rejected => "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200",
        Stage::WaitingForGit => "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
        Stage::Committed | Stage::Unchanged | Stage::Merged => {
            "bg-sky-100 text-sky-900 dark:bg-sky-950 dark:text-sky-200"
        }
        Stage::PrOpened => "bg-violet-100 text-violet-900 dark:bg-violet-950 dark:text-violet-200",
        Stage::Failed | Stage::Closed | Stage::Failing => {
            "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200"
        }
        Stage::Synced | Stage::Reconciling => {
            "bg-sky-100 text-sky-900 dark:bg-sky-950 dark:text-sky-200"
        }
        Stage::ApplyFailed => "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200",
        Stage::Ready => "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200",
        Stage::Deleted => "bg-subtle text-strong",
    };
    view! {
        <span data-testid="stage" data-stage=stage.as_str() class=format!("inline-block rounded px-1.5 py-0.5 text-xs font-medium {class}")>
            {stage.label()}
        </span>
    }
}

fn requests_table(page: RequestPage, filter: RequestFilter) -> impl IntoView {
    if page.requests.is_empty() && filter == RequestFilter::default() {
        return view! {
            <EmptyState title="No requests yet">
                <p>"Submit a form from the catalog; its request appears here with its timeline: submitted, committed, synced, ready."</p>
            </EmptyState>
        }
        .into_any();
    }
    let older = page.next.map(|before| {
        let mut params: Vec<String> = [
            ("team", &filter.team),
            ("stage", &filter.stage),
            ("environment", &filter.environment),
            ("q", &filter.q),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", crate::pages::login::encode_component(v)))
        })
        .collect();
        params.push(format!("before={before}"));
        view! { <A href=format!("/requests?{}", params.join("&"))>"Older requests →"</A> }
    });
    let empty = page.requests.is_empty();
    view! {
        <div class="overflow-x-auto rounded-xl border border-line bg-surface">
            <table data-testid="requests-table" class="min-w-full text-left text-sm">
                <caption class="sr-only">"Requests, newest first"</caption>
                <thead class="border-b border-line text-xs uppercase tracking-wide text-muted">
                    <tr>
                        <th scope="col" class="px-4 py-2">"Submitted (UTC)"</th>
                        <th scope="col" class="px-4 py-2">"Request"</th>
                        <th scope="col" class="px-4 py-2">"Team"</th>
                        <th scope="col" class="px-4 py-2">"Environment"</th>
                        <th scope="col" class="px-4 py-2">"By"</th>
                        <th scope="col" class="px-4 py-2">"Stage"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-line">
                    {page.requests.into_iter().map(|r| view! {
                        <tr>
                            <td class="whitespace-nowrap px-4 py-2 font-mono text-xs">{r.created_at}</td>
                            <td class="px-4 py-2">
                                <a class="text-indigo-700 hover:underline dark:text-indigo-300" href=format!("/requests/{}", r.id)>
                                    {format!("{} {} {}", r.action.verb(), r.kind, r.name)}
                                </a>
                            </td>
                            <td class="px-4 py-2">{r.team}</td>
                            <td class="px-4 py-2">{r.environment}</td>
                            <td class="px-4 py-2">{r.requested_by}</td>
                            <td class="px-4 py-2"><StageBadge stage=r.stage /></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {empty.then(|| view! { <p class="p-6 text-center text-sm text-muted">"No requests match these filters."</p> })}
        </div>
        <div class="mt-3 text-sm">{older}</div>
    }
    .into_any()
}

/// `/requests/:id`: read on the server (an unknown or another team's request is a 404 before
/// the first byte), then followed live by its island.
#[component]
pub fn RequestPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let data = Resource::new(id, get_request);
    let status = Resource::new(id, get_request_status);
    // The comparison is an aid: when it cannot be read, the request page still shows.
    let across = Resource::new(id, get_claim_across);
    // The promotion panel, open for one target (`?promote=staging` opens it from a link).
    let query = use_query_map();
    let promote = query.with_untracked(|q| q.get("promote"));
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
            {move || {
                let promote = promote.clone();
                Suspend::new(async move {
                    let (detail, status, across) = (data.await?, status.await?, across.await.ok());
                    let s = &detail.summary;
                    let title = format!("{} {} {}/{}", s.action.verb(), s.kind, s.team, s.name);
                    Ok::<_, crate::error::AppError>(view! {
                        <Title text=title />
                        <RequestView detail status across promote />
                    })
                })
            }}
        </Suspense>
    }
}

/// The request, its live status, the claim across environments and its timeline, kept
/// current by the status stream: a claim message carries the new status (shown at once, the
/// tree is read again); a ledger message (the Git writer's stages and the cluster's alike)
/// adds to the timeline; a cluster going away or coming back, or a reset (also sent when the
/// stream opens, covering what happened before it did), reads everything again.
#[island(lazy)]
fn RequestView(
    detail: RequestDetail,
    status: RequestStatus,
    across: Option<ClaimAcross>,
    promote: Option<String>,
) -> impl IntoView {
    let id = detail.summary.id.clone();
    let data = Held::new(detail);
    let status = Held::new(status);
    let across = Held::new(across);
    let promoting = RwSignal::new(promote);
    let (live_now, set_live_now) = signal(None::<LiveStatus>);
    // Said to a screen reader once, politely, without moving the focus: the request's stage
    // and the claim's health when they change while the page is open.
    let announcer = use_announcer();
    Effect::new(move |before: Option<Stage>| {
        let now = data.with(|d| d.summary.stage);
        if before.is_some_and(|before| before != now) {
            announcer.say(format!("Stage: {}", now.label()));
        }
        now
    });
    let read = {
        let id = id.clone();
        move |detail: bool, live: bool, others: bool| {
            if detail {
                data.reload(get_request(id.clone()));
            }
            if live {
                status.reload(get_request_status(id.clone()));
            }
            if others {
                let id = id.clone();
                across.reload(async move { Ok(get_claim_across(id).await.ok()) });
            }
        }
    };
    on_live_message({
        let id = id.clone();
        move |message| {
            let others =
                across.with_untracked(|a| a.as_ref().is_some_and(|a| concerns(a, message)));
            match message {
                StatusMessage::Claim {
                    request_id, live, ..
                } if *request_id == id => {
                    announcer.say(format!("In the cluster: {}", health_words(&live.health)));
                    set_live_now.set(Some(live.clone()));
                    read(false, true, others);
                }
                StatusMessage::Ledger { request_id, .. } if *request_id == id => {
                    read(true, true, others)
                }
                StatusMessage::Cluster { .. } | StatusMessage::Reset => {
                    set_live_now.set(None);
                    read(true, true, true);
                }
                _ => read(false, false, others),
            }
        }
    });
    // The live status and the resource tree first, then the claim across environments,
    // then how the request got here (timeline) and what it wrote (file).
    view! {
        {move || request_header(data.get(), promoting)}
        // The panel belongs to this request (its id read once, not followed).
        {
            let of = id.clone();
            move || promoting.get().map(|target| {
                let opener = format!(r#"[data-testid="promote"][data-target="{target}"]"#);
                let close = Callback::new(move |()| {
                    promoting.set(None);
                    focus_after_render(opener.clone());
                });
                view! { <PromotePanel of=of.clone() target=target close=close /> }
            })
        }
        {move || live_section(status.get(), live_now)}
        {move || across.get().map(|a| across_view(a, id.clone()))}
        {move || request_history(data.get())}
    }
}

fn live_section(status: RequestStatus, live_now: ReadSignal<Option<LiveStatus>>) -> impl IntoView {
    let initial = status.live.clone();
    let live = move || live_now.get().or_else(|| initial.clone());
    let badge = {
        let live = live.clone();
        move || {
            match live() {
            Some(l) => view! { <HealthBadge health=l.health last_known=l.last_known /> }.into_any(),
            None => view! { <span data-testid="health-badge" data-state="none" class="text-xs text-muted">"Not seen yet"</span> }.into_any(),
        }
        }
    };
    let cause = move || {
        live().and_then(|l| {
            let cause = l.root_cause();
            (!cause.is_empty()).then(|| view! { <p data-testid="root-cause" class="mt-2 text-sm text-strong">{cause}</p> })
        })
    };
    view! {
        <section aria-labelledby="live-heading" data-testid="live-status" class="mt-8 rounded-xl border border-line bg-surface p-4">
            <h2 id="live-heading" class="flex flex-wrap items-center gap-3 font-medium">
                <span>"In the cluster"</span>{badge}
                {status.cluster.map(|c| view! { <span class="text-xs font-normal text-muted">{format!("cluster {c}")}</span> })}
            </h2>
            {cause}
            {status.note.map(|n| view! { <p data-testid="status-note" class="mt-2 text-sm text-muted">{n}</p> })}
            {status.tree.map(|t| view! { <ul data-testid="resource-tree" class="mt-4 space-y-2">{tree_view(t)}</ul> })}
        </section>
    }
}

fn tree_view(node: ResourceNode) -> AnyView {
    let conditions = node
        .conditions
        .iter()
        .map(|c| {
            let text = [c.reason.clone(), c.message.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            view! {
                <li class="text-xs text-secondary">
                    <span class="font-mono">{format!("{}={}", c.kind, c.status)}</span>
                    {(!text.is_empty()).then(|| format!(" — {text}"))}
                </li>
            }
        })
        .collect_view();
    let label = format!(
        "{} {}{}",
        node.kind,
        node.namespace
            .clone()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        node.name
    );
    let missing = node
        .missing
        .then(|| view! { <span class="text-xs text-muted">" (not seen)"</span> });
    let children = (!node.children.is_empty()).then(|| {
        let items = node.children.into_iter().map(tree_view).collect_view();
        view! { <ul class="mt-2 space-y-2 border-l border-line pl-4">{items}</ul> }
    });
    view! {
        <li data-testid="resource" data-kind=node.kind.clone() data-name=node.name.clone()>
            <p class="flex flex-wrap items-center gap-2 text-sm">
                <span class="font-mono">{label}</span>
                <HealthBadge health=node.health last_known=None />
                {missing}
            </p>
            <ul class="mt-1 space-y-0.5">{conditions}</ul>
            {children}
        </li>
    }
    .into_any()
}

fn request_header(detail: RequestDetail, promoting: RwSignal<Option<String>>) -> impl IntoView {
    let s = detail.summary.clone();
    // Day-2 actions on a claim that is in the branch.
    let in_branch =
        s.stage.in_branch() && s.stage != Stage::Deleted && s.action != RequestAction::Delete;
    let delete = ServerAction::<SubmitChange>::new();
    Effect::new(move |_| {
        if let Some(Ok(submitted)) = delete.value().get() {
            go_to(&format!("/requests/{}", submitted.id));
        }
    });
    let confirming = RwSignal::new(false);
    let of = s.id.clone();
    let promote_buttons = detail.promotes_to.clone().into_iter().map(|target| {
        let label = format!("Promote to {target}…");
        view! {
            <button type="button" data-testid="promote" data-target=target.clone()
                class="rounded-md border border-control px-3 py-1.5 text-sm font-medium hover:bg-subtle"
                on:click=move |_| promoting.set(Some(target.clone()))>{label}</button>
        }
    }).collect_view();
    let actions = in_branch.then(|| {
        let edit_href = format!("/catalog/{}?edit={}", s.offering.split('@').next().unwrap_or_default(), s.id);
        view! {
            <div class="mt-3 flex flex-wrap items-center gap-2">
                <a data-testid="edit-claim" href=edit_href class="rounded-md border border-control px-3 py-1.5 text-sm font-medium hover:bg-subtle">"Edit"</a>
                {promote_buttons}
                {move || if confirming.get() {
                    let of = of.clone();
                    view! {
                        <span class="text-sm">"Delete this claim from Git?"</span>
                        <button type="button" data-testid="confirm-delete" class="rounded-md bg-red-700 px-3 py-1.5 text-sm font-medium text-white"
                            on:click=move |_| { delete.dispatch(SubmitChange { of: of.clone(), action: RequestAction::Delete, draft: None }); }>"Delete"</button>
                        <button type="button" class="rounded-md border border-control px-3 py-1.5 text-sm" on:click=move |_| confirming.set(false)>"Keep"</button>
                    }.into_any()
                } else {
                    view! {
                        <button type="button" data-testid="delete-claim" class="rounded-md border border-red-300 px-3 py-1.5 text-sm font-medium text-red-800 hover:bg-red-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
                            on:click=move |_| confirming.set(true)>"Delete…"</button>
                    }.into_any()
                }}
                {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <p role="alert" class="text-sm text-red-700 dark:text-red-400">{e.to_string()}</p> })}
            </div>
        }
    });
    let rate = detail.can_rate.then(|| {
        feedback_section(
            s.id.clone(),
            detail.offering_title.clone(),
            detail.feedback.clone(),
        )
    });
    let promoted_from = detail.promoted_from.clone().map(|source| view! {
        <p data-testid="promoted-from" class="mt-1 text-sm">"Promoted from "
            <a href=format!("/requests/{source}") class="text-indigo-700 hover:underline dark:text-indigo-300">{format!("request {source}")}</a>
        </p>
    });
    let title = format!("{} {} {}/{}", s.action.verb(), s.kind, s.team, s.name);
    let waiting = detail.git.clone().filter(|g| g.attempts > 0).map(|g| view! {
        <section role="status" data-testid="git-waiting" class="mb-6 rounded-xl border border-amber-300 bg-amber-50 p-4 text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
            <p class="font-medium">"Waiting for Git"</p>
            <p class="mt-1">{g.last_error.unwrap_or_default()}</p>
            <p class="mt-1 text-xs">{format!("Attempt {} failed; the portal tries again at {} and keeps the request until it goes through.", g.attempts, g.next_attempt_at)}</p>
        </section>
    });
    view! {
        <header class="mb-6">
            <p class="text-sm"><a href="/requests" class="text-indigo-700 hover:underline dark:text-indigo-300">"← Requests"</a></p>
            <h1 class="mt-1 flex flex-wrap items-center gap-3 text-2xl font-semibold tracking-tight">
                <span>{title}</span>
                <StageBadge stage=s.stage />
            </h1>
            <p class="mt-1 text-sm text-secondary">{detail.offering_title.clone()}
                <span class="font-mono text-xs text-muted">{format!(" · {} · {} · {} · request {}", s.offering, s.environment, s.requested_by, s.id)}</span>
            </p>
            {promoted_from}
            {actions}
        </header>
        {waiting}
        {rate}
    }
}

fn event_item(e: RequestEvent) -> impl IntoView {
    let sha = e.sha.clone().map(|sha| {
        let short = sha[..sha.len().min(12)].to_owned();
        match e.url.as_deref().and_then(crate::domain::external_link) {
            Some(url) => view! { <a class="font-mono text-indigo-700 hover:underline dark:text-indigo-300" href=url.to_owned() rel="external noopener noreferrer">{short}</a> }.into_any(),
            None => view! { <span class="font-mono" title=sha>{short}</span> }.into_any(),
        }
    });
    view! {
        <li data-testid="event" data-kind=e.kind.as_str()>
            <p class="text-sm font-medium">{event_label(e.kind)}" "{sha}</p>
            <p class="text-xs text-muted">{format!("{} · {}", e.at, e.actor)}</p>
            {e.message.map(|m| view! { <p class="mt-1 text-xs text-strong">{m}</p> })}
        </li>
    }
}

/// How the request got here (its timeline, a flapping claim folded into one entry) and what
/// it wrote.
fn request_history(detail: RequestDetail) -> impl IntoView {
    let entries = fold_flapping(&detail.events).into_iter().map(|entry| match entry {
        TimelineEntry::Event(e) => event_item(e).into_any(),
        TimelineEntry::Flapping { events } => {
            let summary = format!(
                "Flapped {} times between {} and {}",
                events.len(),
                events.first().map(|e| e.at.clone()).unwrap_or_default(),
                events.last().map(|e| e.at.clone()).unwrap_or_default()
            );
            let count = events.len().to_string();
            view! {
                <li data-testid="flapping" data-count=count>
                    <details>
                        <summary class="cursor-pointer text-sm font-medium">{summary}</summary>
                        <ol class="mt-2 space-y-2">{events.into_iter().map(event_item).collect_view()}</ol>
                    </details>
                </li>
            }
            .into_any()
        }
    }).collect_view();
    view! {
        <div class="mt-8 grid gap-8 lg:grid-cols-[minmax(0,2fr)_minmax(0,3fr)]">
            <section aria-labelledby="timeline-heading">
                <h2 id="timeline-heading" class="mb-3 font-medium">"Timeline"</h2>
                <ol data-testid="timeline" class="space-y-3 border-l border-line pl-4">{entries}</ol>
            </section>
            <section aria-labelledby="file-heading">
                <h2 id="file-heading" class="mb-3 font-medium">"File"</h2>
                <p data-testid="request-path" class="font-mono text-xs">{detail.path}</p>
                {detail.pull_request.map(|url| match crate::domain::external_link(&url) {
                    Some(link) => view! {
                        <p class="mt-1 text-xs">"Pull request: "<a data-testid="pull-request" class="text-indigo-700 hover:underline dark:text-indigo-300" href=link.to_owned() rel="external noopener noreferrer">{url.clone()}</a></p>
                    }.into_any(),
                    None => view! {
                        <p class="mt-1 text-xs">"Pull request: "<span data-testid="pull-request" class="font-mono">{url.clone()}</span></p>
                    }.into_any(),
                })}
                <pre class="mt-2 max-h-[32rem] overflow-auto rounded bg-surface p-3 font-mono text-xs">{detail.content}</pre>
            </section>
        </div>
    }
}

/// The requester rates the offering (1–5, optional comment) once the request has been Ready.
fn feedback_section(
    request_id: String,
    offering: String,
    given: Option<crate::metrics::GivenFeedback>,
) -> impl IntoView {
    let rate = ServerAction::<RateOffering>::new();
    let current = given.as_ref().map_or(0, |g| g.rating);
    let comment = given.map(|g| g.comment).unwrap_or_default();
    view! {
        <section data-testid="feedback" aria-labelledby="feedback-heading" class="mb-6 rounded-xl border border-line bg-surface p-4">
            <h2 id="feedback-heading" class="font-medium">{format!("How was {offering}?")}</h2>
            <ActionForm action=rate>
                <input type="hidden" name="feedback[request_id]" value=request_id />
                <fieldset class="mt-2 flex flex-wrap items-center gap-3">
                    <legend class="sr-only">"Rating"</legend>
                    {(1..=5u8).map(|n| view! {
                        <label class="flex items-center gap-1 text-sm">
                            <input type="radio" name="feedback[rating]" value=n.to_string() required checked=n == current />
                            {format!("{n}")}
                        </label>
                    }).collect_view()}
                    <span class="text-xs text-muted">"1 = poor, 5 = excellent"</span>
                </fieldset>
                <label class="mt-2 flex flex-col gap-1 text-xs font-medium">"Comment (optional)"
                    <textarea name="feedback[comment]" maxlength=crate::metrics::MAX_COMMENT_CHARS.to_string() rows="2" class=INPUT>{comment}</textarea>
                </label>
                <button type="submit" data-testid="rate" class="mt-2 rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium">"Send rating"</button>
            </ActionForm>
            {move || rate.value().get().map(|r| match r {
                Ok(()) => view! { <p role="status" data-testid="rated" class="mt-2 text-sm text-emerald-700 dark:text-emerald-400">"Thank you: your rating is recorded."</p> }.into_any(),
                Err(e) => view! { <p role="alert" class="mt-2 text-sm text-red-700 dark:text-red-400">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

fn event_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Submitted => "Submitted",
        EventKind::WaitingForGit => "Waiting for Git",
        EventKind::Committed => "Committed",
        EventKind::PrOpened => "Pull request opened",
        EventKind::Merged => "Merged",
        EventKind::Closed => "Pull request closed without merging",
        EventKind::Unchanged => "No change needed",
        EventKind::Failed => "Failed",
        EventKind::Synced => "Synced by the GitOps applier",
        EventKind::ApplyFailed => "The GitOps applier failed to apply it",
        EventKind::Reconciling => "Reconciling",
        EventKind::Ready => "Ready",
        EventKind::Deleted => "Deleted from the cluster",
        EventKind::Retried => "Sent back to the Git writer",
        EventKind::Abandoned => "Abandoned",
        EventKind::AwaitingApproval => "Awaiting approval",
        EventKind::Approved => "Approved",
        EventKind::Rejected => "Rejected",
    }
}
