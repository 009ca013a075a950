//! The GitOps repositories: one shared bare clone per remote ([`clone`]), the only code that
//! commits to them ([`writer`], with [`pulls`] for pull-request mode), the layout of a change
//! in a tree ([`layout`]), commit messages ([`message`]) and the forges' APIs ([`forge`]).
//!
//! ```text
//!  remote (file/HTTPS/SSH) ◀──git CLI: fetch, push (deadlines, credentials by env)──┐
//!        │                                                                          │
//!        ▼ fetch (one at a time per clone)                                         writer
//!  <data>/git/<hash>.git ──git2 reads──▶ catalog, previews, edits, ancestry, history │
//!                         ◀──git2 writes── trees and commits of the writer ─────────┘
//! ```
//! Network operations go through the `git` CLI (it brings credential helpers and the SSH
//! setup); object reads and writes through git2 on a fresh handle per call (a
//! `git2::Repository` is not `Sync`), inside `spawn_blocking`. Credentials reach git through
//! its environment (`GIT_CONFIG_*`, `GIT_SSH_COMMAND`), never through arguments (visible to
//! every process) or URLs (echoed in git's messages). Every git process runs in its own
//! process group under a deadline; the group is killed when it passes, so a remote that
//! accepts a connection and never answers cannot hold a writer, a preview or a lease.

pub mod clone;
pub mod forge;
pub mod layout;
pub mod message;
pub mod pulls;
pub mod writer;

use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::{Credentials, Deadlines};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The git CLI failed. The failure is classified here, where git's words are read;
    /// the message is git's own (URLs redacted).
    #[error("{}: git {command} failed: {message}", failure.sentence())]
    Command {
        /// The subcommand.
        command: String,
        /// What kind of failure it is.
        failure: Failure,
        /// git's stderr, trimmed and redacted.
        message: String,
    },
    /// libgit2 failed.
    #[error("reading the repository: {0}")]
    Read(#[from] git2::Error),
    /// Anything on the file system.
    #[error("repository folder: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The failure class of a git command (`None` for local errors).
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Error::Command { failure, .. } => Some(*failure),
            _ => None,
        }
    }
}

/// This module's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a git command against a remote failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The ref asked for does not exist on the remote (an empty repository, a new branch).
    MissingRef,
    /// A push was refused because the branch moved meanwhile: fetch and try again.
    Race,
    /// The remote refused the pushed change itself (a pre-receive hook, push protection, a
    /// protected branch, a size rule): trying again unchanged will not help.
    Refused,
    /// The remote's SSH host key is not the known one.
    HostKey,
    /// The remote refused the portal's credentials.
    Credentials,
    /// The remote cannot be reached (name, connection, server error, no such repository).
    Unreachable,
    /// The remote stalled (too slow for the low-speed limit, or not finished within the
    /// deadline, when the process is killed).
    Timeout,
    /// Anything else.
    Other,
}

impl Failure {
    /// Classifies git's (English: `LC_ALL=C`) message. The order matters: a hook's own
    /// output may say anything, so a refused push is recognised by git's `[remote rejected]`
    /// marker before any word of the hook's is read.
    pub fn classify(message: &str) -> Failure {
        let lower = message.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        if has(&["couldn't find remote ref"]) {
            Failure::MissingRef
        } else if has(&[
            "[rejected]",
            "non-fast-forward",
            "fetch first",
            "cannot lock ref",
            "failed to update ref",
            "stale info",
        ]) {
            Failure::Race
        } else if has(&[
            "[remote rejected]",
            "pre-receive hook declined",
            "protected branch",
        ]) {
            Failure::Refused
        } else if has(&[
            "host key verification failed",
            "remote host identification has changed",
        ]) {
            Failure::HostKey
        } else if has(&[
            "authentication failed",
            "could not read username",
            "returned error: 401",
            "returned error: 403",
            "permission denied (publickey",
        ]) {
            Failure::Credentials
        } else if has(&["operation too slow", "timed out"]) {
            Failure::Timeout
        } else if has(&[
            "could not resolve host",
            "failed to connect",
            "connection refused",
            "connection reset",
            "returned error: 5",
            "does not appear to be a git repository",
            "not found",
            "connection closed",
            "early eof",
        ]) {
            Failure::Unreachable
        } else {
            Failure::Other
        }
    }

    /// The failure in words a requester can act on.
    pub fn sentence(self) -> &'static str {
        match self {
            Failure::MissingRef => "The branch does not exist on the Git remote",
            Failure::Race => "The branch moved on the Git remote while the portal pushed",
            Failure::Refused => "The Git remote refused the change",
            Failure::HostKey => {
                "The Git remote's SSH host key is not the known one (SLIPWAY_GIT_KNOWN_HOSTS_FILE)"
            }
            Failure::Credentials => "The Git remote refused the portal's credentials",
            Failure::Unreachable => "The Git remote cannot be reached",
            Failure::Timeout => "The Git remote did not answer in time",
            Failure::Other => "Git failed",
        }
    }
}

/// One git command against a clone (or none: `git --version`), with the remote's
/// credentials and the deadlines.
pub(crate) struct Git<'a> {
    /// The bare repository it runs in.
    pub dir: Option<&'a Path>,
    /// Sent to the remote.
    pub credentials: &'a Credentials,
    /// When to give up.
    pub deadlines: Deadlines,
}

impl Git<'_> {
    /// Runs `args`; stdout on success, the classified failure otherwise. Blocking.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new("git");
        if let Some(dir) = self.dir {
            command.arg("--git-dir").arg(dir);
        }
        let stall = self.deadlines.stall.as_secs().max(1);
        let mut config = vec![
            // A connection moving less than 1 KiB/s for `stall` seconds is cut (HTTP).
            ("http.lowSpeedLimit".to_owned(), "1024".to_owned()),
            ("http.lowSpeedTime".to_owned(), stall.to_string()),
        ];
        if let Some(token) = &self.credentials.token {
            use base64::Engine as _;
            let user = self.credentials.username.as_deref().unwrap_or("slipway");
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", token.read()?));
            config.push((
                "http.extraHeader".to_owned(),
                format!("Authorization: Basic {basic}"),
            ));
        }
        command.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.iter().enumerate() {
            command
                .env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        // SSH: never prompt, give up on a silent peer.
        let mut ssh = format!(
            "ssh -o BatchMode=yes -o ConnectTimeout={stall} -o ServerAliveInterval={} -o ServerAliveCountMax=2",
            (stall / 2).max(1)
        );
        if let Some(key) = &self.credentials.ssh_key {
            ssh.push_str(&format!(" -i '{}' -o IdentitiesOnly=yes", key.display()));
        }
        if let Some(hosts) = &self.credentials.known_hosts {
            ssh.push_str(&format!(
                " -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes",
                hosts.display()
            ));
        }
        command
            .args(args)
            .env("GIT_SSH_COMMAND", ssh)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            // Failures are classified by git's own words: never translated.
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: on timeout, git and every helper it started (remote-https,
        // ssh) are killed together.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn()?;
        let pid = child.id();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let subcommand = args.first().copied().unwrap_or_default().to_owned();
        let output = match finished.recv_timeout(self.deadlines.total) {
            Ok(output) => output?,
            Err(_) => {
                kill_group(pid);
                // Reaped by the waiting thread once the group is gone.
                let _ = finished.recv();
                return Err(Error::Command {
                    command: subcommand,
                    failure: Failure::Timeout,
                    message: format!(
                        "no answer within {} s; the process was stopped",
                        self.deadlines.total.as_secs()
                    ),
                });
            }
        };
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        // `push --porcelain` reports refused refs on stdout (`[rejected]`, `[remote
        // rejected]`), the remote's and git's own words on stderr: both are read.
        let message = [&output.stderr, &output.stdout]
            .into_iter()
            .map(|text| String::from_utf8_lossy(text).trim().to_owned())
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let message = redact(&message);
        Err(Error::Command {
            command: subcommand,
            failure: Failure::classify(&message),
            message,
        })
    }
}

fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    if let Err(error) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        tracing::warn!(%error, "stopping a git process that passed its deadline failed");
    }
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
    use super::*;

    #[test]
    fn credentials_in_urls_never_reach_a_message() {
        assert_eq!(
            redact("fatal: unable to access 'https://bot:s3cret@git.example/x.git/'"),
            "fatal: unable to access 'https://***@git.example/x.git/'"
        );
    }

    #[test]
    fn push_refusals_are_told_apart_from_races_and_outages() {
        for (message, failure) in [
            (
                " ! [rejected]        abc -> main (fetch first)",
                Failure::Race,
            ),
            ("error: cannot lock ref 'refs/heads/main'", Failure::Race),
            (
                " ! [remote rejected] abc -> main (pre-receive hook declined)",
                Failure::Refused,
            ),
            (
                // A hook's own words never make a refusal look like an outage.
                "remote: error: file not found in allow-list\n ! [remote rejected] abc -> main (pre-receive hook declined)",
                Failure::Refused,
            ),
            (
                "fatal: unable to access 'http://x/': Failed to connect to x port 80",
                Failure::Unreachable,
            ),
            (
                "fatal: unable to access 'http://x/': Operation too slow. Less than 1024 bytes/sec transferred the last 20 seconds",
                Failure::Timeout,
            ),
            (
                "fatal: Authentication failed for 'https://x/'",
                Failure::Credentials,
            ),
            ("Host key verification failed.", Failure::HostKey),
            (
                "fatal: couldn't find remote ref refs/heads/x",
                Failure::MissingRef,
            ),
            ("fatal: something new", Failure::Other),
        ] {
            assert_eq!(Failure::classify(message), failure, "{message}");
        }
    }
}
