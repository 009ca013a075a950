//! Adoption metrics derived from the request ledger: the platform overview (`/metrics`), one
//! offering (`/metrics/offerings/:id`) and one team (`/metrics/teams/:team`). Every chart has
//! its table beside it, and every table a CSV export.

use crate::components::filter::FilterForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_dashboard;
use crate::components::chart::{BarChart, ColumnChart, Mark, ShareBar, date};
use crate::components::page::EmptyState;
use crate::metrics::{Dashboard, GroupRow, MetricsQuery, PERIODS, human_duration, percent};
use crate::pages::login::encode_component;

const INPUT: &str = "rounded-md border border-control bg-surface px-2 py-1.5 text-sm";
const CARD: &str = "rounded-xl border border-line bg-surface p-4";
/// A table of figures: its header and data cells get their look from the `data-table` class (see
/// style/tailwind.css), not from a class list on each cell.
const TABLE: &str = "data-table w-full";

/// Rows of each long table on a dashboard's first view (a platform of 60 teams has 180 rows of
/// DORA figures per team and environment); the rest one link away, and in the table's CSV.
const PAGE_ROWS: u32 = 25;

/// What a dashboard page is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Focus {
    Platform,
    Offering,
    Team,
}

/// `/metrics`.
#[component]
pub fn MetricsPage() -> impl IntoView {
    view! { <MetricsDashboard focus=Focus::Platform /> }
}

/// `/metrics/offerings/:id`.
#[component]
pub fn OfferingMetricsPage() -> impl IntoView {
    view! { <MetricsDashboard focus=Focus::Offering /> }
}

/// `/metrics/teams/:team`.
#[component]
pub fn TeamMetricsPage() -> impl IntoView {
    view! { <MetricsDashboard focus=Focus::Team /> }
}

#[component]
fn MetricsDashboard(focus: Focus) -> impl IntoView {
    let query_map = use_query_map();
    let params = use_params_map();
    let query = Memo::new(move |_| {
        let q = query_map.get();
        let p = params.get();
        let days = q.get("days").and_then(|d| d.parse().ok());
        let pick = |value: Option<String>| value.filter(|v| !v.is_empty());
        // The first view shows the heaviest rows of each long table; `rows=all` every row.
        let rows = (q.get("rows").as_deref() != Some("all")).then_some(PAGE_ROWS);
        match focus {
            Focus::Platform => MetricsQuery {
                days,
                team: pick(q.get("team")),
                offering: None,
                rows,
            },
            Focus::Offering => MetricsQuery {
                days,
                team: pick(q.get("team")),
                offering: pick(p.get("id")),
                rows,
            },
            Focus::Team => MetricsQuery {
                days,
                team: pick(p.get("team")),
                offering: None,
                rows,
            },
        }
    });
    let dashboard = Resource::new(move || query.get(), get_dashboard);
    // The page's title names an offering by its title once the dashboard (which carries it)
    // is there; until then, and for the other focuses, by what the address says.
    let plain = move || match focus {
        Focus::Platform => "Metrics".to_owned(),
        Focus::Offering => format!("Metrics · {}", query.get().offering.unwrap_or_default()),
        Focus::Team => format!("Metrics · team {}", query.get().team.unwrap_or_default()),
    };
    let lead = match focus {
        Focus::Platform => {
            "Adoption, time to ready, success and DORA measures, computed exactly from the request ledger."
        }
        Focus::Offering => "How this offering is used and how fast and reliably it gets to Ready.",
        Focus::Team => "This team's requests, speed and DORA measures.",
    };
    view! {
        <header class="mb-4">
            <p class="text-sm"><A href="/metrics" attr:class="text-sky-700 hover:underline dark:text-sky-400">"Metrics"</A></p>
            <Transition fallback=move || view! { <h1 class="text-2xl font-semibold tracking-tight">{plain}</h1> }>
                {move || Suspend::new(async move {
                    // By reference: the title needs one name, not a copy of the dashboard.
                    let named = dashboard
                        .by_ref()
                        .await
                        .as_ref()
                        .ok()
                        .and_then(|d| d.offering.as_ref().map(|o| d.title(o).to_owned()));
                    let text = match named {
                        Some(name) if focus == Focus::Offering => format!("Metrics · {name}"),
                        _ => plain(),
                    };
                    view! {
                        <Title text=text.clone() />
                        <h1 class="text-2xl font-semibold tracking-tight">{text}</h1>
                    }
                })}
            </Transition>
            <p class="mt-1 text-sm text-secondary">{lead}</p>
        </header>
        <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let every_row = query.with_untracked(|q| q.rows.is_none());
                dashboard.await.map(|mut d| {
                    let teams = std::mem::take(&mut d.teams_available);
                    view! {
                        <Filters days=d.days from=d.from to=d.to team=d.team.clone().unwrap_or_default() teams=teams every_row=every_row focus=focus />
                        <DashboardBody dashboard=d />
                    }
                })
            })}
        </Transition>
    }
}

/// The period and team choice; `from` and `to` are the period's bounds (Unix ms).
#[component]
fn Filters(
    days: u32,
    from: i64,
    to: i64,
    team: String,
    teams: Vec<String>,
    /// The page shows every row (`rows=all`): another period or team keeps doing so.
    every_row: bool,
    focus: Focus,
) -> impl IntoView {
    let team_filter = (focus != Focus::Team).then(|| {
        view! {
            <label class="flex flex-col gap-1 text-xs font-medium">"Team"
                <select name="team" class=INPUT>
                    <option value="" selected=team.is_empty()>"all I can see"</option>
                    {teams.into_iter().map(|t| {
                        let selected = t == team;
                        view! { <option value=t.clone() selected=selected>{t.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    });
    view! {
        <FilterForm>
            <div class="mb-6 flex flex-wrap items-end gap-3" role="search" aria-label="Choose the period and team">
                <label class="flex flex-col gap-1 text-xs font-medium">"Period"
                    <select name="days" class=INPUT>
                        {PERIODS.into_iter().map(|d| view! {
                            <option value=d.to_string() selected=d == days>{format!("last {d} days")}</option>
                        }).collect_view()}
                    </select>
                </label>
                {team_filter}
                {every_row.then(|| view! { <input type="hidden" name="rows" value="all" /> })}
                <button type="submit" class="rounded-md bg-action text-on-action px-3 py-1.5 text-sm font-medium">"Show"</button>
                <p class="text-xs text-muted">
                    {format!("{} to {} (UTC)", date(from), date(to - 1))}
                </p>
            </div>
        </FilterForm>
    }
}

fn ms(value: Option<i64>) -> String {
    value.map_or_else(|| "—".to_owned(), human_duration)
}

fn share(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), percent)
}

/// `1 restore`, `2 restores`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn rating(value: Option<f64>) -> String {
    value.map_or_else(
        || "—".to_owned(),
        |r| format!("{} / 5", crate::metrics::one_decimal(r)),
    )
}

#[component]
fn Figure(label: &'static str, value: String, #[prop(optional)] note: String) -> impl IntoView {
    view! {
        <div class=CARD data-testid="figure" data-label=label>
            <dt class="text-xs font-medium text-muted">{label}</dt>
            <dd class="mt-1 text-2xl font-semibold tabular-nums" data-testid="figure-value">{value}</dd>
            <dd class="mt-0.5 text-xs text-muted">{note}</dd>
        </div>
    }
}

/// The query string (without `?`) that asks for the same figures as `dashboard`.
fn same_figures(dashboard: &Dashboard) -> String {
    let mut parts = vec![format!("days={}", dashboard.days)];
    for (name, value) in [("team", &dashboard.team), ("offering", &dashboard.offering)] {
        if let Some(value) = value {
            parts.push(format!("{name}={}", encode_component(value)));
        }
    }
    parts.join("&")
}

/// The note under a long table: which of its rows the page shows, and a link to the other view
/// (every row, or the heaviest again) that comes back to the same panel.
struct RowsNote {
    text: String,
    link: String,
    href: String,
}

/// The note for `table` (showing `shown` rows) when it is long: cut to its heaviest rows, or
/// shown whole after `rows=all`. `noun` names its rows; `pick(n)` says which `n` a cut keeps.
fn rows_note(
    dashboard: &Dashboard,
    query: &str,
    table: &'static str,
    shown: usize,
    noun: &str,
    pick: fn(usize) -> String,
) -> Option<RowsNote> {
    match dashboard.cut.get(table) {
        Some(&total) => Some(RowsNote {
            text: format!("Showing the {}, of {total}. ", pick(shown)),
            link: format!("Show all {total} {noun}"),
            href: format!("?{query}&rows=all#panel-{table}"),
        }),
        None if shown > PAGE_ROWS as usize => Some(RowsNote {
            text: format!("Showing all {shown} {noun}. "),
            link: format!("Show the {} only", pick(PAGE_ROWS as usize)),
            href: format!("?{query}#panel-{table}"),
        }),
        None => None,
    }
}

/// A section with a heading, a CSV link for its table, and its content; when the table is
/// shown in part, a note saying so with a link to all of it.
#[component]
fn Panel(
    title: &'static str,
    table: &'static str,
    query: String,
    #[prop(default = None)] rows: Option<RowsNote>,
    children: Children,
) -> impl IntoView {
    let href = format!("/api/metrics/export/{table}?{query}");
    // Underlined: inside a sentence, colour alone would not tell the link (WCAG 1.4.1).
    let rows = rows.map(|note| {
        view! {
            <p class="mt-2 text-xs text-muted" data-testid=format!("rows-{table}")>
                {note.text}
                <a href=note.href class="font-medium text-sky-700 underline dark:text-sky-400">{note.link}</a>
            </p>
        }
    });
    view! {
        // `min-w-0`: in a grid a card would otherwise grow to its widest table. The content
        // scrolls inside the card when it is wider (a table at 400 % zoom), never the page.
        <section class=format!("{CARD} mb-6 min-w-0") id=format!("panel-{table}") data-testid=format!("panel-{table}")>
            <div class="mb-3 flex items-center justify-between gap-2">
                <h2 class="text-base font-semibold">{title}</h2>
                <a href=href download="" rel="external" data-testid=format!("csv-{table}") class="text-xs font-medium text-sky-700 hover:underline dark:text-sky-400">"Download CSV"</a>
            </div>
            <div class="overflow-x-auto">{children()}</div>
            {rows}
        </section>
    }
}

#[component]
fn DashboardBody(dashboard: Dashboard) -> impl IntoView {
    let query = same_figures(&dashboard);
    let s = &dashboard.summary;
    if s.requests == 0 && s.deployments == 0 && s.restores == 0 && dashboard.failures.is_empty() {
        return view! {
            <EmptyState title="Nothing to measure in this period">
                <p>"Figures appear once requests have gone through the portal. Try a longer period."</p>
            </EmptyState>
        }
        .into_any();
    }
    let week_marks: Vec<Mark> = dashboard
        .weeks
        .iter()
        .map(|w| Mark {
            label: date(w.start)[5..].to_owned(),
            value: w.requests as f64,
            shown: format!("{} requests", w.requests),
        })
        .collect();
    let ready_marks: Vec<Mark> = dashboard
        .offerings
        .iter()
        .filter_map(|g| {
            g.ready_p50_ms.map(|p50| Mark {
                label: dashboard.title(&g.key).to_owned(),
                value: p50 as f64,
                shown: human_duration(p50),
            })
        })
        .collect();
    let team_marks: Vec<Mark> = dashboard
        .teams
        .iter()
        .map(|g| Mark {
            label: g.key.clone(),
            value: g.requests as f64,
            shown: g.requests.to_string(),
        })
        .collect();
    let stage_marks: Vec<Mark> = dashboard
        .stages
        .iter()
        .map(|st| Mark {
            label: st.stage.clone(),
            value: st.share.unwrap_or(0.0),
            shown: share(st.share),
        })
        .collect();
    let note = |table, shown, noun, pick| rows_note(&dashboard, &query, table, shown, noun, pick);
    let offerings_note = note("offerings", dashboard.offerings.len(), "offerings", |n| {
        format!("{n} offerings with the most requests")
    });
    let teams_note = note("teams", dashboard.teams.len(), "teams", |n| {
        format!("{n} teams with the most requests")
    });
    let environments_note = note(
        "environments",
        dashboard.environments.len(),
        "environments",
        |n| format!("{n} environments with the most requests"),
    );
    let dora_note = note("dora", dashboard.dora.len(), "rows", |n| {
        format!("{n} rows with the most deployments and restores")
    });
    let promotions_note = note("promotions", dashboard.promotions.len(), "rows", |n| {
        format!("{n} rows with the most promotions and refusals")
    });
    let feedback_note = note("feedback", dashboard.feedback.len(), "comments", |n| {
        format!("{n} newest comments")
    });
    // A chart drawn from a cut table says so in its title (read out as the image's name).
    let of_all = |table: &str, shown: usize| {
        dashboard.cut.get(table).map_or_else(String::new, |total| {
            format!(": the {shown} with the most requests, of {total}")
        })
    };
    let offerings_chart = format!(
        "Median time to ready per offering{}",
        of_all("offerings", dashboard.offerings.len())
    );
    let teams_chart = format!(
        "Requests per team{}",
        of_all("teams", dashboard.teams.len())
    );
    // The dashboard is this page's own copy: its parts move into the view, none is copied.
    let Dashboard {
        summary: s,
        weeks,
        offerings,
        teams,
        environments,
        stages,
        failures,
        dora,
        feedback,
        promotions,
        refusals,
        titles,
        days,
        ..
    } = dashboard;
    let self_service = s.self_service.map(|ss| {
        view! {
            <Figure
                label="Self-service share"
                value=share(ss.share)
                note=format!("{} of {} commits to GitOps paths via Slipway{}", ss.through_slipway, ss.through_slipway + ss.out_of_band,
                    if ss.unreadable.is_empty() { String::new() } else { format!(" ({} repositories unreadable)", ss.unreadable.len()) })
            />
        }
    });
    // Built before the view: a panel's content is a closure that would take `titles` for itself.
    let offering_table = group_table("Offering", "table-offerings", offerings, &titles, |key| {
        Some(format!("/metrics/offerings/{key}"))
    });
    let promotion_rows = promotions
        .into_iter()
        .map(|p| {
            let title = titles.get(&p.offering).cloned().unwrap_or_else(|| p.offering.clone());
            let (team, offering) = (p.team.clone(), p.offering.clone());
            view! {
                <tr data-testid="promotion-row" data-team=team data-offering=offering>
                    <td>{p.team}</td><td class="[overflow-wrap:anywhere]">{title}</td><td>{p.promotions}</td>
                    <td>{p.ready}</td><td>{ms(p.lead_time_p50_ms)}</td><td>{p.refusals}</td>
                </tr>
            }
        })
        .collect_view();
    let feedback_items = feedback
        .into_iter()
        .map(|f| {
            view! {
                <li class="text-sm">
                    <span class="font-medium" aria-label=format!("rated {} of 5", f.rating)>{"★".repeat(usize::from(f.rating))}{"☆".repeat(5 - usize::from(f.rating.min(5)))}</span>
                    " "<span class="text-xs text-muted">{format!("{} · {} · {}", titles.get(&f.offering).unwrap_or(&f.offering), f.team, date(f.at))}</span>
                    <p class="break-words text-strong">{f.comment}</p>
                </li>
            }
        })
        .collect_view();
    view! {
        <dl class="mb-6 grid grid-cols-2 gap-3 md:grid-cols-4" data-testid="summary">
            <Figure label="Requests" value=s.requests.to_string() note=format!("{} succeeded, {} failed", s.succeeded, s.failed) />
            <Figure label="Success rate" value=share(s.success_rate) note="of requests that settled".to_owned() />
            <Figure label="Time to ready (p50)" value=ms(s.ready_p50_ms) note=format!("p90 {}", ms(s.ready_p90_ms)) />
            <Figure label="Active teams" value=s.active_teams.to_string()
                note=format!("{} of {} known teams; {} people", share((s.known_teams > 0).then(|| s.active_teams as f64 / s.known_teams as f64)), s.known_teams, s.active_users) />
            <Figure label="Deployments per week" value=format!("{:.1}", s.deployments_per_week) note=format!("{} synced in {days} days", s.deployments) />
            <Figure label="Lead time (p50)" value=ms(s.lead_time_p50_ms) note="submitted → synced".to_owned() />
            <Figure label="Change failure rate" value=share(s.change_failure_rate) note=format!("{} of {} deployments", s.change_failures, s.deployments) />
            <Figure label="Time to restore (p50)" value=ms(s.restore_p50_ms) note=count(s.restores, "restore") />
            <Figure label="Rating" value=rating(s.rating) note=count(s.ratings, "rating") />
            {(s.promotions > 0 || s.promotion_refusals > 0).then(|| view! {
                <Figure label="Promotion lead time (p50)" value=ms(s.promotion_lead_p50_ms)
                    note=format!("{} promoted; {} refused by a gate", count(s.promotions, "claim"), s.promotion_refusals) />
            })}
            {(s.held_for_approval > 0).then(|| view! {
                <Figure label="Approval rate" value=share(s.approval_rate)
                    note=format!("{} held for approval; waited {} (p50)", s.held_for_approval, ms(s.approval_p50_ms)) />
            })}
            {self_service}
        </dl>

        <Panel title="Requests per week" table="weeks" query=query.clone()>
            <ColumnChart id="chart-weeks" title="Requests submitted per week".to_owned() marks=week_marks />
            <details class="mt-3">
                <summary class="cursor-pointer text-xs font-medium text-secondary">"Table"</summary>
                <table class="data-table mt-2 w-full" data-testid="table-weeks">
                    <thead><tr>
                        <th>"Week of"</th><th>"Requests"</th><th>"People"</th>
                        <th>"Teams"</th><th>"Deployments"</th><th>"Failures"</th>
                    </tr></thead>
                    <tbody>
                        {weeks.into_iter().map(|w| view! {
                            <tr>
                                <td>{date(w.start)}</td><td>{w.requests}</td><td>{w.active_users}</td>
                                <td>{w.active_teams}</td><td>{w.deployments}</td><td>{w.failures}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        </Panel>

        <div class="grid gap-6 lg:grid-cols-2">
            <Panel title="Time to ready by offering (p50)" table="offerings" query=query.clone() rows=offerings_note>
                <BarChart id="chart-offerings" title=offerings_chart marks=ready_marks />
                {offering_table}
            </Panel>
            <Panel title="Requests by team" table="teams" query=query.clone() rows=teams_note>
                <BarChart id="chart-teams" title=teams_chart marks=team_marks />
                {group_table("Team", "table-teams", teams, &Default::default(), |key| Some(format!("/metrics/teams/{key}")))}
            </Panel>
        </div>

        <Panel title="Requests by environment" table="environments" query=query.clone() rows=environments_note>
            {group_table("Environment", "table-environments", environments, &Default::default(), |_| None)}
        </Panel>

        <Panel title="Where the time to ready goes" table="stages" query=query.clone()>
            <ShareBar id="chart-stages" title="Share of the summed time to ready per stage".to_owned() marks=stage_marks />
            <table class="data-table mt-3 w-full" data-testid="table-stages">
                <thead><tr><th>"Stage"</th><th>"Share"</th><th>"Median"</th><th>"Total"</th></tr></thead>
                <tbody>
                    {stages.into_iter().map(|st| view! {
                        <tr>
                            <td>{st.stage}</td><td>{share(st.share)}</td><td>{ms(st.p50_ms)}</td><td>{human_duration(st.total_ms)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </Panel>

        <Panel title="DORA by team and environment" table="dora" query=query.clone() rows=dora_note>
            <table class=TABLE data-testid="table-dora">
                <thead><tr>
                    <th>"Team"</th><th>"Environment"</th><th>"Deployments"</th><th>"Per week"</th>
                    <th>"Lead time (p50)"</th><th>"Change failure rate"</th><th>"Time to restore (p50)"</th>
                </tr></thead>
                <tbody>
                    {dora.into_iter().map(|d| {
                        let (team, environment) = (d.team.clone(), d.environment.clone());
                        view! {
                        <tr data-testid="dora-row" data-team=team data-environment=environment>
                            <td>{d.team}</td><td>{d.environment}</td><td>{d.deployments}</td>
                            <td>{format!("{:.2}", d.per_week)}</td><td>{ms(d.lead_time_p50_ms)}</td>
                            <td>{format!("{} ({} of {})", share(d.change_failure_rate), d.change_failures, d.deployments)}</td>
                            <td>{format!("{} ({})", ms(d.restore_p50_ms), count(d.restores, "restore"))}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </Panel>

        <div class="grid gap-6 lg:grid-cols-2">
            <Panel title="Promotions by team and offering" table="promotions" query=query.clone() rows=promotions_note>
                <table class=TABLE data-testid="table-promotions">
                    <thead><tr>
                        <th>"Team"</th><th>"Offering"</th><th>"Promoted"</th>
                        <th>"Ready"</th><th>"Lead time (p50)"</th><th>"Refused"</th>
                    </tr></thead>
                    <tbody>
                        {promotion_rows}
                    </tbody>
                </table>
            </Panel>
            <Panel title="Promotions refused, by gate" table="refusals" query=query.clone()>
                <table class=TABLE data-testid="table-refusals">
                    <thead><tr><th>"Gate"</th><th>"Refusals"</th></tr></thead>
                    <tbody>
                        {refusals.into_iter().map(|r| {
                            let gate = r.gate.clone();
                            view! {
                                <tr data-testid="refusal-row" data-gate=gate>
                                    <td>{r.gate}</td><td>{r.count}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </Panel>
        </div>

        <div class="grid gap-6 lg:grid-cols-2">
            <Panel title="Top failure reasons" table="failures" query=query.clone()>
                <table class=TABLE data-testid="table-failures">
                    <thead><tr><th>"Reason"</th><th>"Failures"</th><th>"Latest"</th></tr></thead>
                    <tbody>
                        {failures.into_iter().map(|f| view! {
                            <tr>
                                <td>{f.reason}</td><td>{f.count}</td>
                                <td class="text-xs text-secondary">
                                    <A href=format!("/requests/{}", f.request_id) attr:class="hover:underline">{f.example}</A>
                                </td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </Panel>
            <Panel title="Feedback" table="feedback" query=query rows=feedback_note>
                <ul class="space-y-3" data-testid="feedback-list">
                    {feedback_items}
                </ul>
            </Panel>
        </div>
    }
    .into_any()
}

fn group_table(
    name: &'static str,
    testid: &'static str,
    rows: Vec<GroupRow>,
    titles: &std::collections::BTreeMap<String, String>,
    link: fn(&str) -> Option<String>,
) -> impl IntoView + use<> {
    view! {
        <table class="data-table mt-3 w-full" data-testid=testid>
            <thead><tr>
                <th>{name}</th><th>"Requests"</th><th>"Success"</th>
                <th>"Ready p50"</th><th>"Ready p90"</th><th>"Rating"</th>
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|g| {
                    let row_key = g.key.clone();
                    let text = titles.get(&g.key).cloned().unwrap_or_else(|| g.key.clone());
                    let key = match link(&g.key) {
                        Some(href) => view! { <A href=href attr:class="text-sky-700 hover:underline dark:text-sky-400">{text}</A> }.into_any(),
                        None => text.into_any(),
                    };
                    let settled = g.succeeded + g.failed;
                    view! {
                        <tr data-testid="group-row" data-key=row_key>
                            <td class="[overflow-wrap:anywhere]">{key}</td><td>{g.requests}</td>
                            <td>{share((settled > 0).then(|| g.succeeded as f64 / settled as f64))}</td>
                            <td>{ms(g.ready_p50_ms)}</td><td>{ms(g.ready_p90_ms)}</td>
                            <td>{rating(g.rating)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_links_ask_for_the_same_figures_with_values_encoded() {
        let dashboard = Dashboard {
            days: 30,
            team: Some("a&b c".into()),
            ..Dashboard::default()
        };
        assert_eq!(same_figures(&dashboard), "days=30&team=a%26b%20c");
        let offering = Dashboard {
            days: 7,
            offering: Some("postgresql".into()),
            ..Dashboard::default()
        };
        assert_eq!(same_figures(&offering), "days=7&offering=postgresql");
    }
}
