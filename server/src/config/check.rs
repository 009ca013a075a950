//! From command-line arguments to checked [`Settings`]: every rule a setting must follow,
//! each failure naming the variable to fix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use app::requests::WriteMode;
use url::Url;

use super::{
    CatalogSettings, ClusterAccess, ClusterSettings, ConfigError, ControlPlaneSettings,
    Credentials, Deadlines, EnvironmentSettings, ForgeKind, ForgeSettings, GitSettings,
    OidcSettings, Remote, Secret, ServeArgs, Settings, SsoArgs, absolute, host_is_loopback,
};
use crate::teams::{MappingError, TeamMapping};

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
    /// The environment claims are promoted from; `""`: none (default: the one before).
    promote_from: Option<String>,
    promotion: Option<GatesEntry>,
}

/// `promotion:` of an environment entry: the gates of promotions into it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GatesEntry {
    require_ready: Option<bool>,
    /// `30m`, `1h 30m`, `2d` (humantime's units).
    soak: Option<String>,
    require_same_version: Option<bool>,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsEntry {
    username: Option<String>,
    token_file: Option<PathBuf>,
    ssh_key_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl ServeArgs {
    /// Checks the arguments and derives the server's settings.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let public_url = match &self.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{}", self.listen))
                .map_err(|e| invalid("SLIPWAY_LISTEN", e.to_string()))?,
        };
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host().is_none() {
            return Err(invalid(
                "SLIPWAY_PUBLIC_URL",
                format!("must be an http(s) URL with a host, got `{public_url}`"),
            ));
        }
        if self.dev_login {
            if !self.listen.ip().is_loopback() {
                return Err(invalid(
                    "SLIPWAY_DEV_LOGIN",
                    format!(
                        "the development login lets anyone sign in as anyone; it is refused on the non-loopback address {}",
                        self.listen
                    ),
                ));
            }
            if !host_is_loopback(&public_url) {
                return Err(invalid(
                    "SLIPWAY_DEV_LOGIN",
                    format!("refused with the non-loopback public URL {public_url}"),
                ));
            }
        }
        for (variable, secs) in [
            ("SLIPWAY_SESSION_TTL_SECS", self.session_ttl_secs),
            ("SLIPWAY_SESSION_IDLE_SECS", self.session_idle_secs),
        ] {
            if secs < 60 {
                return Err(invalid(variable, "must be at least 60 seconds"));
            }
        }
        if self.git_max_attempts == 0 {
            return Err(invalid("SLIPWAY_GIT_MAX_ATTEMPTS", "must be at least 1"));
        }
        let default_remote = Remote {
            url: match &self.git_url {
                Some(url) => url.clone(),
                None => format!(
                    "file://{}",
                    absolute(&self.data_dir.join("gitops.git")).display()
                ),
            },
            credentials: self.git_credentials()?,
        };
        let clusters = self.checked_clusters()?;
        let environments = self.checked_environments(&clusters, &default_remote)?;
        let forge = self.forge(&environments)?;
        Ok(Settings {
            public_origin: public_url.origin().ascii_serialization(),
            secure_cookies: public_url.scheme() == "https",
            dev_login: self.dev_login,
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            session_idle: Duration::from_secs(self.session_idle_secs),
            oidc: self.sso.settings()?,
            max_body_bytes: self.max_body_bytes,
            limits: super::settings::LimitSettings {
                sign_in_per_minute: self.sign_in_per_minute.max(1),
                api_per_minute: self.api_per_minute.max(1),
                user_per_minute: self.user_per_minute.max(1),
                client_ip_header: self
                    .client_ip_header
                    .as_deref()
                    .filter(|h| !h.trim().is_empty())
                    .map(|h| http::HeaderName::try_from(h.trim()))
                    .transpose()
                    .map_err(|e| invalid("SLIPWAY_CLIENT_IP_HEADER", e.to_string()))?,
            },
            streams: super::settings::StreamSettings {
                per_user: self.streams_per_user.max(1),
                total: self.streams_total.max(1),
                check_every: Duration::from_secs(self.stream_check_secs.max(1)),
            },
            audit_retention: Duration::from_secs(
                u64::from(self.audit_retention_days.max(1)) * 86_400,
            ),
            catalog: CatalogSettings {
                remote: default_remote,
                branch: self.git_branch.clone(),
                path: self.catalog_path.trim_matches('/').to_owned(),
                dir: self.catalog_dir.clone(),
                refresh: Duration::from_secs(self.catalog_refresh_secs.max(1)),
            },
            namespaces: crate::teams::Namespaces::new(
                &self.team_namespaces,
                &self.forbidden_namespaces,
            )
            .map_err(|e| {
                let variable = match e {
                    crate::teams::NamespaceError::BadPair(_)
                    | crate::teams::NamespaceError::Shared(..) => "SLIPWAY_TEAM_NAMESPACES",
                    crate::teams::NamespaceError::BadPattern(_) => "SLIPWAY_FORBIDDEN_NAMESPACES",
                };
                invalid(variable, e.to_string())
            })?,
            environments,
            control_plane: ControlPlaneSettings {
                clusters,
                kubeconfig: self.kubeconfig.clone(),
                rediscover: Duration::from_secs(self.kube_rediscover_secs.max(1)),
            },
            git: GitSettings {
                bot_name: self.git_bot_name.clone(),
                bot_email: self.git_bot_email.clone(),
                clone_dir: absolute(&self.data_dir.join("git")),
                retry_base: Duration::from_secs(1),
                retry_max: Duration::from_secs(self.git_retry_max_secs.max(1)),
                lease_ttl: Duration::from_secs(self.lease_ttl_secs.max(1)),
                poll: Duration::from_secs(5),
                batch: 100,
                commit_url: self.git_commit_url.clone(),
                deadlines: Deadlines {
                    total: Duration::from_secs(self.git_timeout_secs.max(1)),
                    stall: Duration::from_secs(self.git_stall_secs.max(1)),
                },
                max_attempts: self.git_max_attempts,
            },
            forge,
        })
    }

    fn environments_file(&self) -> Result<BTreeMap<String, EnvironmentEntry>, ConfigError> {
        let Some(path) = &self.environments_file else {
            return Ok(BTreeMap::new());
        };
        let fail = |problem: String| {
            invalid(
                "SLIPWAY_ENVIRONMENTS_FILE",
                format!("{}: {problem}", path.display()),
            )
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        serde_saphyr::from_str::<BTreeMap<String, EnvironmentEntry>>(&text)
            .map_err(|e| fail(e.to_string()))
    }

    /// The environments in `SLIPWAY_ENVIRONMENTS` order, each with its cluster and Git target
    /// (its entry in the environments file, else the `SLIPWAY_GIT_*` defaults).
    fn checked_environments(
        &self,
        clusters: &[ClusterSettings],
        default_remote: &Remote,
    ) -> Result<Vec<EnvironmentSettings>, ConfigError> {
        let file = self.environments_file()?;
        let mut named: Vec<(String, Option<String>)> = Vec::new();
        for entry in &self.environments {
            let (name, cluster) = match entry.split_once('@') {
                Some((name, cluster)) => (name.trim(), Some(cluster.trim())),
                None => (entry.trim(), None),
            };
            app::catalog::check_name(name).map_err(|problem| {
                invalid("SLIPWAY_ENVIRONMENTS", format!("{name:?}: {problem}"))
            })?;
            let cluster = match cluster {
                Some(cluster) if clusters.iter().any(|c| c.name == cluster) => {
                    Some(cluster.to_owned())
                }
                Some(cluster) => {
                    return Err(invalid(
                        "SLIPWAY_ENVIRONMENTS",
                        format!(
                            "{name:?} names the cluster {cluster:?}, which SLIPWAY_CLUSTERS does not list"
                        ),
                    ));
                }
                None if clusters.len() == 1 => Some(clusters[0].name.clone()),
                None => clusters
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| c.name.clone()),
            };
            if !named.iter().any(|(n, _)| n == name) {
                named.push((name.to_owned(), cluster));
            }
        }
        if named.is_empty() {
            return Err(invalid(
                "SLIPWAY_ENVIRONMENTS",
                "name at least one environment",
            ));
        }
        for name in file.keys() {
            if !named.iter().any(|(e, _)| e == name) {
                return Err(invalid(
                    "SLIPWAY_ENVIRONMENTS_FILE",
                    format!("{name:?} is not one of SLIPWAY_ENVIRONMENTS"),
                ));
            }
        }
        let pull_request_list: Vec<&str> = self
            .pull_request_environments
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .collect();
        for name in &pull_request_list {
            if !named.iter().any(|(e, _)| e == name) {
                return Err(invalid(
                    "SLIPWAY_PULL_REQUEST_ENVIRONMENTS",
                    format!("{name:?} is not one of SLIPWAY_ENVIRONMENTS"),
                ));
            }
        }
        let fail = |problem: String| invalid("SLIPWAY_ENVIRONMENTS_FILE", problem);
        let mut out: Vec<EnvironmentSettings> = Vec::with_capacity(named.len());
        for (index, (name, cluster)) in named.iter().cloned().enumerate() {
            let entry = file.get(&name).cloned().unwrap_or_default();
            let promote_from = match entry.promote_from.as_deref().map(str::trim) {
                None => index.checked_sub(1).map(|before| named[before].0.clone()),
                Some("") => None,
                Some(source) if source == name => {
                    return Err(fail(format!(
                        "{name}: promoteFrom names the environment itself"
                    )));
                }
                Some(source) if named.iter().any(|(n, _)| n == source) => Some(source.to_owned()),
                Some(source) => {
                    return Err(fail(format!(
                        "{name}: promoteFrom {source:?} is not one of SLIPWAY_ENVIRONMENTS"
                    )));
                }
            };
            let gates = {
                let given = entry.promotion.clone().unwrap_or_default();
                let soak = match given.soak.as_deref() {
                    None => Duration::ZERO,
                    Some(text) => humantime::parse_duration(text.trim()).map_err(|e| {
                        fail(format!(
                            "{name}: promotion.soak {text:?}: {e} (e.g. 30m, 1h 30m, 2d)"
                        ))
                    })?,
                };
                super::settings::Gates {
                    ready: given.require_ready.unwrap_or(true),
                    soak,
                    same_version: given.require_same_version.unwrap_or(true),
                }
            };
            let mode = match entry.mode.as_deref() {
                None if pull_request_list.contains(&name.as_str()) => WriteMode::PullRequest,
                None | Some("direct") => WriteMode::Direct,
                Some("pull-request") => WriteMode::PullRequest,
                Some(other) => {
                    return Err(fail(format!(
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
                return Err(fail(format!(
                    "{name}: pathPrefix {prefix:?} is not a plain folder path"
                )));
            }
            let credentials = match entry.credentials {
                None => default_remote.credentials.clone(),
                Some(c) => {
                    for file in [&c.token_file, &c.ssh_key_file].into_iter().flatten() {
                        std::fs::metadata(file)
                            .map_err(|e| fail(format!("{name}: {}: {e}", file.display())))?;
                    }
                    Credentials {
                        username: c.username,
                        token: c.token_file.map(Secret::File),
                        ssh_key: c.ssh_key_file,
                        known_hosts: c.known_hosts_file,
                    }
                }
            };
            out.push(EnvironmentSettings {
                remote: Remote {
                    url: entry
                        .repository
                        .unwrap_or_else(|| default_remote.url.clone()),
                    credentials,
                },
                branch: entry.branch.unwrap_or_else(|| self.git_branch.clone()),
                prefix,
                mode,
                forge_project: entry.forge_project,
                cluster,
                name,
                promote_from,
                gates,
            });
        }
        // A promotion path runs from a first environment onwards: no environment may be
        // promoted from one that is (through others) promoted from it.
        for environment in &out {
            let mut seen = vec![environment.name.as_str()];
            let mut at = environment.promote_from.as_deref();
            while let Some(source) = at {
                if seen.contains(&source) {
                    return Err(fail(format!(
                        "promoteFrom makes a cycle: {} ← {source}",
                        seen.join(" ← ")
                    )));
                }
                seen.push(source);
                at = out
                    .iter()
                    .find(|e| e.name == source)
                    .and_then(|e| e.promote_from.as_deref());
            }
        }
        Ok(out)
    }

    /// The forge, required as soon as one environment uses pull requests.
    fn forge(
        &self,
        environments: &[EnvironmentSettings],
    ) -> Result<Option<ForgeSettings>, ConfigError> {
        let pulls: Vec<&EnvironmentSettings> = environments
            .iter()
            .filter(|e| e.mode == WriteMode::PullRequest)
            .collect();
        if pulls.is_empty() {
            return Ok(None);
        }
        let kind = self
            .forge
            .as_deref()
            .ok_or_else(|| {
                invalid(
                    "SLIPWAY_FORGE",
                    "pull requests need a forge: github, gitlab or gitea",
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
                    "the GitLab or Gitea server's address is required",
                ));
            }
        };
        Url::parse(&api_url)
            .map_err(|e| invalid("SLIPWAY_FORGE_API_URL", format!("{api_url:?}: {e}")))?;
        let project = self.forge_project.clone().unwrap_or_default();
        for environment in &pulls {
            let own = environment.forge_project.as_deref();
            if !own.unwrap_or(&project).contains('/') {
                return Err(invalid(
                    "SLIPWAY_FORGE_PROJECT",
                    format!(
                        "{:?} uses pull requests: set owner/repo (or the GitLab project path), here or as its forgeProject",
                        environment.name
                    ),
                ));
            }
        }
        let token = secret(
            &self.forge_token,
            &self.forge_token_file,
            "SLIPWAY_FORGE_TOKEN",
        )?
        .ok_or_else(|| invalid("SLIPWAY_FORGE_TOKEN", "pull requests need a forge token"))?;
        let webhook_secret = secret(
            &self.forge_webhook_secret,
            &self.forge_webhook_secret_file,
            "SLIPWAY_FORGE_WEBHOOK_SECRET",
        )?;
        Ok(Some(ForgeSettings {
            kind,
            api_url,
            project,
            token,
            webhook_secret,
            poll: Duration::from_secs(self.forge_poll_secs.max(5)),
        }))
    }

    fn git_credentials(&self) -> Result<Credentials, ConfigError> {
        let token = secret(
            &self.git_token,
            &self.git_token_file,
            "SLIPWAY_GIT_TOKEN_FILE",
        )?;
        if let Some(key) = &self.git_ssh_key_file {
            std::fs::metadata(key).map_err(|e| {
                invalid(
                    "SLIPWAY_GIT_SSH_KEY_FILE",
                    format!("{}: {e}", key.display()),
                )
            })?;
        }
        Ok(Credentials {
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
            let fail = |problem: String| invalid("SLIPWAY_CLUSTERS", problem);
            app::catalog::check_name(name).map_err(|p| fail(format!("{name:?}: {p}")))?;
            if access.is_empty() {
                return Err(fail(format!(
                    "{name:?}: name a kubeconfig context or in-cluster"
                )));
            }
            if clusters.iter().any(|c| c.name == name) {
                return Err(fail(format!("the cluster name {name:?} is used twice")));
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
}

/// A secret given as a value or a file (never both); a file must exist at start-up.
fn secret(
    value: &Option<super::SecretArg>,
    file: &Option<PathBuf>,
    variable: &'static str,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(invalid(variable, "set the value or the file, not both")),
        (Some(v), None) => Ok(Some(Secret::Value(v.0.clone()))),
        (None, Some(f)) => {
            std::fs::metadata(f).map_err(|e| invalid(variable, format!("{}: {e}", f.display())))?;
            Ok(Some(Secret::File(f.clone())))
        }
        (None, None) => Ok(None),
    }
}

impl SsoArgs {
    /// Checked OIDC settings, or `None` when no issuer is configured.
    pub fn settings(&self) -> Result<Option<OidcSettings>, ConfigError> {
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(None);
        };
        let issuer =
            openidconnect::IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned())
                .map_err(|e| invalid("SLIPWAY_OIDC_ISSUER", e.to_string()))?;
        let client_secret = match (&self.oidc_client_secret, &self.oidc_client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "SLIPWAY_OIDC_CLIENT_SECRET_FILE",
                    "set either the secret or the secret file, not both",
                ));
            }
            (Some(secret), None) => Some(secret.0.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| {
                        invalid(
                            "SLIPWAY_OIDC_CLIENT_SECRET_FILE",
                            format!("cannot read {}: {e}", file.display()),
                        )
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
        let teams = TeamMapping::new(
            &self.team_map,
            self.team_regex.as_deref(),
            self.team_prefix.as_deref(),
            self.admin_group.as_deref(),
        )
        .map_err(|e| {
            invalid(
                match e {
                    MappingError::BadPair(_) => "SLIPWAY_TEAM_MAP",
                    MappingError::Regex(_) => "SLIPWAY_TEAM_REGEX",
                },
                e.to_string(),
            )
        })?;
        Ok(Some(OidcSettings {
            issuer,
            client_id: self.oidc_client_id.clone(),
            client_secret,
            scopes,
            groups_claim: self.oidc_groups_claim.clone(),
            teams,
            provider_logout: self.oidc_provider_logout,
        }))
    }
}
