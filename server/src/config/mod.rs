//! Typed configuration: every setting is a flag with an `SLIPWAY_*` (or `DATABASE_URL`)
//! environment variable, documented in `slipway <command> --help`. Values are checked once at
//! start-up ([`ServeArgs::settings`]) into plain [`Settings`], and the server fails fast naming
//! the offending variable. This module parses and validates only: it opens nothing, and the
//! parts that do (environments, writers, watchers, sign-in) are built from its settings.
//!
//! ```text
//!  argv + SLIPWAY_* ──clap──▶ ServeArgs ──settings()──▶ Settings ──▶ environment::Environments
//!                                          (check.rs)     (settings.rs)   and the rest of `serve`
//! ```

mod check;
mod settings;
#[cfg(test)]
mod tests;

pub use settings::*;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

/// Slipway: a self-service internal developer platform portal.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about, long_about = None)]
pub struct Cli {
    /// Log format: `human` for terminals, `json` for log collectors.
    #[arg(long, env = "SLIPWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `slipway` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal (runs pending migrations first).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Prepare a local data directory for trying Slipway out: SQLite database, a bare GitOps
    /// repository with the default layout and a sample catalog. Idempotent.
    Init(InitArgs),
    /// Import requests with their ledger (and users, ratings) from a YAML file, or from JSON
    /// Lines (`.jsonl`, or `-` for standard input) read line by line for a history of any
    /// size — history from another system, or a demo: times are given as "how long ago" (see
    /// docs/metrics.md, "Importing history").
    ImportLedger(ImportLedgerArgs),
    /// Client: store the portal's address and an API token for the commands below (the token
    /// is read from standard input or `--token-file`, checked, and kept readable by you only).
    Login(crate::client::commands::LoginArgs),
    /// Client: list and show the offerings you may request.
    Catalog(crate::client::commands::CatalogArgs),
    /// Client: create, edit, delete, show, list and watch requests; `--dry-run` shows the
    /// diff, `--wait ready` follows the claim to Ready.
    Request(crate::client::commands::RequestArgs),
    /// Client: your teams' claims with their live status.
    Status(crate::client::commands::StatusArgs),
    /// Client: promote a claim to the next environment (shows the plan; `--yes` promotes).
    Promote(crate::client::commands::PromoteArgs),
    /// Client: approve (or `--reject`) a request held for approval.
    Approve(crate::client::commands::ApproveArgs),
    /// Print shell completions for `slipway` (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Options of `slipway import-ledger`.
#[derive(Clone, Debug, Args)]
pub struct ImportLedgerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The file: YAML, or JSON Lines when it ends in `.jsonl` or `.ndjson`; `-` reads JSON
    /// Lines from standard input.
    pub file: PathBuf,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line.
    Json,
}

/// A secret given as a flag or an environment variable: its `Debug` never shows it, so
/// printing the parsed arguments (an error report, a log line) cannot leak it.
#[derive(Clone)]
pub struct SecretArg(pub String);

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(value.to_owned()))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where the database is.
#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER:PASS@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/slipway.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Largest number of pooled database connections.
    #[arg(long, env = "SLIPWAY_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &redact_credentials(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .finish()
    }
}

/// Options of `slipway serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Socket address to listen on.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Socket address of the admin listener serving Prometheus metrics at `/metrics`
    /// (unauthenticated: bind it to a private interface). Off when unset.
    #[arg(long, env = "SLIPWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The URL users reach the portal at. Decides the cookies' `Secure` flag and the origin
    /// that state-changing requests must come from. Default: `http://<listen address>`.
    #[arg(long, env = "SLIPWAY_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Folder with the built front end (cargo-leptos's site root: `pkg/`, static files).
    #[arg(long, env = "SLIPWAY_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Folder for local state (the default SQLite database, Git caches).
    #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// URL of the GitOps repository claims are committed to. Default: the bare repository
    /// `slipway init` creates in the data folder.
    #[arg(long, env = "SLIPWAY_GIT_URL")]
    pub git_url: Option<String>,
    /// Branch of the GitOps repository that holds the desired state (and the catalog).
    #[arg(long, env = "SLIPWAY_GIT_BRANCH", default_value = "main")]
    pub git_branch: String,
    /// User name sent with the HTTPS token (forges accept any name with a token).
    #[arg(long, env = "SLIPWAY_GIT_USERNAME")]
    pub git_username: Option<String>,
    /// HTTPS token or password for the GitOps repository (HTTP Basic).
    #[arg(long, env = "SLIPWAY_GIT_TOKEN", hide_env_values = true)]
    pub git_token: Option<SecretArg>,
    /// File holding the HTTPS token (read at each use, so a rotated secret takes effect).
    #[arg(long, env = "SLIPWAY_GIT_TOKEN_FILE")]
    pub git_token_file: Option<PathBuf>,
    /// SSH private key for `ssh://` or `git@` remotes.
    #[arg(long, env = "SLIPWAY_GIT_SSH_KEY_FILE")]
    pub git_ssh_key_file: Option<PathBuf>,
    /// SSH known-hosts file; with it, unknown host keys are refused.
    #[arg(long, env = "SLIPWAY_GIT_KNOWN_HOSTS_FILE")]
    pub git_known_hosts_file: Option<PathBuf>,
    /// Name of the committer of every commit the portal makes (authors are the requesters).
    #[arg(long, env = "SLIPWAY_GIT_BOT_NAME", default_value = "Slipway")]
    pub git_bot_name: String,
    /// E-mail of the committer.
    #[arg(
        long,
        env = "SLIPWAY_GIT_BOT_EMAIL",
        default_value = "slipway@localhost"
    )]
    pub git_bot_email: String,
    /// Web address of a commit, `{sha}` replaced (e.g.
    /// `https://github.com/acme/gitops/commit/{sha}`); commits are linked when set.
    #[arg(long, env = "SLIPWAY_GIT_COMMIT_URL")]
    pub git_commit_url: Option<String>,
    /// YAML file giving environments their own Git target: repository, branch, path prefix,
    /// write mode, forge project and credentials (see docs/git.md); environments it does not
    /// name use the `SLIPWAY_GIT_*` defaults.
    #[arg(long, env = "SLIPWAY_ENVIRONMENTS_FILE")]
    pub environments_file: Option<PathBuf>,
    /// Environments whose requests go through a pull request (comma-separated); the others
    /// are committed directly to the branch.
    #[arg(long, env = "SLIPWAY_PULL_REQUEST_ENVIRONMENTS", value_delimiter = ',')]
    pub pull_request_environments: Vec<String>,
    /// Forge API for pull requests: `github`, `gitlab` or `gitea` (Forgejo too).
    #[arg(long, env = "SLIPWAY_FORGE")]
    pub forge: Option<String>,
    /// Forge API root: `https://api.github.com` (default for GitHub), or the GitLab/Gitea
    /// server's address.
    #[arg(long, env = "SLIPWAY_FORGE_API_URL")]
    pub forge_api_url: Option<String>,
    /// The repository on the forge: `owner/repo`, or the GitLab project's full path.
    #[arg(long, env = "SLIPWAY_FORGE_PROJECT")]
    pub forge_project: Option<String>,
    /// Forge API token (needs: create and read pull requests).
    #[arg(long, env = "SLIPWAY_FORGE_TOKEN", hide_env_values = true)]
    pub forge_token: Option<SecretArg>,
    /// File holding the forge API token.
    #[arg(long, env = "SLIPWAY_FORGE_TOKEN_FILE")]
    pub forge_token_file: Option<PathBuf>,
    /// Secret the forge signs webhooks with (GitHub, Gitea) or sends (GitLab); without it
    /// webhooks are refused and merges are found by polling only.
    #[arg(long, env = "SLIPWAY_FORGE_WEBHOOK_SECRET", hide_env_values = true)]
    pub forge_webhook_secret: Option<SecretArg>,
    /// File holding the webhook secret.
    #[arg(long, env = "SLIPWAY_FORGE_WEBHOOK_SECRET_FILE")]
    pub forge_webhook_secret_file: Option<PathBuf>,
    /// How often open pull requests are checked for merges, in seconds (the fallback when
    /// a webhook is lost).
    #[arg(long, env = "SLIPWAY_FORGE_POLL_SECS", default_value_t = 60)]
    pub forge_poll_secs: u64,
    /// Longest wait between attempts when the Git remote fails, in seconds.
    #[arg(long, env = "SLIPWAY_GIT_RETRY_MAX_SECS", default_value_t = 60)]
    pub git_retry_max_secs: u64,
    /// Longest a single git process (clone, fetch, push) or forge call may take, in seconds;
    /// it is killed after that and the jobs wait for the next attempt.
    #[arg(long, env = "SLIPWAY_GIT_TIMEOUT_SECS", default_value_t = 120)]
    pub git_timeout_secs: u64,
    /// A Git connection that opens no faster than this, or moves less than 1 KiB/s for this
    /// long, is cut (SSH connect timeout and keep-alive, HTTP low-speed limit), in seconds.
    #[arg(long, env = "SLIPWAY_GIT_STALL_SECS", default_value_t = 20)]
    pub git_stall_secs: u64,
    /// How often a request whose change the remote refuses (a pre-receive hook, push
    /// protection, a size rule) is tried before it fails with the remote's message.
    #[arg(long, env = "SLIPWAY_GIT_MAX_ATTEMPTS", default_value_t = 3)]
    pub git_max_attempts: u32,
    /// Lifetime of the leases that make one replica the Git writer of a repository and the
    /// status recorder, in seconds. Renewed every third of it while held; when a replica
    /// dies, another takes over after at most this long.
    #[arg(long, env = "SLIPWAY_LEASE_TTL_SECS", default_value_t = 30)]
    pub lease_ttl_secs: u64,
    /// Environment names, in the order the UI lists them; `name@cluster` names the cluster
    /// an environment's claims reconcile in (default: the only cluster, or the cluster with
    /// the environment's name).
    #[arg(
        long,
        env = "SLIPWAY_ENVIRONMENTS",
        value_delimiter = ',',
        default_value = "dev,staging,prod"
    )]
    pub environments: Vec<String>,
    /// Folder of offering files inside the GitOps repository (versioned with Git).
    #[arg(long, env = "SLIPWAY_CATALOG_PATH", default_value = "catalog")]
    pub catalog_path: String,
    /// Explicit `team=namespace` pairs, comma-separated: where a team's namespaced claims go
    /// (default: the namespace named after the team).
    #[arg(long, env = "SLIPWAY_TEAM_NAMESPACES", value_delimiter = ',')]
    pub team_namespaces: Vec<String>,
    /// Namespaces no team may write into, comma-separated; a trailing `*` makes a prefix.
    #[arg(
        long,
        env = "SLIPWAY_FORBIDDEN_NAMESPACES",
        value_delimiter = ',',
        default_value = crate::teams::DEFAULT_FORBIDDEN_NAMESPACES
    )]
    pub forbidden_namespaces: Vec<String>,
    /// Read offering files from this folder on disk instead of the GitOps repository.
    #[arg(long, env = "SLIPWAY_CATALOG_DIR")]
    pub catalog_dir: Option<PathBuf>,
    /// How often the catalog source is checked for changes, in seconds.
    #[arg(long, env = "SLIPWAY_CATALOG_REFRESH_SECS", default_value_t = 30)]
    pub catalog_refresh_secs: u64,
    /// Clusters to watch: `name=context` (a context of the kubeconfig), `name=in-cluster`
    /// (the pod's service account), or just `name` (the context of that name). None by
    /// default: the catalog then holds offering files only.
    #[arg(long, env = "SLIPWAY_CLUSTERS", value_delimiter = ',')]
    pub clusters: Vec<String>,
    /// Kubeconfig file for the clusters' contexts. Default: `$KUBECONFIG`, then
    /// `~/.kube/config`.
    #[arg(long, env = "SLIPWAY_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// How often a cluster is asked again for kinds it did not serve (Crossplane or Kratix
    /// installed later) or after it was unreachable, in seconds.
    #[arg(long, env = "SLIPWAY_KUBE_REDISCOVER_SECS", default_value_t = 60)]
    pub kube_rediscover_secs: u64,
    /// Development login: anyone can sign in as a sample persona without a password. Only
    /// for trying Slipway out; refused unless both the listen address and the public URL are
    /// loopback, and announced by a banner on every page.
    #[arg(long, env = "SLIPWAY_DEV_LOGIN")]
    pub dev_login: bool,
    /// How long a session lasts after sign-in, in seconds.
    #[arg(long, env = "SLIPWAY_SESSION_TTL_SECS", default_value_t = 12 * 3600)]
    pub session_ttl_secs: u64,
    /// A session unused for this many seconds ends (idle timeout).
    #[arg(long, env = "SLIPWAY_SESSION_IDLE_SECS", default_value_t = 2 * 3600)]
    pub session_idle_secs: u64,
    #[command(flatten)]
    pub sso: SsoArgs,
    /// Requests to the sign-in routes one client address may make per minute (bursts up to
    /// as many); past it they are answered 429.
    #[arg(long, env = "SLIPWAY_SIGN_IN_PER_MINUTE", default_value_t = 60)]
    pub sign_in_per_minute: u32,
    /// Requests to the API (server functions, REST, status stream connects) one client
    /// address may make per minute (bursts up to as many); past it they are answered 429.
    #[arg(long, env = "SLIPWAY_API_PER_MINUTE", default_value_t = 1200)]
    pub api_per_minute: u32,
    /// Requests to the API one signed-in user (by session or API token) may make per minute
    /// (bursts up to as many), wherever they come from; past it they are answered 429.
    #[arg(long, env = "SLIPWAY_USER_PER_MINUTE", default_value_t = 600)]
    pub user_per_minute: u32,
    /// Live status streams one user may have open (one per browser tab).
    #[arg(long, env = "SLIPWAY_STREAMS_PER_USER", default_value_t = 16)]
    pub streams_per_user: usize,
    /// Live status streams this process keeps open in all.
    #[arg(long, env = "SLIPWAY_STREAMS_TOTAL", default_value_t = 5000)]
    pub streams_total: usize,
    /// How often an open status stream re-reads its session, in seconds; a stream whose
    /// session ended closes within this time.
    #[arg(long, env = "SLIPWAY_STREAM_CHECK_SECS", default_value_t = 30)]
    pub stream_check_secs: u64,
    /// Behind a proxy: the header holding the client's address (its last value, the one the
    /// proxy added, e.g. `X-Forwarded-For`). Without it the connection's peer is the client.
    /// Set it only when every request passes the proxy, which must overwrite or append it.
    #[arg(long, env = "SLIPWAY_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Audit entries older than this many days are removed (checked every ten minutes).
    #[arg(long, env = "SLIPWAY_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "SLIPWAY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish on shutdown, in seconds.
    #[arg(long, env = "SLIPWAY_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    /// After SIGTERM, how long the portal keeps accepting connections while `/readyz`
    /// already answers 503, in seconds: the time a load balancer (a Kubernetes Service's
    /// endpoints) needs to stop sending it new ones. Leases are handed over at once.
    #[arg(long, env = "SLIPWAY_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_delay_secs: u64,
}

/// Single sign-on (OpenID Connect) and how the provider's groups become teams.
#[derive(Clone, Debug, Default, Args)]
pub struct SsoArgs {
    /// Issuer URL of the OpenID Provider; setting it turns single sign-on on. Examples:
    /// `https://keycloak.example.com/realms/platform`, `https://dex.example.com`,
    /// `https://login.microsoftonline.com/<tenant-id>/v2.0`.
    #[arg(long, env = "SLIPWAY_OIDC_ISSUER")]
    pub oidc_issuer: Option<Url>,
    /// Client id registered for Slipway at the provider.
    #[arg(long, env = "SLIPWAY_OIDC_CLIENT_ID", default_value = "slipway")]
    pub oidc_client_id: String,
    /// Client secret. Prefer SLIPWAY_OIDC_CLIENT_SECRET_FILE in production.
    #[arg(long, env = "SLIPWAY_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<SecretArg>,
    /// File holding the client secret (e.g. a mounted Kubernetes Secret).
    #[arg(long, env = "SLIPWAY_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Scopes to request, space-separated (`openid` is always included). Add `groups` for
    /// Dex and for providers that release the groups claim only on request.
    #[arg(
        long,
        env = "SLIPWAY_OIDC_SCOPES",
        default_value = "openid profile email",
        value_delimiter = ' '
    )]
    pub oidc_scopes: Vec<String>,
    /// ID-token claim that lists the user's groups.
    #[arg(long, env = "SLIPWAY_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Only groups with this prefix are teams, named without it (e.g. `/teams/` for
    /// Keycloak group paths).
    #[arg(long, env = "SLIPWAY_TEAM_PREFIX")]
    pub team_prefix: Option<String>,
    /// Only groups matching this regex are teams, named by its capture `team` (else capture
    /// 1, else the whole match). Takes precedence over the prefix.
    #[arg(long, env = "SLIPWAY_TEAM_REGEX")]
    pub team_regex: Option<String>,
    /// Explicit `group=team` pairs, comma-separated (e.g. Entra ID group object ids); checked
    /// before the regex and the prefix.
    #[arg(long, env = "SLIPWAY_TEAM_MAP", value_delimiter = ',')]
    pub team_map: Vec<String>,
    /// Members of this group are platform administrators.
    #[arg(long, env = "SLIPWAY_ADMIN_GROUP")]
    pub admin_group: Option<String>,
    /// Whether signing out continues at the provider's end-session endpoint (naming the portal
    /// by its client id). Turn it off for a provider that insists on an ID token hint (Okta):
    /// sign-out then ends the Slipway session only.
    #[arg(
        long,
        env = "SLIPWAY_OIDC_PROVIDER_LOGOUT",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub oidc_provider_logout: bool,
}

/// Options of `slipway init`.
#[derive(Clone, Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Folder to prepare.
    #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// A configuration value that cannot work, naming the variable to fix.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable (and flag) at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn host_is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Removes user-info from a URL so it can be shown and logged.
pub fn redact_credentials(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            // Both setters only fail for URLs that cannot have credentials at all.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// The configuration reference: every option of every subcommand with its variable, default
/// and help, as Markdown tables (what `docs/configuration.md` holds between its markers; a
/// test keeps the two equal).
pub fn reference() -> String {
    use clap::CommandFactory as _;
    let cli = Cli::command();
    let mut out = String::new();
    for command in cli.get_subcommands() {
        out.push_str(&format!("### `slipway {}`\n\n", command.get_name()));
        if let Some(about) = command.get_about() {
            out.push_str(&format!("{about}\n\n"));
        }
        out.push_str("| variable | flag | default | meaning |\n|---|---|---|---|\n");
        let arguments = cli
            .get_arguments()
            .chain(command.get_arguments())
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"));
        for argument in arguments {
            let variable = argument
                .get_env()
                .map(|v| format!("`{}`", v.to_string_lossy()))
                .unwrap_or_default();
            let flag = match argument.get_long() {
                Some(long) => format!("`--{long}`"),
                None => format!("`{}`", argument.get_id().as_str().to_uppercase()),
            };
            let default = argument
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",");
            let default = if default.is_empty() {
                "—".to_owned()
            } else {
                format!("`{default}`")
            };
            let help = argument
                .get_help()
                .map(|h| h.to_string())
                .unwrap_or_default()
                .replace('\n', " ")
                .replace('|', "\\|");
            out.push_str(&format!("| {variable} | {flag} | {default} | {help} |\n"));
        }
        out.push('\n');
    }
    out
}
