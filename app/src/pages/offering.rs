//! One offering: its documentation and its request form, with preview (server-validated,
//! rendered, diffed against the repository) and server-side drafts.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{
    DiscardDraft, PreviewRequest, SaveDraft, SubmitChange, SubmitRequest, get_change_source,
    get_offering, load_draft,
};
use crate::catalog::{
    ENVIRONMENT_PATH, FieldKind, FileChange, NAME_PATH, OfferingDetail, Preview, RequestDraft,
    SavedDraft, TEAM_PATH, check_name, errors_by_path, initial_values,
};
use crate::components::diff::Diff;
use crate::components::focus::focus_after_render;
use crate::components::form::{FormState, fields_view};
use crate::components::island::go_to;
use crate::error::AppError;
use crate::requests::{Action as RequestAction, ChangeSource};

const INPUT: &str = "w-full rounded-md border border-control bg-surface px-2 py-1.5 text-sm aria-[invalid=true]:border-red-500";
const BUTTON: &str =
    "rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium disabled:opacity-50";
const SECONDARY: &str =
    "rounded-md border border-control px-3 py-1.5 text-sm font-medium hover:bg-subtle";

/// `/catalog/:id`: read on the server, handed to the form's island.
#[component]
pub fn OfferingPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    // `?edit=<request id>`: the form changes that request's claim instead of creating one.
    let edit = move || query.with(|q| q.get("edit")).filter(|e| !e.is_empty());
    let data = Resource::new(
        move || (id(), edit()),
        |(id, edit)| async move {
            let offering = get_offering(id.clone()).await?;
            let (draft, editing) = match edit {
                Some(of) => (None, Some(get_change_source(of).await?)),
                None => (load_draft(id).await?, None),
            };
            Ok::<_, AppError>((offering, draft, editing))
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                data.await.map(|(offering, draft, editing)| view! {
                    <Title text=offering.summary.title.clone() />
                    <OfferingView offering draft editing />
                })
            })}
        </Transition>
    }
}

/// The offering's page with its form: an island, loaded with its own chunk of WebAssembly
/// (the form engine is needed on these pages only).
#[island(lazy)]
fn OfferingView(
    offering: OfferingDetail,
    draft: Option<SavedDraft>,
    editing: Option<ChangeSource>,
) -> impl IntoView {
    let summary = offering.summary.clone();
    let restored = draft.as_ref().map(|d| d.saved_at.clone());
    let fixed = editing.is_some();
    let start = editing
        .as_ref()
        .map(|e| e.draft.clone())
        .or(draft.map(|d| d.draft))
        .unwrap_or_else(|| RequestDraft {
            offering: summary.id.clone(),
            environment: summary.environments.first().cloned().unwrap_or_default(),
            team: offering.my_teams.first().cloned().unwrap_or_default(),
            name: String::new(),
            values: initial_values(&offering.form.fields),
        });
    let state = FormState::new(start.values.clone(), offering.form.clone());
    let name = RwSignal::new(start.name.clone());
    let name_touched = RwSignal::new(false);
    let environment = RwSignal::new(start.environment.clone());
    let team = RwSignal::new(start.team.clone());
    let restored = RwSignal::new(restored);

    let offering_id = summary.id.clone();
    let current = move || RequestDraft {
        offering: offering_id.clone(),
        environment: environment.get_untracked(),
        team: team.get_untracked(),
        name: name.get_untracked(),
        values: state.values.get_untracked(),
    };

    let preview = ServerAction::<PreviewRequest>::new();
    let save = ServerAction::<SaveDraft>::new();
    let discard = ServerAction::<DiscardDraft>::new();
    let submit = ServerAction::<SubmitRequest>::new();
    let change = ServerAction::<SubmitChange>::new();
    let editing_of = editing.as_ref().map(|e| e.of.clone());
    // A taken submission opens its request page; refused values land at their fields.
    let submitted = move || submit.value().get().or_else(|| change.value().get());
    Effect::new(move |_| match submitted() {
        Some(Ok(submitted)) => go_to(&format!("/requests/{}", submitted.id)),
        Some(Err(AppError::Validation(errors))) => {
            state.server_errors.set(errors_by_path(&errors));
            // The keyboard goes where the work is: the first refused field, else the message.
            focus_after_render(
                r#"[data-testid="request-form"] [aria-invalid="true"], [data-testid="submit-error"]"#.to_owned(),
            );
        }
        Some(Err(_)) => focus_after_render(r#"[data-testid="submit-error"]"#.to_owned()),
        _ => {}
    });
    // The server's field errors land at their fields; other errors show above the buttons.
    Effect::new(move |_| {
        if let Some(Err(AppError::Validation(errors))) = preview.value().get() {
            state.server_errors.set(errors_by_path(&errors));
        } else if let Some(Ok(_)) = preview.value().get() {
            state.server_errors.set(BTreeMap::new());
            // The keyboard goes to what was asked for: the preview, read from its heading.
            focus_after_render(r#"[data-testid="preview"]"#.to_owned());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.value().get() {
            restored.set(Some(saved.saved_at));
        }
    });

    let name_error = move || {
        state
            .server_errors
            .with(|e| e.get(NAME_PATH).map(|m| m.join(" ")))
            .or_else(|| {
                name_touched
                    .get()
                    .then(|| check_name(&name.get()).err())
                    .flatten()
            })
    };

    let on_preview = {
        let current = current.clone();
        move |_| {
            name_touched.set(true);
            preview.dispatch(PreviewRequest { draft: current() });
        }
    };
    let on_submit = {
        let current = current.clone();
        let editing_of = editing_of.clone();
        move |_| {
            name_touched.set(true);
            match &editing_of {
                Some(of) => {
                    change.dispatch(SubmitChange {
                        of: of.clone(),
                        action: RequestAction::Update,
                        draft: Some(current()),
                    });
                }
                None => {
                    submit.dispatch(SubmitRequest { draft: current() });
                }
            }
        }
    };
    let on_save = {
        let current = current.clone();
        move |_| {
            save.dispatch(SaveDraft { draft: current() });
        }
    };
    let discard_id = summary.id.clone();
    let on_discard = move |_| {
        discard.dispatch(DiscardDraft {
            offering: discard_id.clone(),
        });
        restored.set(None);
    };

    let fields = fields_view(state, &offering.form.fields, "");
    let environments = summary.environments.clone();
    let teams = offering.my_teams.clone();
    let notes = offering.notes.clone();
    let policies = offering.policies.clone();
    let docs = schema_docs(&offering);

    view! {
        <header class="mb-6">
            <p class="text-sm"><a href="/catalog" class="text-indigo-700 hover:underline dark:text-indigo-300">"← Catalog"</a></p>
            <h1 class="mt-1 text-2xl font-semibold tracking-tight">{summary.title.clone()}</h1>
            <p class="mt-1 text-sm text-secondary">{summary.description.clone()}</p>
            <p class="mt-2 font-mono text-xs text-muted">{format!("{} {} · {} · version {} · owner {}", summary.api_version, summary.kind, summary.source.label(), summary.version, summary.owner)}</p>
        </header>
        <div class="grid gap-8 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
            <form class="space-y-5" on:submit=|ev| ev.prevent_default() data-testid="request-form">
                {editing.clone().map(|e| view! {
                    <div role="status" data-testid="editing" class="rounded-md bg-sky-50 p-2 text-sm text-sky-950 dark:bg-sky-950 dark:text-sky-100">
                        <p>{format!("Editing {} as it is in Git. Offering, environment, team and name stay as they are.", e.path)}</p>
                        {(!e.preserved.is_empty()).then(|| view! {
                            <p class="mt-1 text-xs">{format!("Kept as they are (not part of this form): {}", e.preserved.join(", "))}</p>
                        })}
                    </div>
                })}
                {move || restored.get().map(|at| view! {
                    <p role="status" data-testid="draft-restored" class="rounded-md bg-amber-50 p-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-200">
                        {format!("Draft saved {at}.")}
                    </p>
                })}
                <div class="grid gap-4 sm:grid-cols-2">
                    {choice(state, "request-environment", "Environment", environments, environment, ENVIRONMENT_PATH, fixed)}
                    {choice(state, "request-team", "Team", teams, team, TEAM_PATH, fixed)}
                </div>
                <p class="text-xs text-muted">"Fields marked " <span aria-hidden="true">"*"</span> " are required."</p>
                <div data-path="@name">
                    <label for="request-name" class="block text-sm font-medium">"Name"<span class="text-red-700 dark:text-red-400" aria-hidden="true">" *"</span><span class="sr-only">" (required)"</span></label>
                    <input id="request-name" class=format!("{INPUT} mt-1 font-mono") placeholder="e.g. orders-db" autocomplete="off" disabled=fixed
                        aria-required="true" aria-describedby=move || if name_error().is_some() { "request-name-help request-name-error" } else { "request-name-help" }
                        aria-invalid=move || name_error().is_some().to_string()
                        prop:value=move || name.get()
                        on:input=move |ev| {
                            name.set(event_target_value(&ev));
                            name_touched.set(true);
                            state.server_errors.update(|e| { e.remove(NAME_PATH); });
                        } />
                    <p id="request-name-help" class="mt-1 text-xs text-muted">"Lower-case letters, digits and '-', at most 63 characters."</p>
                    {move || name_error().map(|m| view! { <p id="request-name-error" role="alert" class="mt-1 text-xs text-red-700 dark:text-red-400" data-testid="field-error">{m}</p> })}
                </div>
                {fields}
                {move || match preview.value().get() {
                    Some(Err(AppError::Validation(errors))) => Some(view! {
                        <p role="alert" class="text-sm text-red-700 dark:text-red-400">{format!("{} value(s) need attention (marked above).{}", errors.len(), unplaced(&errors))}</p>
                    }.into_any()),
                    Some(Err(other)) => Some(view! { <p role="alert" class="text-sm text-red-700 dark:text-red-400">{other.to_string()}</p> }.into_any()),
                    _ => None,
                }}
                <div class="flex flex-wrap gap-2">
                    <button type="button" class=BUTTON on:click=on_preview disabled=move || preview.pending().get()>"Preview"</button>
                    <button type="button" class=BUTTON data-testid="submit-request" on:click=on_submit disabled=move || submit.pending().get() || change.pending().get()>{if fixed { "Submit change" } else { "Submit request" }}</button>
                    <button type="button" class=SECONDARY on:click=on_save disabled=move || save.pending().get()>"Save draft"</button>
                    {move || restored.get().is_some().then(|| view! {
                        <button type="button" class=SECONDARY on:click=on_discard.clone()>"Discard draft"</button>
                    })}
                </div>
                {move || save.value().get().and_then(|r| r.err()).map(|e| view! { <p role="alert" class="text-sm text-red-700">{e.to_string()}</p> })}
                {move || match submitted() {
                    Some(Err(AppError::Validation(errors))) => Some(view! {
                        <p role="alert" tabindex="-1" data-testid="submit-error" class="text-sm text-red-700 dark:text-red-400">{format!("Not submitted: {} value(s) need attention (marked above).{}", errors.len(), unplaced(&errors))}</p>
                    }.into_any()),
                    Some(Err(other)) => Some(view! { <p role="alert" tabindex="-1" data-testid="submit-error" class="text-sm text-red-700 dark:text-red-400">{format!("Not submitted: {other}")}</p> }.into_any()),
                    _ => None,
                }}
            </form>
            <aside class="space-y-6">
                {move || preview.value().get().and_then(|r| r.ok()).map(preview_view)}
                {(!notes.is_empty()).then(|| view! {
                    <section class="rounded-xl border border-line bg-surface p-4 text-sm">
                        <h2 class="mb-2 font-medium">"Checked by the cluster"</h2>
                        <ul class="list-disc space-y-1 pl-5 text-secondary">
                            {notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
                        </ul>
                    </section>
                })}
                {(!policies.is_empty()).then(|| view! {
                    <section data-testid="policies" class="rounded-xl border border-line bg-surface p-4 text-sm">
                        <h2 class="mb-2 font-medium">"Platform policies"</h2>
                        <ul class="space-y-2">
                            {policies.into_iter().map(|p| {
                                let scope = match (p.environments.is_empty(), p.teams.is_empty()) {
                                    (true, true) => "everywhere".to_owned(),
                                    (false, true) => format!("in {}", p.environments.join(", ")),
                                    (true, false) => format!("for {}", p.teams.join(", ")),
                                    (false, false) => format!("in {} for {}", p.environments.join(", "), p.teams.join(", ")),
                                };
                                view! {
                                    <li>
                                        <p><span class="font-medium">{p.name}</span>{format!(" — {scope}")}</p>
                                        {(!p.description.is_empty()).then(|| view! { <p class="text-strong">{p.description}</p> })}
                                        <ul class="list-disc pl-5 text-strong">
                                            {p.asks.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}
                                        </ul>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </section>
                })}
                {docs}
            </aside>
        </div>
    }
}

/// A select for one of the request's own settings (environment, team), with the server's
/// error for it (reported at `path`, e.g. `@team`).
fn choice(
    state: FormState,
    id: &'static str,
    label: &'static str,
    options: Vec<String>,
    selected: RwSignal<String>,
    path: &'static str,
    fixed: bool,
) -> impl IntoView {
    let error = move || {
        state
            .server_errors
            .with(|e| e.get(path).map(|m| m.join(" ")))
    };
    view! {
        <div data-path=path>
            <label for=id class="block text-sm font-medium">{label}</label>
            <select id=id class=format!("{INPUT} mt-1") prop:value=move || selected.get() disabled=fixed
                aria-invalid=move || error().is_some().to_string()
                aria-describedby=move || error().map(|_| format!("{id}-error"))
                on:change=move |ev| selected.set(event_target_value(&ev))>
                {options.into_iter().map(|o| view! { <option value=o.clone()>{o.clone()}</option> }).collect_view()}
            </select>
            {move || error().map(|m| view! { <p id=format!("{id}-error") role="alert" class="mt-1 text-xs text-red-700 dark:text-red-400" data-testid="field-error">{m}</p> })}
        </div>
    }
}

/// Problems with the values as a whole (no field to show them at), as a sentence to append.
fn unplaced(errors: &[crate::catalog::FieldError]) -> String {
    errors
        .iter()
        .filter(|e| e.path.is_empty())
        .map(|e| format!(" {}", e.message))
        .collect()
}

fn preview_view(preview: Preview) -> impl IntoView {
    let fills = (!preview.cluster_fills.is_empty()).then(|| {
        view! {
            <div data-testid="cluster-fills" class="mt-3 text-xs">
                <h3 class="font-medium">"What the cluster adds when it stores the claim"</h3>
                <ul class="mt-1 list-disc pl-5 font-mono">
                    {preview.cluster_fills.iter().map(|fill| {
                        let text = match &fill.value {
                            Some(value) => format!("{} = {} (default)", fill.path, value),
                            None => format!("{}: null dropped (not allowed there)", fill.path),
                        };
                        view! { <li>{text}</li> }
                    }).collect_view()}
                </ul>
            </div>
        }
    });
    view! {
        <section data-testid="preview" tabindex="-1" aria-labelledby="preview-title" class="rounded-xl border border-line bg-surface p-4 outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
            <h2 id="preview-title" class="font-medium">"Preview"</h2>
            <p class="text-xs text-muted">{format!("Compared with the repository at {}", if preview.base.is_empty() { "(empty)".to_owned() } else { preview.base.clone() })}</p>
            {fills}
            {preview.files.into_iter().map(|file| {
                let (badge, class) = match file.change {
                    FileChange::New => ("New file", "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200"),
                    FileChange::Changed => ("Changed", "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200"),
                    FileChange::Unchanged => ("Unchanged", "bg-subtle text-strong"),
                };
                view! {
                    <div class="mt-3">
                        <p class="flex items-center gap-2 font-mono text-xs">
                            <span data-testid="preview-change" class=format!("rounded px-1.5 py-0.5 font-sans {class}")>{badge}</span>
                            <span data-testid="preview-path">{file.path.clone()}</span>
                        </p>
                        <Diff lines=file.diff testid="preview-diff" />
                        <details class="mt-2 text-xs">
                            <summary class="cursor-pointer">"Full file"</summary>
                            <pre class="mt-1 overflow-auto rounded bg-canvas p-2 font-mono">{file.content.clone()}</pre>
                        </details>
                    </div>
                }
            }).collect_view()}
        </section>
    }
}

/// The schema as documentation: every field with its type, constraints and help.
fn schema_docs(offering: &OfferingDetail) -> impl IntoView + use<> {
    fn rows(
        fields: &[crate::catalog::Field],
        prefix: &str,
        out: &mut Vec<(String, String, String)>,
    ) {
        for f in fields {
            let path = if prefix.is_empty() {
                f.key.clone()
            } else {
                format!("{prefix}.{}", f.key)
            };
            let kind = match &f.kind {
                FieldKind::Text { choices, .. } if !choices.is_empty() => {
                    format!("one of {}", choices.join(", "))
                }
                FieldKind::Text { .. } => "text".into(),
                FieldKind::Integer {
                    minimum, maximum, ..
                } => bounds("integer", minimum, maximum),
                FieldKind::Number {
                    minimum, maximum, ..
                } => bounds("number", minimum, maximum),
                FieldKind::Boolean => "yes/no".into(),
                FieldKind::IntOrString { .. } => "number or text".into(),
                FieldKind::Object { .. } => "group".into(),
                FieldKind::List { .. } => "list".into(),
                FieldKind::Map { .. } => "key/value map".into(),
                FieldKind::Any => "any (JSON)".into(),
            };
            let kind = if f.required {
                format!("{kind}, required")
            } else {
                kind
            };
            out.push((path.clone(), kind, f.description.clone()));
            match &f.kind {
                FieldKind::Object { fields } => rows(fields, &path, out),
                FieldKind::List { item, .. } => {
                    rows(std::slice::from_ref(&**item), &format!("{path}[]"), out)
                }
                _ => {}
            }
        }
    }
    fn bounds(name: &str, min: &Option<f64>, max: &Option<f64>) -> String {
        match (min, max) {
            (Some(a), Some(b)) => format!("{name} {a}–{b}"),
            (Some(a), None) => format!("{name} ≥ {a}"),
            (None, Some(b)) => format!("{name} ≤ {b}"),
            (None, None) => name.to_owned(),
        }
    }
    let mut out = Vec::new();
    rows(&offering.form.fields, "", &mut out);
    view! {
        <section class="rounded-xl border border-line bg-surface p-4 text-sm" data-testid="schema-docs">
            <h2 class="mb-2 font-medium">"Fields"</h2>
            <dl class="space-y-2">
                {out.into_iter().map(|(path, kind, help)| view! {
                    <div>
                        <dt class="font-mono text-xs">{path}<span class="ml-2 font-sans text-muted">{kind}</span></dt>
                        <dd class="text-xs text-secondary">{help}</dd>
                    </div>
                }).collect_view()}
            </dl>
        </section>
    }
}
