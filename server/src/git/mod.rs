//! The GitOps repository, read side: a cached bare clone ("mirror") of the remote, refreshed
//! with `git fetch`, read through libgit2 without a worktree.
//!
//! ```text
//!  remote (file/HTTPS/SSH) ──git fetch (CLI: credential helpers, SSH config)──▶ mirror.git
//!                                                                              │ git2: blobs, trees
//!                                                          catalog loader, preview diff
//! ```
//! Network operations go through the `git` CLI; object reads through git2 on a fresh handle
//! per call (a `git2::Repository` is not `Sync`), inside `spawn_blocking` by the callers.
//! Credentials reach git through its environment (`GIT_CONFIG_*`, `GIT_SSH_COMMAND`), never
//! through arguments (visible to every process) or URLs (echoed in git's messages).

pub mod forge;
pub mod layout;
pub mod writer;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The git CLI failed; the message is git's (credentials are never part of it: URLs
    /// are redacted before logging).
    #[error("git {command} failed: {message}")]
    Command {
        /// The subcommand.
        command: String,
        /// git's stderr, trimmed.
        message: String,
    },
    /// libgit2 failed.
    #[error("reading the repository: {0}")]
    Read(#[from] git2::Error),
    /// Anything on the file system.
    #[error("repository folder: {0}")]
    Io(#[from] std::io::Error),
}

/// This module's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

impl Credentials {
    /// Puts the credentials into `command`'s environment.
    fn apply(&self, command: &mut Command) -> std::io::Result<()> {
        use base64::Engine as _;
        if let Some(token) = &self.token {
            let user = self.username.as_deref().unwrap_or("slipway");
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", token.read()?));
            command
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Basic {basic}"),
                );
        }
        if let Some(key) = &self.ssh_key {
            let mut ssh = format!(
                "ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes",
                key.display()
            );
            if let Some(hosts) = &self.known_hosts {
                ssh.push_str(&format!(
                    " -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes",
                    hosts.display()
                ));
            }
            command.env("GIT_SSH_COMMAND", ssh);
        }
        Ok(())
    }
}

/// A cached bare clone of a remote repository.
#[derive(Clone, Debug)]
pub struct Mirror {
    url: String,
    credentials: Credentials,
    path: PathBuf,
    // The catalog refresh and previews fetch into the same repository; two git processes
    // updating its refs at once would fail on the ref locks.
    fetching: Arc<Mutex<()>>,
}

impl Mirror {
    /// A mirror of `url` kept at `path` (created by the first [`Mirror::fetch`]).
    pub fn new(url: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Mirror {
            url: url.into(),
            credentials: Credentials::default(),
            path: path.into(),
            fetching: Arc::default(),
        }
    }

    /// The same mirror, authenticating with `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Where the mirror lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Clones (first time) or fetches every branch from the remote. Blocking.
    pub fn fetch(&self) -> Result<()> {
        let _one_at_a_time = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        if !self.path.join("HEAD").exists() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let target = self.path.to_string_lossy().into_owned();
            return run(
                None,
                &self.credentials,
                &["clone", "--bare", "--quiet", &self.url, &target],
            );
        }
        run(
            Some(&self.path),
            &self.credentials,
            &[
                "fetch",
                "--quiet",
                "--prune",
                &self.url,
                "+refs/heads/*:refs/heads/*",
            ],
        )
    }

    /// The commit id at the tip of `branch`, if the branch exists.
    pub fn head(&self, branch: &str) -> Result<Option<String>> {
        let repo = git2::Repository::open_bare(&self.path)?;
        Ok(match repo.find_reference(&format!("refs/heads/{branch}")) {
            Ok(r) => Some(r.peel_to_commit()?.id().to_string()),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(e.into()),
        })
    }

    /// The content of `path` at the tip of `branch` (`None`: no such file or branch).
    pub fn read(&self, branch: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let repo = git2::Repository::open_bare(&self.path)?;
        let Some(tree) = branch_tree(&repo, branch)? else {
            return Ok(None);
        };
        match tree.get_path(Path::new(path)) {
            Ok(entry) => Ok(entry
                .to_object(&repo)?
                .as_blob()
                .map(|b| b.content().to_vec())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The files directly in folder `dir` at the tip of `branch`: (name, content), sorted by
    /// name. Files larger than `max_bytes` are returned with empty content and `false`.
    pub fn list(
        &self,
        branch: &str,
        dir: &str,
        max_bytes: usize,
    ) -> Result<Vec<(String, Vec<u8>, bool)>> {
        let repo = git2::Repository::open_bare(&self.path)?;
        let Some(tree) = branch_tree(&repo, branch)? else {
            return Ok(vec![]);
        };
        let folder = match tree.get_path(Path::new(dir)) {
            Ok(entry) => match entry.to_object(&repo)?.into_tree() {
                Ok(t) => t,
                Err(_) => return Ok(vec![]),
            },
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        let mut files = Vec::new();
        for entry in folder.iter() {
            let Ok(name) = entry.name() else { continue };
            let object = entry.to_object(&repo)?;
            if let Some(blob) = object.as_blob() {
                let fits = blob.size() <= max_bytes;
                let content = if fits {
                    blob.content().to_vec()
                } else {
                    vec![]
                };
                files.push((name.to_owned(), content, fits));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }
}

fn branch_tree<'r>(repo: &'r git2::Repository, branch: &str) -> Result<Option<git2::Tree<'r>>> {
    match repo.find_reference(&format!("refs/heads/{branch}")) {
        Ok(r) => Ok(Some(r.peel_to_tree()?)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs the git CLI without prompts or system config; stderr becomes the error.
fn run(dir: Option<&Path>, credentials: &Credentials, args: &[&str]) -> Result<()> {
    output(dir, credentials, args).map(drop)
}

/// Like [`run`], returning stdout.
fn output(dir: Option<&Path>, credentials: &Credentials, args: &[&str]) -> Result<String> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("--git-dir").arg(dir);
    }
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // Errors are classified by git's own words (writer::describe): never translated.
        .env("LC_ALL", "C");
    credentials.apply(&mut command)?;
    let output = command.output()?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if message.is_empty() {
        message = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    }
    Err(Error::Command {
        command: args.first().copied().unwrap_or_default().to_owned(),
        message: redact(&message),
    })
}

/// Removes `user:password@` from any URL in a message.
pub fn redact(message: &str) -> String {
    static USERINFO: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@").expect("valid regex")
    });
    USERINFO.replace_all(message, "${scheme}***@").into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_urls_never_reach_a_message() {
        assert_eq!(
            super::redact("fatal: unable to access 'https://bot:s3cret@git.example/x.git/'"),
            "fatal: unable to access 'https://***@git.example/x.git/'"
        );
    }
}
