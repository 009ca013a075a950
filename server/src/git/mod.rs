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

/// A cached bare clone of a remote repository.
#[derive(Clone, Debug)]
pub struct Mirror {
    url: String,
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
            path: path.into(),
            fetching: Arc::default(),
        }
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
            return run(None, &["clone", "--bare", "--quiet", &self.url, &target]);
        }
        run(
            Some(&self.path),
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
fn run(dir: Option<&Path>, args: &[&str]) -> Result<()> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("--git-dir").arg(dir);
    }
    let output = command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        command: args.first().copied().unwrap_or_default().to_owned(),
        message: redact(String::from_utf8_lossy(&output.stderr).trim()),
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
