//! The client's subcommands: their options (clap) and what each does with the API.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use app::catalog::{OfferingDetail, Preview, RequestDraft};
use app::promotions::PromotionPlan;
use app::requests::{ChangeSource, RequestDetail, Submitted};
use app::status::ClaimRow;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Client, Exit, Login};

/// An id or name as one URL path segment: refused unless it is one (request ids, offering ids
/// and environment names are letters, digits, `-`, `_` and `.`).
fn segment(value: &str) -> anyhow::Result<&str> {
    let plain = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(value)
    } else {
        bail!("{value:?} is not an id or a name")
    }
}

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Readable text.
    #[default]
    Human,
    /// JSON, as the API answers it.
    Json,
    /// YAML.
    Yaml,
}

/// Where to reach the portal and how to print, for every client command.
#[derive(Clone, Debug, Args)]
pub struct Common {
    /// The portal's address (default: the one `slipway login` stored).
    #[arg(long, env = "SLIPWAY_URL", global = true)]
    pub url: Option<String>,
    /// The API token (default: the one `slipway login` stored). Prefer the environment
    /// variable to the flag: flags show in process lists.
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Human, global = true)]
    pub output: Output,
}

impl Common {
    fn client(&self) -> anyhow::Result<Client> {
        Client::new(&Login::resolve(self.url.as_deref(), self.token.clone())?)
    }
}

/// `slipway login`.
#[derive(Clone, Debug, Args)]
pub struct LoginArgs {
    /// The portal's address, e.g. `https://slipway.example.com`.
    #[arg(long, env = "SLIPWAY_URL")]
    pub url: String,
    /// A file holding the token (default: read from standard input).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// `slipway catalog …`.
#[derive(Clone, Debug, Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: CatalogCommand,
    #[command(flatten)]
    pub common: Common,
}

/// What to do with the catalog.
#[derive(Clone, Debug, Subcommand)]
pub enum CatalogCommand {
    /// The offerings you may request.
    List {
        /// Free text.
        #[arg(long, short)]
        query: Option<String>,
        /// Only with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// One offering and its fields.
    Show {
        /// Offering id.
        id: String,
    },
}

/// Values of a form, from a file and `--set`.
#[derive(Clone, Debug, Args)]
pub struct ValueArgs {
    /// `key=value` (dotted keys for nested fields, values read as YAML: `3`, `true`, `"3"`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A YAML or JSON file of values, applied before `--set`.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Option<PathBuf>,
}

/// Waiting for the claim.
#[derive(Clone, Debug, Args)]
pub struct WaitArgs {
    /// Follow the request until its claim is Ready (exit 0); a failure exits 4 with its root
    /// cause, the timeout 3.
    #[arg(long, value_parser = ["ready"])]
    pub wait: Option<String>,
    /// How long `--wait` waits (`90s`, `10m`).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// How long a claim may stay Failed in its cluster before `--wait` gives up on it (a
    /// transient error that recovers sooner does not fail the command).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub failure_grace: Duration,
}

/// `slipway request …`.
#[derive(Clone, Debug, Args)]
pub struct RequestArgs {
    #[command(subcommand)]
    pub command: RequestCommand,
    #[command(flatten)]
    pub common: Common,
}

/// What to do with requests.
#[derive(Clone, Debug, Subcommand)]
pub enum RequestCommand {
    /// Request a new claim.
    Create {
        /// Offering id.
        offering: String,
        /// Environment.
        #[arg(long = "env")]
        environment: String,
        /// Team.
        #[arg(long)]
        team: String,
        /// The claim's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        values: ValueArgs,
        /// Show the file and its diff against the branch; submit nothing.
        #[arg(long)]
        dry_run: bool,
        /// Makes retries of this command create one request (default: a new key per run).
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Change a claim's values (any request of it names it).
    Edit {
        /// Request id.
        id: String,
        #[command(flatten)]
        values: ValueArgs,
        /// Show the change; submit nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete a claim from Git.
    Delete {
        /// Request id.
        id: String,
    },
    /// One request: its stage, timeline and live status.
    Show {
        /// Request id.
        id: String,
    },
    /// Your teams' requests, newest first.
    List {
        /// Only this team.
        #[arg(long)]
        team: Option<String>,
        /// Only this environment.
        #[arg(long = "env")]
        environment: Option<String>,
        /// Only this stage.
        #[arg(long)]
        stage: Option<String>,
        /// Name or kind contains.
        #[arg(long, short)]
        query: Option<String>,
        /// The next page: the cursor the previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Follow a request until it is Ready or fails.
    Watch {
        /// Request id.
        id: String,
        /// How long to follow.
        #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// How long the claim may stay Failed before the watch gives up on it.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        failure_grace: Duration,
    },
}

/// `slipway status`.
#[derive(Clone, Debug, Args)]
pub struct StatusArgs {
    /// Only this team.
    #[arg(long)]
    pub team: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// `slipway promote`.
#[derive(Clone, Debug, Args)]
pub struct PromoteArgs {
    /// Any request of the claim.
    pub id: String,
    /// The environment to promote to.
    #[arg(long)]
    pub to: String,
    /// Promote (without it, the plan is shown and nothing is written).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub common: Common,
}

/// `slipway approve`.
#[derive(Clone, Debug, Args)]
pub struct ApproveArgs {
    /// Request id.
    pub id: String,
    /// Reject instead (a comment is then required).
    #[arg(long)]
    pub reject: bool,
    /// Why.
    #[arg(long, default_value = "")]
    pub comment: String,
    #[command(flatten)]
    pub common: Common,
}

fn print<T: Serialize>(
    output: Output,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    let text = match output {
        Output::Human => human(value),
        Output::Json => serde_json::to_string_pretty(value)?,
        Output::Yaml => serde_saphyr::to_string(value)?.trim_end().to_owned(),
    };
    say(&text);
    Ok(())
}

/// Standard output, one line per call (what scripts read).
fn say(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// Progress on standard error (not in what scripts read).
fn note(text: &str) {
    eprintln!("{text}");
}

/// A diff as the browser's preview shows it: one line per changed line, sign first.
pub fn diff_text(preview: &Preview) -> String {
    preview
        .files
        .iter()
        .flat_map(|f| f.diff.iter().map(|l| format!("{} {}", l.sign, l.text)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The form's values: `base`, then the file, then each `--set`.
fn values(base: Value, args: &ValueArgs) -> anyhow::Result<Value> {
    let mut values = match base {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(path) = &args.values {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: Value = serde_saphyr::from_str(&text)
            .with_context(|| format!("{} is not YAML or JSON", path.display()))?;
        let Value::Object(file) = file else {
            bail!("{} must hold a mapping of values", path.display());
        };
        values.extend(file);
    }
    for pair in &args.set {
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {pair:?}: write key=value"))?;
        let value: Value = if raw.is_empty() {
            Value::String(String::new())
        } else {
            serde_saphyr::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        };
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            bail!("--set {pair:?}: the key has an empty part");
        }
        let mut root = Value::Object(values);
        crate::catalog::promotion::set(&mut root, &path, Some(value));
        values = match root {
            Value::Object(map) => map,
            _ => Map::new(),
        };
    }
    Ok(Value::Object(values))
}

async fn wait_if(client: &Client, id: &str, wait: &WaitArgs) -> anyhow::Result<()> {
    if wait.wait.is_none() {
        return Ok(());
    }
    let id = segment(id)?;
    client
        .wait_ready(id, wait.timeout, wait.failure_grace, |words| {
            note(&format!("{id}: {words}"));
        })
        .await?;
    note(&format!("{id}: Ready"));
    Ok(())
}

/// `slipway login`.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let token = match &args.token_file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            note("Paste an API token (API tokens page of the portal), then Enter:");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line
        }
    };
    let login = Login {
        url: args.url.trim_end_matches('/').to_owned(),
        token: token.trim().to_owned(),
    };
    let me: Value = Client::new(&login)?.get("/me", &[]).await?;
    let path = login.save()?;
    say(&format!(
        "Signed in to {} as {} (teams: {}); scopes {}. Saved in {}.",
        login.url,
        me["name"].as_str().unwrap_or_default(),
        me["teams"]
            .as_array()
            .map(|t| t
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        me["auth"]["scopes"]
            .as_array()
            .map(|t| t
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        path.display()
    ));
    Ok(())
}

/// `slipway catalog …`.
pub async fn catalog(args: CatalogArgs) -> anyhow::Result<()> {
    let client = args.common.client()?;
    let output = args.common.output;
    match args.command {
        CatalogCommand::List { query, tag } => {
            let mut items = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut params = vec![
                    ("q", query.clone().unwrap_or_default()),
                    ("tag", tag.clone().unwrap_or_default()),
                ];
                if let Some(c) = &cursor {
                    params.push(("cursor", c.clone()));
                }
                let page: Value = client.get("/catalog", &params).await?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                cursor = page["next_cursor"].as_str().map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            let items: Vec<app::catalog::OfferingSummary> =
                serde_json::from_value(Value::Array(items))?;
            print(output, &items, |items| {
                table(
                    &["ID", "TITLE", "VERSION", "KIND"],
                    items
                        .iter()
                        .map(|o| {
                            vec![
                                o.id.clone(),
                                o.title.clone(),
                                o.version.clone(),
                                o.kind.clone(),
                            ]
                        })
                        .collect(),
                )
            })
        }
        CatalogCommand::Show { id } => {
            let detail: OfferingDetail = client
                .get(&format!("/catalog/{}", segment(&id)?), &[])
                .await?;
            print(output, &detail, |d| {
                let mut text = format!(
                    "{} ({}@{})\n{}\nKind: {} · teams: {}\n\nFields:",
                    d.summary.title,
                    d.summary.id,
                    d.summary.version,
                    d.summary.description,
                    d.summary.kind,
                    d.my_teams.join(", ")
                );
                for field in &d.form.fields {
                    text.push_str(&format!(
                        "\n  {}{}: {}{}",
                        field.key,
                        if field.required { " (required)" } else { "" },
                        field.label,
                        field
                            .default
                            .as_ref()
                            .map(|v| format!(" [default {v}]"))
                            .unwrap_or_default()
                    ));
                }
                for note in &d.notes {
                    text.push_str(&format!("\nNote: {note}"));
                }
                text
            })
        }
    }
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

/// `slipway request …`.
pub async fn request(args: RequestArgs) -> anyhow::Result<()> {
    let client = args.common.client()?;
    let output = args.common.output;
    match args.command {
        RequestCommand::Create {
            offering,
            environment,
            team,
            name,
            values: value_args,
            dry_run,
            idempotency_key,
            wait,
        } => {
            let draft = RequestDraft {
                offering,
                environment,
                team,
                name,
                values: values(Value::Object(Map::new()), &value_args)?,
            };
            if dry_run {
                let preview: Preview = client
                    .send_json(Method::POST, "/preview", &draft, &[])
                    .await?;
                return print(output, &preview, diff_text);
            }
            let key = idempotency_key.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let submitted: Submitted = client
                .send_json(
                    Method::POST,
                    "/requests",
                    &draft,
                    &[("Idempotency-Key", key)],
                )
                .await?;
            print(output, &submitted, |s| s.id.clone())?;
            wait_if(&client, &submitted.id, &wait).await
        }
        RequestCommand::Edit {
            id,
            values: value_args,
            dry_run,
            wait,
        } => {
            let source: ChangeSource = client
                .get(&format!("/requests/{}/claim", segment(&id)?), &[])
                .await?;
            let mut draft = source.draft;
            draft.values = values(draft.values, &value_args)?;
            if dry_run {
                let preview: Preview = client
                    .send_json(Method::POST, "/preview", &draft, &[])
                    .await?;
                return print(output, &preview, diff_text);
            }
            let submitted: Submitted = client
                .send_json(
                    Method::PUT,
                    &format!("/requests/{}/claim", segment(&id)?),
                    &draft,
                    &[],
                )
                .await?;
            print(output, &submitted, |s| s.id.clone())?;
            wait_if(&client, &submitted.id, &wait).await
        }
        RequestCommand::Delete { id } => {
            let submitted: Submitted = client
                .delete(&format!("/requests/{}/claim", segment(&id)?))
                .await?;
            print(output, &submitted, |s| s.id.clone())
        }
        RequestCommand::Show { id } => {
            let detail: RequestDetail = client
                .get(&format!("/requests/{}", segment(&id)?), &[])
                .await?;
            let status: app::status::RequestStatus = client
                .get(&format!("/requests/{}/status", segment(&id)?), &[])
                .await?;
            let both = serde_json::json!({"request": detail, "status": status});
            print(output, &both, |_| {
                let s = &detail.summary;
                let mut text = format!(
                    "{} {} {}/{} in {} — {}\nOffering {} · requested by {} · {}",
                    s.action.verb(),
                    s.kind,
                    s.team,
                    s.name,
                    s.environment,
                    s.stage.label(),
                    s.offering,
                    s.requested_by,
                    s.created_at
                );
                if let Some(live) = &status.live {
                    text.push_str(&format!(
                        "\nIn the cluster: {}{}",
                        app::status::health_words(&live.health),
                        live.health
                            .message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ));
                }
                text.push_str("\nTimeline:");
                for e in &detail.events {
                    text.push_str(&format!(
                        "\n  {}  {:?}{}",
                        e.at,
                        e.kind,
                        e.message
                            .as_ref()
                            .map(|m| format!(" — {m}"))
                            .unwrap_or_default()
                    ));
                }
                text
            })
        }
        RequestCommand::List {
            team,
            environment,
            stage,
            query,
            cursor,
        } => {
            let params: Vec<(&str, String)> = [
                ("team", team),
                ("environment", environment),
                ("stage", stage),
                ("q", query),
                ("cursor", cursor),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let page: Value = client.get("/requests", &params).await?;
            print(output, &page, |page| {
                let items: Vec<app::requests::RequestSummary> =
                    serde_json::from_value(page["items"].clone()).unwrap_or_default();
                let mut text = table(
                    &["ID", "ACTION", "KIND", "NAME", "TEAM", "ENV", "STAGE"],
                    items
                        .iter()
                        .map(|r| {
                            vec![
                                r.id.clone(),
                                r.action.as_str().to_owned(),
                                r.kind.clone(),
                                r.name.clone(),
                                r.team.clone(),
                                r.environment.clone(),
                                r.stage.label().to_owned(),
                            ]
                        })
                        .collect(),
                );
                if let Some(next) = page["next_cursor"].as_str() {
                    text.push_str(&format!("\nMore: --cursor {next}"));
                }
                text
            })
        }
        RequestCommand::Watch {
            id,
            timeout,
            failure_grace,
        } => {
            let id = segment(&id)?;
            client
                .wait_ready(id, timeout, failure_grace, |words| {
                    say(&format!("{id}: {words}"));
                })
                .await?;
            say(&format!("{id}: Ready"));
            Ok(())
        }
    }
}

/// `slipway status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let client = args.common.client()?;
    let mut claims: Vec<ClaimRow> = client.get("/claims", &[]).await?;
    if let Some(team) = &args.team {
        claims.retain(|c| &c.team == team);
    }
    print(args.common.output, &claims, |claims| {
        table(
            &[
                "ENV",
                "KIND",
                "NAME",
                "TEAM",
                "STATUS",
                "ROOT CAUSE",
                "REQUEST",
            ],
            claims
                .iter()
                .map(|c| {
                    vec![
                        c.environment.clone(),
                        c.kind.clone(),
                        c.name.clone(),
                        c.team.clone(),
                        app::status::health_words(&c.live.health),
                        c.live.root_cause(),
                        c.request_id.clone(),
                    ]
                })
                .collect(),
        )
    })
}

/// `slipway promote`.
pub async fn promote(args: PromoteArgs) -> anyhow::Result<()> {
    let client = args.common.client()?;
    let plan: PromotionPlan = client
        .get(
            &format!(
                "/requests/{}/promotions/{}",
                segment(&args.id)?,
                segment(&args.to)?
            ),
            &[],
        )
        .await?;
    let human = |plan: &PromotionPlan| {
        let mut text = format!(
            "Promote {} from {} to {} ({:?}):",
            plan.source.name, plan.source.environment, plan.target, plan.action
        );
        for gate in &plan.gates {
            text.push_str(&format!(
                "\n  [{}] {}: {}",
                if gate.passed { "ok" } else { "NO" },
                gate.gate.label(),
                gate.detail
            ));
        }
        for kept in &plan.kept {
            text.push_str(&format!("\n  kept: {} ({:?})", kept.path, kept.from));
        }
        for problem in &plan.problems {
            text.push_str(&format!("\n  problem: {problem}"));
        }
        if let Some(preview) = &plan.preview {
            text.push('\n');
            text.push_str(&diff_text(preview));
        }
        text
    };
    if !args.yes || args.common.output != Output::Human {
        print(args.common.output, &plan, human)?;
    } else {
        note(&human(&plan));
    }
    if !plan.allowed || !plan.problems.is_empty() {
        return Err(Exit {
            code: 1,
            message: format!(
                "{} cannot be promoted to {} now (see above)",
                plan.source.name, plan.target
            ),
        }
        .into());
    }
    if !args.yes {
        note("Nothing written: add --yes to promote.");
        return Ok(());
    }
    let submitted: Submitted = client
        .send_json(
            Method::POST,
            &format!(
                "/requests/{}/promotions/{}",
                segment(&args.id)?,
                segment(&args.to)?
            ),
            &serde_json::json!({"token": plan.token}),
            &[],
        )
        .await?;
    say(&submitted.id);
    wait_if(&client, &submitted.id, &args.wait).await
}

/// `slipway approve`.
pub async fn approve(args: ApproveArgs) -> anyhow::Result<()> {
    let client = args.common.client()?;
    let _: Value = client
        .send_json(
            Method::POST,
            &format!("/approvals/{}", segment(&args.id)?),
            &serde_json::json!({"approve": !args.reject, "comment": args.comment}),
            &[],
        )
        .await?;
    say(&format!(
        "{} {}",
        args.id,
        if args.reject { "rejected" } else { "approved" }
    ));
    Ok(())
}
