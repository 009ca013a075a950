//! Administration: facts about the running portal (administrators only).

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{
    AbandonGitJob, DeactivateUser, ReactivateUser, RetryGitJob, get_system_info, list_git_jobs,
    list_users,
};
use crate::components::island::Held;
use crate::components::page::{EmptyState, PageHeader, loaded};
use crate::domain::{SystemInfo, UserSummary};
use crate::requests::GitJob;

/// `/admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_system_info());
    view! {
        <PageHeader title="Admin" lead="The running portal: version, storage, GitOps repository and login mode." />
        <p class="mb-4 flex gap-4 text-sm">
            <A href="/admin/audit" attr:class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Audit log →"</A>
            <A href="/admin/git" attr:class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Git jobs →"</A>
            <A href="/admin/users" attr:class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Users →"</A>
        </p>
        {loaded(info, system_table)}
    }
}

fn system_table(info: SystemInfo) -> impl IntoView {
    let rows = [
        ("Version", info.version),
        ("Database backend", info.database_backend),
        ("Migrations applied", info.migrations_applied.to_string()),
        ("GitOps repository", info.gitops_repository),
        (
            "Development login",
            if info.dev_login {
                "on".into()
            } else {
                "off".into()
            },
        ),
    ];
    view! {
        <dl data-testid="system-info" class="divide-y divide-line rounded-xl border border-line bg-surface">
            {rows.into_iter().map(|(k, v)| view! {
                <div class="grid grid-cols-3 gap-4 px-4 py-3 text-sm">
                    <dt class="font-medium text-secondary">{k}</dt>
                    <dd class="col-span-2 break-all font-mono">{v}</dd>
                </div>
            }).collect_view()}
        </dl>
    }
}

/// `/admin/git`: Git jobs that failed, or that the writer keeps retrying, with what the
/// remote said; failed ones can be sent back, pending ones given up on (both audited).
#[component]
pub fn GitJobsPage() -> impl IntoView {
    let jobs = Resource::new(|| (), |_| list_git_jobs());
    view! {
        <PageHeader title="Git jobs" lead="Requests the Git writers could not write: failed ones, and those still being retried, with what the remote said." />
        {loaded(jobs, |jobs| view! { <GitJobs jobs /> })}
    }
}

/// The jobs with their actions, read again after each one.
#[island(lazy)]
fn GitJobs(jobs: Vec<GitJob>) -> impl IntoView {
    let retry = ServerAction::<RetryGitJob>::new();
    let abandon = ServerAction::<AbandonGitJob>::new();
    let jobs = Held::new(jobs);
    jobs.reload_after([retry.version(), abandon.version()], list_git_jobs);
    let outcome = move || {
        [retry.value().get(), abandon.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .map(|e| view! { <p role="alert" class="mb-4 text-sm text-red-700 dark:text-red-400">{e.to_string()}</p> })
    };
    view! {
        {outcome}
        {move || jobs_table(jobs.get(), retry, abandon)}
    }
}

fn jobs_table(
    jobs: Vec<GitJob>,
    retry: ServerAction<RetryGitJob>,
    abandon: ServerAction<AbandonGitJob>,
) -> impl IntoView {
    if jobs.is_empty() {
        return view! {
            <EmptyState title="Nothing to look at">
                <p>"Every request reached Git, or is on its first attempt."</p>
            </EmptyState>
        }
        .into_any();
    }
    view! {
        <div class="overflow-x-auto rounded-xl border border-line bg-surface">
            <table data-testid="git-jobs" class="min-w-full text-left text-sm">
                <caption class="sr-only">"Failed and retried Git jobs, newest first"</caption>
                <thead class="border-b border-line text-xs uppercase tracking-wide text-muted">
                    <tr>
                        <th scope="col" class="px-4 py-2">"Request"</th>
                        <th scope="col" class="px-4 py-2">"Repository and file"</th>
                        <th scope="col" class="px-4 py-2">"State"</th>
                        <th scope="col" class="px-4 py-2">"What the remote said"</th>
                        <th scope="col" class="px-4 py-2">"Action"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-line">
                    {jobs.into_iter().map(|job| {
                        let id = job.request.id.clone();
                        let state = if job.failed {
                            format!("failed after {} attempt(s)", job.attempts)
                        } else {
                            format!("{} attempt(s), {} refused; next at {}", job.attempts, job.refusals, job.next_attempt_at.clone().unwrap_or_default())
                        };
                        let link = format!("/requests/{id}");
                        let action = if job.failed {
                            view! {
                                <ActionForm action=retry>
                                    <input type="hidden" name="id" value=id.clone() />
                                    <button type="submit" data-testid="retry-job" class="rounded-md border border-control px-3 py-1 text-sm">"Retry"</button>
                                </ActionForm>
                            }.into_any()
                        } else {
                            view! {
                                <ActionForm action=abandon>
                                    <input type="hidden" name="id" value=id.clone() />
                                    <label class="sr-only" for=format!("reason-{id}")>"Reason"</label>
                                    <input id=format!("reason-{id}") name="reason" required placeholder="reason" class="mr-2 rounded-md border border-control bg-surface px-2 py-1 text-sm" />
                                    <button type="submit" data-testid="abandon-job" class="rounded-md border border-red-300 px-3 py-1 text-sm text-red-800 dark:border-red-800 dark:text-red-300">"Abandon"</button>
                                </ActionForm>
                            }.into_any()
                        };
                        view! {
                            <tr data-testid="git-job" data-request=job.request.id.clone()>
                                <td class="px-4 py-2">
                                    <a class="text-indigo-700 hover:underline dark:text-indigo-300" href=link>
                                        {format!("{} {} {}/{}", job.request.action.verb(), job.request.kind, job.request.team, job.request.name)}
                                    </a>
                                </td>
                                <td class="px-4 py-2 font-mono text-xs">{format!("{} {}", job.repository, job.path)}</td>
                                <td class="px-4 py-2">{state}</td>
                                <td class="max-w-md break-words px-4 py-2 text-xs">{job.last_error.unwrap_or_default()}</td>
                                <td class="px-4 py-2">{action}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// `/admin/users`: everyone who has signed in, with their teams (as the identity provider
/// gave them at their last sign-in), sessions and tokens; deactivating one ends their
/// sessions and revokes their tokens at once.
#[component]
pub fn UsersPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_users());
    view! {
        <PageHeader title="Users" lead="Everyone who has signed in. Teams come from the identity provider at each sign-in; deactivating someone ends their sessions and revokes their API tokens at once, and refuses their sign-in until they are reactivated." />
        {loaded(users, |users| view! { <Users users /> })}
    }
}

/// The users with their actions, read again after each one.
#[island(lazy)]
fn Users(users: Vec<UserSummary>) -> impl IntoView {
    let deactivate = ServerAction::<DeactivateUser>::new();
    let reactivate = ServerAction::<ReactivateUser>::new();
    let users = Held::new(users);
    users.reload_after([deactivate.version(), reactivate.version()], list_users);
    let outcome = move || {
        [deactivate.value().get(), reactivate.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .map(|e| view! { <p role="alert" class="mb-4 text-sm text-red-700 dark:text-red-400">{e.to_string()}</p> })
    };
    view! {
        {outcome}
        {move || users_table(users.get(), deactivate, reactivate)}
    }
}

fn users_table(
    users: Vec<UserSummary>,
    deactivate: ServerAction<DeactivateUser>,
    reactivate: ServerAction<ReactivateUser>,
) -> impl IntoView {
    view! {
        <div class="overflow-x-auto rounded-xl border border-line bg-surface">
            <table data-testid="users" class="min-w-full text-left text-sm">
                <caption class="sr-only">"Users, most recently signed in first"</caption>
                <thead class="border-b border-line text-xs uppercase tracking-wide text-muted">
                    <tr>
                        <th scope="col" class="px-4 py-2">"User"</th>
                        <th scope="col" class="px-4 py-2">"Teams"</th>
                        <th scope="col" class="px-4 py-2">"Last sign-in"</th>
                        <th scope="col" class="px-4 py-2">"Sessions"</th>
                        <th scope="col" class="px-4 py-2">"Tokens"</th>
                        <th scope="col" class="px-4 py-2">"State"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-line">
                    {users.into_iter().map(|user| {
                        let id = user.id.clone();
                        let label = format!("{} ({})", user.name, if user.email.is_empty() { &user.id } else { &user.email });
                        let action = match &user.deactivated_at {
                            None => view! {
                                <ActionForm action=deactivate>
                                    <input type="hidden" name="id" value=id.clone() />
                                    <button type="submit" data-testid="deactivate-user" aria-label=format!("Deactivate {label}") class="rounded-md border border-red-300 px-3 py-1 text-sm text-red-800 dark:border-red-800 dark:text-red-300">"Deactivate"</button>
                                </ActionForm>
                            }.into_any(),
                            Some(at) => view! {
                                <span class="mr-2 text-xs">{format!("deactivated {at}")}</span>
                                <ActionForm action=reactivate>
                                    <input type="hidden" name="id" value=id.clone() />
                                    <button type="submit" data-testid="reactivate-user" aria-label=format!("Reactivate {label}") class="rounded-md border border-control px-3 py-1 text-sm">"Reactivate"</button>
                                </ActionForm>
                            }.into_any(),
                        };
                        let role = if user.is_admin { " · administrator" } else { "" };
                        view! {
                            <tr data-testid="user" data-user=user.id.clone()>
                                <td class="px-4 py-2">
                                    <span class="font-medium">{user.name.clone()}</span>
                                    <span class="block text-xs">{format!("{} · {}{role}", user.email, user.source)}</span>
                                </td>
                                <td class="px-4 py-2">{user.teams.join(", ")}</td>
                                <td class="px-4 py-2 font-mono text-xs">{user.last_login_at}</td>
                                <td class="px-4 py-2">{user.sessions}</td>
                                <td class="px-4 py-2">{user.tokens}</td>
                                <td class="px-4 py-2">{action}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
