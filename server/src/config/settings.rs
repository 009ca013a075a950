//! The checked settings the running server uses: plain data, built once by
//! [`super::ServeArgs::settings`]. Nothing here opens a connection or a repository; the parts
//! that do ([`crate::environment`], the Git writer, the OIDC relying party) are built from
//! these values.

use std::path::PathBuf;
use std::time::Duration;

use app::requests::WriteMode;

use crate::teams::TeamMapping;

/// Checked settings of `slipway serve`.
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
    pub oidc: Option<OidcSettings>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Rate limits per client address and user.
    pub limits: LimitSettings,
    /// Caps and checks of the status streams.
    pub streams: StreamSettings,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// Where the catalog's offering files come from.
    pub catalog: CatalogSettings,
    /// Where teams' namespaced claims go, and the namespaces none may write into.
    pub namespaces: crate::teams::Namespaces,
    /// The environments, in display order (the order of `SLIPWAY_ENVIRONMENTS`).
    pub environments: Vec<EnvironmentSettings>,
    /// The clusters watched.
    pub control_plane: ControlPlaneSettings,
    /// How the Git writers work.
    pub git: GitSettings,
    /// The forge holding pull requests, when an environment uses them.
    pub forge: Option<ForgeSettings>,
}

/// A Git remote and how to authenticate to it.
#[derive(Clone)]
pub struct Remote {
    /// The URL as configured (may carry credentials: use [`Remote::display_url`] to show it).
    pub url: String,
    /// Credentials sent to it.
    pub credentials: Credentials,
}

impl Remote {
    /// The URL without credentials, fit for pages and logs.
    pub fn display_url(&self) -> String {
        super::redact_credentials(&self.url)
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.display_url())
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// One environment as configured: where its claims are committed and where they reconcile.
#[derive(Clone, Debug)]
pub struct EnvironmentSettings {
    /// Its name (an RFC 1123 label).
    pub name: String,
    /// The cluster its claims reconcile in, when one is configured.
    pub cluster: Option<String>,
    /// The repository its files are committed to.
    pub remote: Remote,
    /// The branch.
    pub branch: String,
    /// Folder in the repository the environment's files go under (`""`: the root).
    pub prefix: String,
    /// Direct commits or pull requests.
    pub mode: WriteMode,
    /// The forge project of its repository, when it is not the forge settings' own.
    pub forge_project: Option<String>,
    /// The environment its claims are promoted from: the one before it in the display order
    /// unless its entry names another (or none).
    pub promote_from: Option<String>,
    /// What a promotion into it must show of the source first.
    pub gates: Gates,
}

/// The gates of promotions into one environment (its `promotion` entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gates {
    /// The source's claim is Ready now.
    pub ready: bool,
    /// … and has been Ready, with no failure or reconciling since, for at least this long.
    pub soak: Duration,
    /// The source runs the offering version the catalog offers now (the one the target gets).
    pub same_version: bool,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            ready: true,
            soak: Duration::ZERO,
            same_version: true,
        }
    }
}

/// Rate limits per client address.
#[derive(Clone, Debug)]
pub struct LimitSettings {
    /// Sign-in requests per minute and client address.
    pub sign_in_per_minute: u32,
    /// API requests per minute and client address.
    pub api_per_minute: u32,
    /// API requests per minute and signed-in user (session or token).
    pub user_per_minute: u32,
    /// The header a proxy puts the client's address in.
    pub client_ip_header: Option<http::HeaderName>,
}

/// Status streams (Server-Sent Events).
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Open streams one user may have.
    pub per_user: usize,
    /// Open streams in all.
    pub total: usize,
    /// How often an open stream re-reads its session.
    pub check_every: Duration,
}

/// Where offering files are read from.
#[derive(Clone, Debug)]
pub struct CatalogSettings {
    /// The GitOps repository holding the catalog folder.
    pub remote: Remote,
    /// Branch of the desired state.
    pub branch: String,
    /// Folder of offering files in the repository.
    pub path: String,
    /// A folder on disk to read offering files from instead.
    pub dir: Option<PathBuf>,
    /// How often sources are checked for changes.
    pub refresh: Duration,
}

/// How the Git writers commit and retry, and where clones live.
#[derive(Clone, Debug)]
pub struct GitSettings {
    /// The committer of every commit.
    pub bot_name: String,
    /// The committer's e-mail.
    pub bot_email: String,
    /// Folder of the shared bare clones (one per remote).
    pub clone_dir: PathBuf,
    /// First retry delay after a failed attempt; doubles per attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long a lease (writer, recorder) lasts without renewal.
    pub lease_ttl: Duration,
    /// Longest sleep between looks at the outbox (submissions also wake the writer).
    pub poll: Duration,
    /// Most jobs per run (they share one fetch and one push).
    pub batch: i64,
    /// Web address of a commit with `{sha}`.
    pub commit_url: Option<String>,
    /// Deadlines of every git process and forge call.
    pub deadlines: Deadlines,
    /// Attempts before a change the remote refuses fails.
    pub max_attempts: u32,
}

/// How long a remote may take before the portal gives up on one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// A whole git process (or forge call); killed when it passes.
    pub total: Duration,
    /// Connecting, or a connection moving less than 1 KiB/s, for this long ends the call.
    pub stall: Duration,
}

/// The clusters Slipway watches.
#[derive(Clone, Debug, Default)]
pub struct ControlPlaneSettings {
    /// Clusters, in configuration order.
    pub clusters: Vec<ClusterSettings>,
    /// Kubeconfig file; `None`: `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// How often kinds a cluster did not serve are looked for again.
    pub rediscover: Duration,
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

/// A secret read at each use, so a rotated file (a Kubernetes Secret volume) takes effect
/// without a restart. Its `Debug` never shows the value.
#[derive(Clone)]
pub enum Secret {
    /// Given directly (environment variable).
    Value(String),
    /// Read from this file (trailing newline removed).
    File(PathBuf),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(***)"),
            Secret::File(path) => write!(f, "Secret(file {})", path.display()),
        }
    }
}

impl Secret {
    /// The secret's current value.
    pub fn read(&self) -> std::io::Result<String> {
        match self {
            Secret::Value(v) => Ok(v.clone()),
            Secret::File(path) => Ok(std::fs::read_to_string(path)?
                .trim_end_matches(['\r', '\n'])
                .to_owned()),
        }
    }
}

/// How the portal authenticates to a Git remote.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// HTTPS user name sent with the token (forges accept any for tokens; default `slipway`).
    pub username: Option<String>,
    /// HTTPS token or password (HTTP Basic).
    pub token: Option<Secret>,
    /// SSH private key file.
    pub ssh_key: Option<PathBuf>,
    /// SSH known-hosts file; with a key, hosts not in it are refused.
    pub known_hosts: Option<PathBuf>,
}

/// Which forge API to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitHub REST v3 (github.com or Enterprise Server).
    GitHub,
    /// GitLab REST v4 (merge requests).
    GitLab,
    /// Gitea / Forgejo REST v1.
    Gitea,
}

impl ForgeKind {
    /// From `github`, `gitlab`, `gitea` (or `forgejo`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "github" => Some(ForgeKind::GitHub),
            "gitlab" => Some(ForgeKind::GitLab),
            "gitea" | "forgejo" => Some(ForgeKind::Gitea),
            _ => None,
        }
    }
}

/// Where the forge is and how to call it.
#[derive(Clone, Debug)]
pub struct ForgeSettings {
    /// API flavour.
    pub kind: ForgeKind,
    /// Base URL: `https://api.github.com`, or the GitLab/Gitea server's root URL.
    pub api_url: String,
    /// `owner/repo` (GitHub, Gitea) or the project's full path (GitLab).
    pub project: String,
    /// API token.
    pub token: Secret,
    /// Secret webhooks are signed with (GitHub, Gitea) or carry (GitLab).
    pub webhook_secret: Option<Secret>,
    /// How often open pull requests are polled.
    pub poll: Duration,
}

/// Single sign-on settings, checked at start-up.
#[derive(Clone)]
pub struct OidcSettings {
    /// The provider's issuer URL.
    pub issuer: openidconnect::IssuerUrl,
    /// This portal's client id at the provider.
    pub client_id: String,
    /// The client secret (from the environment or a file); never logged.
    pub client_secret: Option<String>,
    /// Scopes to ask for (`openid` is always sent).
    pub scopes: Vec<String>,
    /// Claim holding the user's groups.
    pub groups_claim: String,
    /// Groups → teams.
    pub teams: TeamMapping,
    /// Sign-out continues at the provider's end-session endpoint.
    pub provider_logout: bool,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("scopes", &self.scopes)
            .field("groups_claim", &self.groups_claim)
            .field("teams", &self.teams)
            .field("provider_logout", &self.provider_logout)
            .finish()
    }
}
