//! The request page's promotion parts: the panel that shows what promoting the claim to the
//! next environment would do (gates, kept fields, the diff) and does it, and the claim across
//! every environment with the request's promotion chain.

use leptos::prelude::*;

use crate::api::{Promote, get_promotion_plan};
use crate::components::diff::Diff;
use crate::components::focus::focus_after_render;
use crate::components::island::{Held, go_to};
use crate::components::live::{HealthBadge, on_live_message};
use crate::error::AppError;
use crate::pages::requests::StageBadge;
use crate::promotions::{ClaimAcross, KeptFrom, PromotionPlan};
use crate::requests::{Action, WriteMode};
use crate::status::StatusMessage;

const LINK: &str = "text-indigo-700 hover:underline dark:text-indigo-300";

/// What promoting the claim of request `of` to `target` would do, and the button that does
/// it. The plan is read when the panel opens in the browser, and again whenever the source's
/// status or ledger moves.
#[component]
pub fn PromotePanel(of: String, target: String, close: Callback<()>) -> impl IntoView {
    let plan = Held::new(None::<Result<PromotionPlan, AppError>>);
    let read = {
        let (of, target) = (of.clone(), target.clone());
        move || {
            let (of, target) = (of.clone(), target.clone());
            plan.reload(async move { Ok(Some(get_promotion_plan(of, target).await)) });
        }
    };
    let promote = ServerAction::<Promote>::new();
    Effect::new({
        let read = read.clone();
        move |_| read()
    });
    on_live_message(move |message| {
        // Not while a promotion is on its way: the button stays under the pointer.
        if promote.pending().get_untracked() {
            return;
        }
        let source = plan.with_untracked(|p| {
            p.as_ref()
                .and_then(|p| p.as_ref().ok())
                .map(|p| p.source.id.clone())
        });
        match message {
            StatusMessage::Claim { request_id, .. } | StatusMessage::Ledger { request_id, .. }
                if Some(request_id) == source.as_ref() =>
            {
                read();
            }
            StatusMessage::Cluster { .. } | StatusMessage::Reset => read(),
            _ => {}
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(submitted)) = promote.value().get() {
            go_to(&format!("/requests/{}", submitted.id));
        }
    });
    focus_after_render("#promote-heading".to_owned());
    let heading = format!("Promote to {target}");
    view! {
        <section aria-labelledby="promote-heading" data-testid="promote-panel" data-target=target.clone()
            class="mb-6 rounded-xl border border-line bg-surface p-4">
            <h2 id="promote-heading" tabindex="-1" class="font-medium">{heading}</h2>
            {move || {
                let of = of.clone();
                // A plan that cannot be made (not promotable from here, not committed yet)
                // is said in the panel; the rest of the page stays.
                match plan.get() {
                    None => view! { <p class="mt-2 text-sm text-muted">"Checking the gates…"</p> }.into_any(),
                    Some(Ok(p)) => plan_view(p, of, promote, close).into_any(),
                    Some(Err(e)) => view! {
                        <p role="alert" data-testid="promote-error" class="mt-2 text-sm text-red-800 dark:text-red-300">{e.to_string()}</p>
                        <button type="button" class="mt-2 rounded-md border border-control px-3 py-1.5 text-sm" on:click=move |_| close.run(())>"Close"</button>
                    }.into_any(),
                }
            }}
        </section>
    }
}

fn plan_view(
    plan: PromotionPlan,
    of: String,
    promote: ServerAction<Promote>,
    close: Callback<()>,
) -> impl IntoView {
    let target = plan.target.clone();
    let ready = plan.allowed && plan.problems.is_empty() && plan.preview.is_some();
    let what = match (plan.action, plan.write_mode) {
        (Action::Create, WriteMode::Direct) => {
            format!("A new claim in {target}, committed to its branch.")
        }
        (Action::Create, WriteMode::PullRequest) => {
            format!("A new claim in {target}, through a pull request.")
        }
        (_, WriteMode::Direct) => {
            format!("New values for the claim in {target}, committed to its branch.")
        }
        (_, WriteMode::PullRequest) => {
            format!("New values for the claim in {target}, through a pull request.")
        }
    };
    let gates = plan.gates.into_iter().map(|g| {
        let (mark, class) = if g.passed {
            ("✓", "text-emerald-800 dark:text-emerald-300")
        } else {
            ("✗", "text-red-800 dark:text-red-300")
        };
        view! {
            <li data-testid="gate" data-gate=g.gate.as_str() data-passed=g.passed.to_string() class="text-sm">
                <span class=format!("font-semibold {class}") aria-hidden="true">{mark}" "</span>
                <span class="sr-only">{if g.passed { "Passed: " } else { "Not passed: " }}</span>
                <span class="font-medium">{g.gate.label()}</span>
                <p class="text-xs text-secondary">{g.detail}</p>
            </li>
        }
    }).collect_view();
    let kept = (!plan.kept.is_empty()).then(|| {
        let items = plan.kept.into_iter().map(|k| {
            let from = match k.from {
                KeptFrom::Target => format!("kept as {target} has it"),
                KeptFrom::Default => "its default (new in this environment)".to_owned(),
                KeptFrom::Unset => "left unset (no default)".to_owned(),
            };
            let path = k.path.clone();
            view! { <li data-testid="kept" data-path=path><span class="font-mono">{k.path}</span>": "{from}</li> }
        }).collect_view();
        view! {
            <h3 class="mt-4 text-sm font-medium">"Environment-specific fields"</h3>
            <ul class="mt-1 list-disc pl-5 text-sm text-strong">{items}</ul>
        }
    });
    let problems = (!plan.problems.is_empty()).then(|| view! {
        <div role="alert" data-testid="promote-problems" class="mt-4 text-sm text-red-800 dark:text-red-300">
            <p class="font-medium">{format!("{target} does not accept these values:")}</p>
            <ul class="list-disc pl-5">{plan.problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
        </div>
    });
    let diff = plan.preview.and_then(|p| p.files.into_iter().next()).map(|file| view! {
        <h3 class="mt-4 text-sm font-medium">"Change to "<span data-testid="promote-path" class="font-mono">{file.path}</span></h3>
        <Diff lines=file.diff testid="promote-diff" />
    });
    let source = plan.source.id.clone();
    let token = plan.token.clone();
    view! {
        <p class="mt-1 text-sm text-secondary">{what}</p>
        <h3 class="mt-4 text-sm font-medium">"Gates"</h3>
        <ul data-testid="gates" class="mt-1 space-y-2">{gates}</ul>
        {kept}
        {problems}
        {diff}
        <div class="mt-4 flex flex-wrap items-center gap-2">
            <button type="button" data-testid="confirm-promote" disabled=move || !ready || promote.pending().get()
                aria-busy=move || promote.pending().get().to_string()
                class="rounded-md bg-action px-3 py-1.5 text-sm font-medium text-on-action disabled:opacity-50"
                on:click=move |_| {
                    promote.dispatch(Promote { of: of.clone(), target: target.clone(), token: Some(token.clone()) });
                }>
                {format!("Promote to {}", plan.target)}
            </button>
            <button type="button" class="rounded-md border border-control px-3 py-1.5 text-sm" on:click=move |_| close.run(())>"Cancel"</button>
            <span class="text-xs text-muted">{format!("from request {source}")}</span>
        </div>
        {move || promote.value().get().and_then(|r| r.err()).map(|e| view! {
            <p role="alert" data-testid="promote-error" class="mt-2 text-sm text-red-800 dark:text-red-300">{e.to_string()}</p>
        })}
    }
}

/// Whether a status message is about a request of the comparison `across` (a claim of it in
/// some environment, or a step of its chain): the comparison is then read again.
pub fn concerns(across: &ClaimAcross, message: &StatusMessage) -> bool {
    match message {
        StatusMessage::Claim { request_id, .. } | StatusMessage::Ledger { request_id, .. } => {
            across
                .stages
                .iter()
                .any(|s| s.request.as_ref().is_some_and(|r| r.id == *request_id))
                || across.lineage.iter().any(|r| r.id == *request_id)
        }
        StatusMessage::Cluster { .. } | StatusMessage::Reset => true,
    }
}

/// The claim of request `current` in every environment, side by side, and the request's
/// chain.
pub fn across_view(across: ClaimAcross, current: String) -> impl IntoView {
    let chain = (across.lineage.len() > 1).then(|| {
        let steps = across.lineage.into_iter().map(|r| {
            let here = r.id == current;
            let environment = r.environment.clone();
            let name = if here {
                view! { <span aria-current="page" class="font-medium">{r.environment.clone()}</span> }.into_any()
            } else {
                view! { <a href=format!("/requests/{}", r.id) class=LINK>{r.environment.clone()}</a> }.into_any()
            };
            view! {
                <li data-testid="lineage-step" data-environment=environment class="flex items-center gap-2 text-sm">
                    {name}
                    <StageBadge stage=r.stage />
                </li>
            }
        }).collect_view();
        view! {
            <h3 class="text-sm font-medium">"Promotion chain"</h3>
            <ol data-testid="lineage" class="mt-1 mb-4 flex flex-wrap items-center gap-x-4 gap-y-1">{steps}</ol>
        }
    });
    let rows = across.stages.into_iter().map(|stage| {
        let environment = stage.environment.clone();
        let request = stage.request.clone();
        let version = request.as_ref().map(|r| r.offering.rsplit_once('@').map_or(String::new(), |(_, v)| v.to_owned()));
        let link = request.as_ref().map(|r| {
            let verb = r.action.verb();
            view! { <a href=format!("/requests/{}", r.id) class=LINK>{verb}</a> }
        });
        let stage_badge = request.as_ref().map(|r| view! { <StageBadge stage=r.stage /> });
        let live = stage.live.clone().map(|l| view! { <HealthBadge health=l.health last_known=l.last_known /> });
        let differs = (!stage.differs.is_empty()).then(|| {
            let items = stage.differs.into_iter().map(|d| view! {
                <li><span class="font-mono">{d.path}</span>" = "<span class="font-mono">{d.value}</span></li>
            }).collect_view();
            view! { <ul class="space-y-0.5 text-xs">{items}</ul> }
        });
        let promote = request.as_ref().map(|r| r.id.clone()).map(|id| {
            stage.promotes_to.into_iter().map(|target| view! {
                <a href=format!("/requests/{id}?promote={target}") class=format!("{LINK} text-xs") data-testid="across-promote">
                    {format!("Promote to {target}")}
                </a>
            }).collect_view()
        });
        let from = stage.promote_from.clone().map(|f| view! { <span class="block text-xs text-muted">{format!("from {f}")}</span> });
        let (row_environment, present) = (environment.clone(), request.is_some().to_string());
        view! {
            <tr class="border-t border-line align-top" data-testid="across-row" data-environment=row_environment
                data-present=present>
                <th scope="row" class="px-3 py-2 text-left text-sm font-medium">{environment}{from}</th>
                <td class="px-3 py-2 text-sm">{link.map(IntoAny::into_any).unwrap_or_else(|| "—".into_any())}" "{stage_badge}</td>
                <td class="px-3 py-2 font-mono text-xs">{version.unwrap_or_default()}</td>
                <td class="px-3 py-2">{live}</td>
                <td class="px-3 py-2 [overflow-wrap:anywhere]">{differs}</td>
                <td class="px-3 py-2"><div class="flex flex-col gap-1">{promote}</div></td>
            </tr>
        }
    }).collect_view();
    view! {
        <section aria-labelledby="across-heading" data-testid="across" class="mt-8 rounded-xl border border-line bg-surface p-4">
            <h2 id="across-heading" class="mb-3 font-medium">"Across environments"</h2>
            {chain}
            <div class="relative overflow-x-auto">
                <table class="w-full">
                    <thead><tr>
                        <th scope="col" class="px-3 py-2 text-left text-xs font-medium uppercase tracking-wide text-muted">"Environment"</th>
                        <th scope="col" class="px-3 py-2 text-left text-xs font-medium uppercase tracking-wide text-muted">"Latest request"</th>
                        <th scope="col" class="px-3 py-2 text-left text-xs font-medium uppercase tracking-wide text-muted">"Version"</th>
                        <th scope="col" class="px-3 py-2 text-left text-xs font-medium uppercase tracking-wide text-muted">"In the cluster"</th>
                        <th scope="col" class="px-3 py-2 text-left text-xs font-medium uppercase tracking-wide text-muted">"Values that differ"</th>
                        <th scope="col" class="px-3 py-2 text-left text-xs font-medium uppercase tracking-wide text-muted"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
