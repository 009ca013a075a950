//! Typed configuration: every setting is a flag with an `SLIPWAY_*` (or `DATABASE_URL`)
//! environment variable, documented in `slipway <command> --help`. Values are checked once at
//! start-up ([`ServeArgs::settings`]) and the server fails fast naming the offending variable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Import requests with their ledger (and users, ratings) from a YAML file — history from
    /// another system, or a demo: times are given as "how long ago" (see the README).
    ImportLedger(ImportLedgerArgs),
}

/// Options of `slipway import-ledger`.
#[derive(Clone, Debug, Args)]
pub struct ImportLedgerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The YAML file.
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

/// Where the database is.
#[derive(Clone, Debug, Args)]
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

impl DatabaseArgs {
    /// Connects to the database and applies pending migrations, naming DATABASE_URL in errors.
    pub async fn open_migrated(&self) -> anyhow::Result<crate::db::Db> {
        use anyhow::Context as _;
        let db = crate::db::Db::connect(&self.database_url, self.db_max_connections)
            .await
            .context("connecting to the database named by DATABASE_URL")?;
        db.migrate().await.context("applying database migrations")?;
        Ok(db)
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
    pub git_token: Option<String>,
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
    /// write mode, forge project and credentials (see the README); environments it does not
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
    pub forge_token: Option<String>,
    /// File holding the forge API token.
    #[arg(long, env = "SLIPWAY_FORGE_TOKEN_FILE")]
    pub forge_token_file: Option<PathBuf>,
    /// Secret the forge signs webhooks with (GitHub, Gitea) or sends (GitLab); without it
    /// webhooks are refused and merges are found by polling only.
    #[arg(long, env = "SLIPWAY_FORGE_WEBHOOK_SECRET", hide_env_values = true)]
    pub forge_webhook_secret: Option<String>,
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
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "SLIPWAY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish on shutdown, in seconds.
    #[arg(long, env = "SLIPWAY_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
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
    pub oidc_client_secret: Option<String>,
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

/// Checked settings the running server uses.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Scheme, host and port users reach the portal at, e.g. `https://slipway.example.com`.
    pub public_origin: String,
    /// Whether cookies carry `Secure` (public URL is HTTPS).
    pub secure_cookies: bool,
    /// Development login on.
    pub dev_login: bool,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Idle timeout of a session.
    pub session_idle: Duration,
    /// Single sign-on, when configured.
    pub oidc: Option<crate::auth::oidc::OidcSettings>,
    /// GitOps repository URL (credentials never included).
    pub git_url: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Where the catalog and previews read from.
    pub catalog: CatalogSettings,
    /// The clusters watched.
    pub control_plane: ControlPlaneSettings,
    /// The Git writer.
    pub git: GitSettings,
}

/// How the Git writer commits (the repository is the catalog's: [`Settings::git_target`]).
#[derive(Clone, Debug)]
pub struct GitSettings {
    /// Bot identity, folders, retries.
    pub writer: crate::git::writer::WriterSettings,
    /// Web address of a commit with `{sha}`.
    pub commit_url: Option<String>,
    /// Pull-request mode, when some environments use it.
    pub pull_requests: Option<PullRequestSettings>,
    /// Each environment's Git target, by name (every configured environment has one).
    pub environments: BTreeMap<String, EnvironmentGit>,
}

/// Where one environment's claims are committed.
#[derive(Clone, Debug)]
pub struct EnvironmentGit {
    /// Repository, branch, credentials.
    pub target: crate::git::writer::Target,
    /// Folder in the repository the environment's files go under (`""`: the root).
    pub prefix: String,
    /// Through pull requests instead of direct commits.
    pub pull_request: bool,
    /// The forge project of the repository, when it is not `SLIPWAY_FORGE_PROJECT`'s.
    pub forge_project: Option<String>,
}

/// One entry of `SLIPWAY_ENVIRONMENTS_FILE`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvironmentEntry {
    repository: Option<String>,
    branch: Option<String>,
    path_prefix: Option<String>,
    mode: Option<String>,
    forge_project: Option<String>,
    credentials: Option<CredentialsEntry>,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsEntry {
    username: Option<String>,
    token_file: Option<PathBuf>,
    ssh_key_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
}

/// Environments committed through pull requests, and the forge that holds them.
#[derive(Clone, Debug)]
pub struct PullRequestSettings {
    /// Environment names.
    pub environments: Vec<String>,
    /// The forge.
    pub forge: crate::git::forge::ForgeSettings,
    /// How often open pull requests are polled.
    pub poll: Duration,
}

impl Settings {
    /// Where `environment`'s claims are committed: as configured, else the catalog's
    /// repository and branch at its root, by pull request when the environment is listed
    /// for them.
    pub fn environment_git(&self, environment: &str) -> EnvironmentGit {
        self.git
            .environments
            .get(environment)
            .cloned()
            .unwrap_or_else(|| EnvironmentGit {
                target: self.git_target(),
                prefix: String::new(),
                pull_request: self
                    .git
                    .pull_requests
                    .as_ref()
                    .is_some_and(|p| p.environments.iter().any(|e| e == environment)),
                forge_project: None,
            })
    }

    /// The repository and branch requests are committed to.
    pub fn git_target(&self) -> crate::git::writer::Target {
        crate::git::writer::Target {
            url: self.catalog.repo_url.clone(),
            branch: self.catalog.branch.clone(),
            credentials: self.catalog.credentials.clone(),
        }
    }
}

/// The clusters Slipway watches and which environment reconciles where.
#[derive(Clone, Debug, Default)]
pub struct ControlPlaneSettings {
    /// Clusters, in configuration order.
    pub clusters: Vec<ClusterSettings>,
    /// Kubeconfig file; `None`: `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// Environment → cluster name, for environments that reconcile in a configured cluster.
    pub environment_clusters: Vec<(String, String)>,
    /// How often kinds a cluster did not serve are looked for again.
    pub rediscover: Duration,
}

impl ControlPlaneSettings {
    /// The environments whose claims reconcile in `cluster`, in configuration order.
    pub fn environments_of(&self, cluster: &str) -> Vec<String> {
        self.environment_clusters
            .iter()
            .filter(|(_, c)| c == cluster)
            .map(|(e, _)| e.clone())
            .collect()
    }
}

/// One cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The name Slipway shows.
    pub name: String,
    /// How to reach it.
    pub access: ClusterAccess,
}

/// How a cluster is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterAccess {
    /// The pod's service account (in-cluster configuration).
    InCluster,
    /// A context of the kubeconfig.
    Context(String),
}

/// The catalog's sources and the repository previews compare against.
#[derive(Clone)]
pub struct CatalogSettings {
    /// Environment names.
    pub environments: Vec<String>,
    /// GitOps repository URL as configured (may carry credentials: never logged).
    pub repo_url: String,
    /// Branch of the desired state.
    pub branch: String,
    /// Folder of offering files in the repository.
    pub repo_path: String,
    /// A folder on disk to read offering files from instead.
    pub dir: Option<PathBuf>,
    /// How the portal authenticates to the repository.
    pub credentials: crate::git::Credentials,
    /// Where caches (the repository mirror) live.
    pub cache_dir: PathBuf,
    /// How often sources are checked for changes.
    pub refresh: Duration,
}

impl std::fmt::Debug for CatalogSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogSettings")
            .field("environments", &self.environments)
            .field("repo_url", &redact_credentials(&self.repo_url))
            .field("branch", &self.branch)
            .field("repo_path", &self.repo_path)
            .field("dir", &self.dir)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl ServeArgs {
    /// Checks the arguments and derives the server's settings.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let public_url = match &self.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{}", self.listen)).map_err(|e| ConfigError {
                variable: "SLIPWAY_LISTEN",
                problem: e.to_string(),
            })?,
        };
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host().is_none() {
            return Err(ConfigError {
                variable: "SLIPWAY_PUBLIC_URL",
                problem: format!("must be an http(s) URL with a host, got `{public_url}`"),
            });
        }
        if self.dev_login {
            if !self.listen.ip().is_loopback() {
                return Err(ConfigError {
                    variable: "SLIPWAY_DEV_LOGIN",
                    problem: format!(
                        "the development login lets anyone sign in as anyone; it is refused on the non-loopback address {}",
                        self.listen
                    ),
                });
            }
            if !host_is_loopback(&public_url) {
                return Err(ConfigError {
                    variable: "SLIPWAY_DEV_LOGIN",
                    problem: format!("refused with the non-loopback public URL {public_url}"),
                });
            }
        }
        if self.session_ttl_secs < 60 {
            return Err(ConfigError {
                variable: "SLIPWAY_SESSION_TTL_SECS",
                problem: "must be at least 60 seconds".into(),
            });
        }
        let git_url = match &self.git_url {
            Some(url) => url.clone(),
            None => format!(
                "file://{}",
                absolute(&self.data_dir.join("gitops.git")).display()
            ),
        };
        if self.session_idle_secs < 60 {
            return Err(ConfigError {
                variable: "SLIPWAY_SESSION_IDLE_SECS",
                problem: "must be at least 60 seconds".into(),
            });
        }
        let clusters = self.checked_clusters()?;
        let environments = self.checked_environments(&clusters)?;
        Ok(Settings {
            control_plane: ControlPlaneSettings {
                environment_clusters: environments
                    .iter()
                    .filter_map(|(e, c)| c.clone().map(|c| (e.clone(), c)))
                    .collect(),
                clusters,
                kubeconfig: self.kubeconfig.clone(),
                rediscover: Duration::from_secs(self.kube_rediscover_secs.max(1)),
            },
            public_origin: public_url.origin().ascii_serialization(),
            secure_cookies: public_url.scheme() == "https",
            dev_login: self.dev_login,
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            session_idle: Duration::from_secs(self.session_idle_secs),
            oidc: self.sso.settings()?,
            git_url: redact_credentials(&git_url),
            max_body_bytes: self.max_body_bytes,
            git: GitSettings {
                writer: crate::git::writer::WriterSettings {
                    bot_name: self.git_bot_name.clone(),
                    bot_email: self.git_bot_email.clone(),
                    clone_dir: absolute(&self.data_dir.join("git")),
                    retry_base: Duration::from_secs(1),
                    retry_max: Duration::from_secs(self.git_retry_max_secs.max(1)),
                    lease_ttl: Duration::from_secs(30),
                    poll: Duration::from_secs(5),
                    batch: 100,
                },
                commit_url: self.git_commit_url.clone(),
                environments: self.environment_targets(&environments, &git_url)?,
                pull_requests: self.pull_requests(&environments)?,
            },
            catalog: CatalogSettings {
                credentials: self.git_credentials()?,
                environments: environments.into_iter().map(|(e, _)| e).collect(),
                repo_url: git_url,
                branch: self.git_branch.clone(),
                repo_path: self.catalog_path.trim_matches('/').to_owned(),
                dir: self.catalog_dir.clone(),
                cache_dir: absolute(&self.data_dir.join("cache")),
                refresh: Duration::from_secs(self.catalog_refresh_secs.max(1)),
            },
        })
    }
}

impl ServeArgs {
    fn environments_file(&self) -> Result<BTreeMap<String, EnvironmentEntry>, ConfigError> {
        let Some(path) = &self.environments_file else {
            return Ok(BTreeMap::new());
        };
        let invalid = |problem: String| ConfigError {
            variable: "SLIPWAY_ENVIRONMENTS_FILE",
            problem: format!("{}: {problem}", path.display()),
        };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        serde_saphyr::from_str::<BTreeMap<String, EnvironmentEntry>>(&text)
            .map_err(|e| invalid(e.to_string()))
    }

    fn environment_targets(
        &self,
        environments: &[(String, Option<String>)],
        default_url: &str,
    ) -> Result<BTreeMap<String, EnvironmentGit>, ConfigError> {
        use crate::git::Secret;
        let file = self.environments_file()?;
        let invalid = |problem: String| ConfigError {
            variable: "SLIPWAY_ENVIRONMENTS_FILE",
            problem,
        };
        for name in file.keys() {
            if !environments.iter().any(|(e, _)| e == name) {
                return Err(invalid(format!(
                    "{name:?} is not one of SLIPWAY_ENVIRONMENTS"
                )));
            }
        }
        let defaults = self.git_credentials()?;
        let mut out = BTreeMap::new();
        for (name, _) in environments {
            let entry = file.get(name).cloned().unwrap_or_default();
            let pull_request = match entry.mode.as_deref() {
                None => self
                    .pull_request_environments
                    .iter()
                    .any(|e| e.trim() == name),
                Some("direct") => false,
                Some("pull-request") => true,
                Some(other) => {
                    return Err(invalid(format!(
                        "{name}: mode {other:?} is not direct or pull-request"
                    )));
                }
            };
            let prefix = entry
                .path_prefix
                .as_deref()
                .unwrap_or_default()
                .trim_matches('/')
                .to_owned();
            if prefix.split('/').any(|s| s == ".." || s == ".")
                || prefix.contains("//")
                || prefix.contains('\\')
            {
                return Err(invalid(format!(
                    "{name}: pathPrefix {prefix:?} is not a plain folder path"
                )));
            }
            let credentials = match entry.credentials {
                None => defaults.clone(),
                Some(c) => {
                    for file in [&c.token_file, &c.ssh_key_file].into_iter().flatten() {
                        std::fs::metadata(file)
                            .map_err(|e| invalid(format!("{name}: {}: {e}", file.display())))?;
                    }
                    crate::git::Credentials {
                        username: c.username,
                        token: c.token_file.map(Secret::File),
                        ssh_key: c.ssh_key_file,
                        known_hosts: c.known_hosts_file,
                    }
                }
            };
            out.insert(
                name.clone(),
                EnvironmentGit {
                    target: crate::git::writer::Target {
                        url: entry.repository.unwrap_or_else(|| default_url.to_owned()),
                        branch: entry.branch.unwrap_or_else(|| self.git_branch.clone()),
                        credentials,
                    },
                    prefix,
                    pull_request,
                    forge_project: entry.forge_project,
                },
            );
        }
        Ok(out)
    }

    fn pull_requests(
        &self,
        environments: &[(String, Option<String>)],
    ) -> Result<Option<PullRequestSettings>, ConfigError> {
        use crate::git::Secret;
        use crate::git::forge::{ForgeKind, ForgeSettings};
        let file = self.environments_file()?;
        let mut names: Vec<String> = self
            .pull_request_environments
            .iter()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .filter(|e| file.get(e).and_then(|f| f.mode.as_deref()) != Some("direct"))
            .collect();
        for (name, entry) in &file {
            if entry.mode.as_deref() == Some("pull-request") && !names.contains(name) {
                names.push(name.clone());
            }
        }
        if names.is_empty() {
            return Ok(None);
        }
        let invalid = |variable: &'static str, problem: String| ConfigError { variable, problem };
        for name in &names {
            if !environments.iter().any(|(e, _)| e == name) {
                return Err(invalid(
                    "SLIPWAY_PULL_REQUEST_ENVIRONMENTS",
                    format!("{name:?} is not one of SLIPWAY_ENVIRONMENTS"),
                ));
            }
        }
        let kind = self
            .forge
            .as_deref()
            .ok_or_else(|| {
                invalid(
                    "SLIPWAY_FORGE",
                    "pull requests need a forge: github, gitlab or gitea".into(),
                )
            })
            .and_then(|k| {
                ForgeKind::parse(k).ok_or_else(|| {
                    invalid(
                        "SLIPWAY_FORGE",
                        format!("{k:?} is not github, gitlab or gitea"),
                    )
                })
            })?;
        let api_url = match (&self.forge_api_url, kind) {
            (Some(url), _) => url.clone(),
            (None, ForgeKind::GitHub) => "https://api.github.com".into(),
            (None, _) => {
                return Err(invalid(
                    "SLIPWAY_FORGE_API_URL",
                    "the GitLab or Gitea server's address is required".into(),
                ));
            }
        };
        Url::parse(&api_url)
            .map_err(|e| invalid("SLIPWAY_FORGE_API_URL", format!("{api_url:?}: {e}")))?;
        let project = self.forge_project.clone().unwrap_or_default();
        for name in &names {
            let own = file.get(name).and_then(|f| f.forge_project.clone());
            if !own.as_deref().unwrap_or(&project).contains('/') {
                return Err(invalid(
                    "SLIPWAY_FORGE_PROJECT",
                    format!(
                        "{name:?} uses pull requests: set owner/repo (or the GitLab project path), here or as its forgeProject"
                    ),
                ));
            }
        }
        let secret = |value: &Option<String>, file: &Option<PathBuf>, variable: &'static str| match (
            value, file,
        ) {
            (Some(_), Some(_)) => Err(invalid(
                variable,
                "set the value or the file, not both".into(),
            )),
            (Some(v), None) => Ok(Some(Secret::Value(v.clone()))),
            (None, Some(f)) => {
                std::fs::metadata(f)
                    .map_err(|e| invalid(variable, format!("{}: {e}", f.display())))?;
                Ok(Some(Secret::File(f.clone())))
            }
            (None, None) => Ok(None),
        };
        let token = secret(
            &self.forge_token,
            &self.forge_token_file,
            "SLIPWAY_FORGE_TOKEN",
        )?
        .ok_or_else(|| {
            invalid(
                "SLIPWAY_FORGE_TOKEN",
                "pull requests need a forge token".into(),
            )
        })?;
        let webhook_secret = secret(
            &self.forge_webhook_secret,
            &self.forge_webhook_secret_file,
            "SLIPWAY_FORGE_WEBHOOK_SECRET",
        )?;
        Ok(Some(PullRequestSettings {
            environments: names,
            forge: ForgeSettings {
                kind,
                api_url,
                project,
                token,
                webhook_secret,
            },
            poll: Duration::from_secs(self.forge_poll_secs.max(5)),
        }))
    }

    fn git_credentials(&self) -> Result<crate::git::Credentials, ConfigError> {
        use crate::git::Secret;
        let token = match (&self.git_token, &self.git_token_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    variable: "SLIPWAY_GIT_TOKEN_FILE",
                    problem: "set either SLIPWAY_GIT_TOKEN or SLIPWAY_GIT_TOKEN_FILE, not both"
                        .into(),
                });
            }
            (Some(value), None) => Some(Secret::Value(value.clone())),
            (None, Some(file)) => {
                std::fs::metadata(file).map_err(|e| ConfigError {
                    variable: "SLIPWAY_GIT_TOKEN_FILE",
                    problem: format!("{}: {e}", file.display()),
                })?;
                Some(Secret::File(file.clone()))
            }
            (None, None) => None,
        };
        if let Some(key) = &self.git_ssh_key_file {
            std::fs::metadata(key).map_err(|e| ConfigError {
                variable: "SLIPWAY_GIT_SSH_KEY_FILE",
                problem: format!("{}: {e}", key.display()),
            })?;
        }
        Ok(crate::git::Credentials {
            username: self.git_username.clone(),
            token,
            ssh_key: self.git_ssh_key_file.clone(),
            known_hosts: self.git_known_hosts_file.clone(),
        })
    }

    fn checked_clusters(&self) -> Result<Vec<ClusterSettings>, ConfigError> {
        let mut clusters: Vec<ClusterSettings> = Vec::new();
        for entry in self
            .clusters
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            let (name, access) = entry.split_once('=').unwrap_or((entry, entry));
            let (name, access) = (name.trim(), access.trim());
            let invalid = |problem: String| ConfigError {
                variable: "SLIPWAY_CLUSTERS",
                problem,
            };
            app::catalog::check_name(name).map_err(|p| invalid(format!("{name:?}: {p}")))?;
            if access.is_empty() {
                return Err(invalid(format!(
                    "{name:?}: name a kubeconfig context or in-cluster"
                )));
            }
            if clusters.iter().any(|c| c.name == name) {
                return Err(invalid(format!("the cluster name {name:?} is used twice")));
            }
            clusters.push(ClusterSettings {
                name: name.to_owned(),
                access: match access {
                    "in-cluster" => ClusterAccess::InCluster,
                    context => ClusterAccess::Context(context.to_owned()),
                },
            });
        }
        Ok(clusters)
    }

    /// Environment names with the cluster each reconciles in.
    fn checked_environments(
        &self,
        clusters: &[ClusterSettings],
    ) -> Result<Vec<(String, Option<String>)>, ConfigError> {
        let mut names: Vec<(String, Option<String>)> = Vec::new();
        for entry in &self.environments {
            let (name, cluster) = match entry.split_once('@') {
                Some((name, cluster)) => (name.trim(), Some(cluster.trim())),
                None => (entry.trim(), None),
            };
            app::catalog::check_name(name).map_err(|problem| ConfigError {
                variable: "SLIPWAY_ENVIRONMENTS",
                problem: format!("{name:?}: {problem}"),
            })?;
            let cluster = match cluster {
                Some(cluster) if clusters.iter().any(|c| c.name == cluster) => {
                    Some(cluster.to_owned())
                }
                Some(cluster) => {
                    return Err(ConfigError {
                        variable: "SLIPWAY_ENVIRONMENTS",
                        problem: format!(
                            "{name:?} names the cluster {cluster:?}, which SLIPWAY_CLUSTERS does not list"
                        ),
                    });
                }
                None if clusters.len() == 1 => Some(clusters[0].name.clone()),
                None => clusters
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| c.name.clone()),
            };
            if !names.iter().any(|(n, _)| n == name) {
                names.push((name.to_owned(), cluster));
            }
        }
        if names.is_empty() {
            return Err(ConfigError {
                variable: "SLIPWAY_ENVIRONMENTS",
                problem: "name at least one environment".into(),
            });
        }
        Ok(names)
    }
}

impl SsoArgs {
    /// Checked OIDC settings, or `None` when no issuer is configured.
    pub fn settings(&self) -> Result<Option<crate::auth::oidc::OidcSettings>, ConfigError> {
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(None);
        };
        let issuer =
            openidconnect::IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned())
                .map_err(|e| ConfigError {
                    variable: "SLIPWAY_OIDC_ISSUER",
                    problem: e.to_string(),
                })?;
        let client_secret = match (&self.oidc_client_secret, &self.oidc_client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    variable: "SLIPWAY_OIDC_CLIENT_SECRET_FILE",
                    problem: "set either the secret or the secret file, not both".into(),
                });
            }
            (Some(secret), None) => Some(secret.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| ConfigError {
                        variable: "SLIPWAY_OIDC_CLIENT_SECRET_FILE",
                        problem: format!("cannot read {}: {e}", file.display()),
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let mut scopes = vec!["openid".to_owned()];
        for scope in self
            .oidc_scopes
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            if !scopes.iter().any(|known| known == scope) {
                scopes.push(scope.to_owned());
            }
        }
        let teams = crate::auth::teams::TeamMapping::new(
            &self.team_map,
            self.team_regex.as_deref(),
            self.team_prefix.as_deref(),
            self.admin_group.as_deref(),
        )
        .map_err(|e| ConfigError {
            variable: match e {
                crate::auth::teams::MappingError::BadPair(_) => "SLIPWAY_TEAM_MAP",
                crate::auth::teams::MappingError::Regex(_) => "SLIPWAY_TEAM_REGEX",
            },
            problem: e.to_string(),
        })?;
        Ok(Some(crate::auth::oidc::OidcSettings {
            issuer,
            client_id: self.oidc_client_id.clone(),
            client_secret,
            scopes,
            groups_claim: self.oidc_groups_claim.clone(),
            teams,
        }))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["slipway", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("arguments parse").command {
            Command::Serve(a) => *a,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn an_environments_file_gives_environments_their_own_repository_prefix_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("prod-token");
        std::fs::write(&token, "t\n").unwrap();
        let file = dir.path().join("environments.yaml");
        std::fs::write(
            &file,
            format!(
                "prod:\n  repository: https://git.example.com/acme/gitops-prod.git\n  branch: release\n  pathPrefix: /clusters/prod/\n  mode: pull-request\n  forgeProject: acme/gitops-prod\n  credentials:\n    username: bot\n    tokenFile: {}\n",
                token.display()
            ),
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let settings = serve(&[
            "--environments-file",
            path,
            "--forge",
            "github",
            "--forge-token",
            "x",
            "--git-url",
            "https://git.example.com/acme/gitops.git",
        ])
        .settings()
        .unwrap();
        let prod = settings.environment_git("prod");
        assert_eq!(
            prod.target.url,
            "https://git.example.com/acme/gitops-prod.git"
        );
        assert_eq!(prod.target.branch, "release");
        assert_eq!(prod.prefix, "clusters/prod");
        assert!(prod.pull_request);
        assert_eq!(prod.forge_project.as_deref(), Some("acme/gitops-prod"));
        assert_eq!(prod.target.credentials.username.as_deref(), Some("bot"));
        let dev = settings.environment_git("dev");
        assert_eq!(dev.target.url, "https://git.example.com/acme/gitops.git");
        assert_eq!((dev.prefix.as_str(), dev.pull_request), ("", false));
        assert_eq!(settings.git.pull_requests.unwrap().environments, ["prod"]);

        for (text, problem) in [
            ("qa: {}\n", "\"qa\" is not one of SLIPWAY_ENVIRONMENTS"),
            ("dev: {mode: sometimes}\n", "is not direct or pull-request"),
            ("dev: {pathPrefix: ../up}\n", "is not a plain folder path"),
            ("dev: {repo: x}\n", "unknown field"),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = serve(&["--environments-file", path])
                .settings()
                .unwrap_err();
            assert_eq!(err.variable, "SLIPWAY_ENVIRONMENTS_FILE");
            assert!(err.problem.contains(problem), "{text}: {}", err.problem);
        }
        std::fs::write(&file, "prod: {mode: pull-request}\n").unwrap();
        let err = serve(&[
            "--environments-file",
            path,
            "--forge",
            "gitlab",
            "--forge-api-url",
            "https://gl.example.com",
            "--forge-token",
            "x",
        ])
        .settings()
        .unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_FORGE_PROJECT", "{}", err.problem);
    }

    #[test]
    fn environments_reconcile_in_the_cluster_they_name_or_the_only_one() {
        let only = serve(&["--clusters", "cp=kind-cp", "--environments", "dev,prod"])
            .settings()
            .unwrap()
            .control_plane;
        assert_eq!(
            only.clusters,
            [ClusterSettings {
                name: "cp".into(),
                access: ClusterAccess::Context("kind-cp".into())
            }]
        );
        assert_eq!(
            only.environments_of("cp"),
            ["dev", "prod"],
            "one cluster serves all"
        );

        let several = serve(&[
            "--clusters",
            "prod=in-cluster,staging,lab=ctx-lab",
            "--environments",
            "dev@lab,staging,prod,qa",
        ])
        .settings()
        .unwrap();
        let plane = &several.control_plane;
        assert_eq!(plane.clusters[0].access, ClusterAccess::InCluster);
        assert_eq!(
            plane.clusters[1].access,
            ClusterAccess::Context("staging".into())
        );
        assert_eq!(plane.environments_of("lab"), ["dev"], "named with @");
        assert_eq!(plane.environments_of("staging"), ["staging"], "same name");
        assert_eq!(plane.environments_of("prod"), ["prod"]);
        assert_eq!(
            several.catalog.environments,
            ["dev", "staging", "prod", "qa"],
            "qa has no cluster but is still an environment"
        );
    }

    #[test]
    fn cluster_settings_that_cannot_work_are_refused_with_the_variable_named() {
        let unknown = serve(&["--clusters", "cp=ctx", "--environments", "dev@elsewhere"])
            .settings()
            .unwrap_err();
        assert_eq!(unknown.variable, "SLIPWAY_ENVIRONMENTS");
        assert!(unknown.problem.contains("elsewhere"), "{unknown}");
        let twice = serve(&["--clusters", "cp=a,cp=b"]).settings().unwrap_err();
        assert_eq!(twice.variable, "SLIPWAY_CLUSTERS");
        let bad_name = serve(&["--clusters", "Prod_1=a"]).settings().unwrap_err();
        assert_eq!(bad_name.variable, "SLIPWAY_CLUSTERS");
    }

    #[test]
    fn dev_login_is_refused_on_a_public_listen_address() {
        let err = serve(&["--dev-login", "--listen", "0.0.0.0:3000"])
            .settings()
            .unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_DEV_LOGIN");
        assert!(err.problem.contains("0.0.0.0:3000"), "{err}");
    }

    #[test]
    fn dev_login_is_refused_with_a_public_url_even_on_loopback() {
        let err = serve(&["--dev-login", "--public-url", "https://portal.example.com"])
            .settings()
            .unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_DEV_LOGIN");
    }

    #[test]
    fn dev_login_is_accepted_on_loopback() {
        let settings = serve(&["--dev-login"]).settings().unwrap();
        assert!(settings.dev_login);
        assert_eq!(settings.public_origin, "http://127.0.0.1:3000");
        assert!(!settings.secure_cookies);
    }

    #[test]
    fn an_https_public_url_makes_cookies_secure() {
        let settings = serve(&["--public-url", "https://portal.example.com/base/"])
            .settings()
            .unwrap();
        assert!(settings.secure_cookies);
        assert_eq!(settings.public_origin, "https://portal.example.com");
    }

    #[test]
    fn a_public_url_without_http_is_refused_naming_the_variable() {
        let err = serve(&["--public-url", "ftp://x.example.com"])
            .settings()
            .unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_PUBLIC_URL");
    }

    #[test]
    fn credentials_in_the_git_url_never_reach_the_settings() {
        let settings = serve(&[
            "--git-url",
            "https://bot:s3cret@git.example.com/platform/gitops.git",
        ])
        .settings()
        .unwrap();
        assert_eq!(
            settings.git_url,
            "https://git.example.com/platform/gitops.git"
        );
    }

    #[test]
    fn single_sign_on_is_off_without_an_issuer() {
        assert!(serve(&[]).settings().unwrap().oidc.is_none());
    }

    #[test]
    fn the_client_secret_is_read_from_its_file_without_the_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        let settings = serve(&[
            "--oidc-issuer",
            "https://idp.example.com/realms/x/",
            "--oidc-client-secret-file",
            file.to_str().unwrap(),
            "--oidc-scopes",
            "profile groups",
        ])
        .settings()
        .unwrap();
        let oidc = settings.oidc.unwrap();
        assert_eq!(oidc.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(
            oidc.issuer.as_str(),
            "https://idp.example.com/realms/x",
            "trailing slash dropped"
        );
        assert_eq!(
            oidc.scopes,
            vec!["openid", "profile", "groups"],
            "openid always first"
        );
    }

    #[test]
    fn secret_and_secret_file_together_are_refused() {
        let err = serve(&[
            "--oidc-issuer",
            "https://idp.example.com",
            "--oidc-client-secret",
            "a",
            "--oidc-client-secret-file",
            "/x",
        ])
        .settings()
        .unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_OIDC_CLIENT_SECRET_FILE");
    }

    #[test]
    fn a_broken_team_regex_is_refused_naming_the_variable() {
        let err = serve(&[
            "--oidc-issuer",
            "https://idp.example.com",
            "--team-regex",
            "(open",
        ])
        .settings()
        .unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_TEAM_REGEX");
    }

    #[test]
    fn the_default_git_repository_lives_in_the_data_folder() {
        let settings = serve(&["--data-dir", "/srv/slipway"]).settings().unwrap();
        assert_eq!(settings.git_url, "file:///srv/slipway/gitops.git");
    }
}
