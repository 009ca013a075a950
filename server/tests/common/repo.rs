//! A GitOps repository for tests: a bare "remote" seeded like `slipway init` does, a
//! working clone to push commits from outside the portal, and readers of the remote.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::TestApp;

/// A seeded bare repository plus a working clone to push changes from.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl Repo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("gitops.git");
        slipway::devdata::seed_repository(&bare).unwrap();
        let work = dir.path().join("work");
        git(
            dir.path(),
            &["clone", "--quiet", bare.to_str().unwrap(), "work"],
        );
        Repo { dir, bare, work }
    }

    /// Installs an executable hook (`pre-receive`, `post-receive` …) in the bare remote.
    pub fn hook(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.bare.join("hooks").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn push(&self, path: &str, content: &str) {
        self.push_as(path, content, "Test", "test@example.com");
    }

    /// Commits `content` at `path` as someone outside the portal and pushes it.
    pub fn push_as(&self, path: &str, content: &str, name: &str, email: &str) {
        push_from(&self.work, path, content, name, email);
    }

    /// The file at `path` on the remote's `main`, if any.
    pub fn show(&self, path: &str) -> Option<String> {
        show_in(&self.bare, path)
    }

    /// The remote's `main` history, newest first: (sha, parent count, author, committer,
    /// full message).
    pub fn history(&self) -> Vec<Commit> {
        let out = Command::new("git")
            .args([
                "--git-dir",
                self.bare.to_str().unwrap(),
                "log",
                "--format=%H%x1f%P%x1f%an <%ae>%x1f%cn <%ce>%x1f%B%x1e",
                "main",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .split('\x1e')
            .filter(|r| !r.trim().is_empty())
            .map(|record| {
                let f: Vec<&str> = record.trim_start_matches('\n').split('\x1f').collect();
                Commit {
                    sha: f[0].to_owned(),
                    parents: f[1].split_whitespace().count(),
                    author: f[2].to_owned(),
                    committer: f[3].to_owned(),
                    message: f[4].to_owned(),
                }
            })
            .collect()
    }

    /// The arguments of a portal over this repository.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--dev-login".into(),
            "--git-url".into(),
            format!("file://{}", self.bare.display()),
        ]
    }

    /// Settings of a portal over this repository, with `more` arguments.
    pub fn settings_with(&self, more: &[&str]) -> slipway::config::Settings {
        let mut args = self.args();
        args.extend(more.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut settings = super::settings(&args);
        settings.git.clone_dir = self.dir.path().join("clones");
        settings
    }

    /// Settings of a portal over this repository.
    pub fn settings(&self) -> slipway::config::Settings {
        self.settings_with(&[])
    }

    /// A portal over this repository, with its catalog loaded.
    pub async fn app(&self) -> TestApp {
        self.app_with(self.settings()).await
    }

    /// A portal with `settings`, with its catalog loaded.
    pub async fn app_with(&self, settings: slipway::config::Settings) -> TestApp {
        let app = TestApp::with_settings(settings).await;
        assert!(
            app.state.catalog.refresh_files().await.unwrap(),
            "first load"
        );
        app
    }
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs git; false when it fails.
pub fn try_git(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
        .status
        .success()
}

/// One commit of a history.
#[derive(Clone, Debug)]
pub struct Commit {
    pub sha: String,
    pub parents: usize,
    pub author: String,
    pub committer: String,
    pub message: String,
}

impl Commit {
    /// The value of a trailer, if the commit has it.
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.message
            .lines()
            .rev()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
    }
}

/// Commits `content` at `path` in the working clone `work` as someone outside the portal and
/// pushes it, rebasing onto whatever the remote gained meanwhile (the portal may be pushing).
pub fn push_from(work: &Path, path: &str, content: &str, name: &str, email: &str) {
    let (user, mail) = (format!("user.name={name}"), format!("user.email={email}"));
    let pull = [
        "-c", &user, "-c", &mail, "pull", "--quiet", "--rebase", "origin", "main",
    ];
    git(work, &pull);
    let target = work.join(path);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(target, content).unwrap();
    git(work, &["add", "--all"]);
    git(
        work,
        &["-c", &user, "-c", &mail, "commit", "--quiet", "-m", path],
    );
    for _ in 0..50 {
        if try_git(work, &["push", "--quiet", "origin", "HEAD:main"]) {
            return;
        }
        git(work, &pull);
    }
    panic!("could not push {path} in 50 tries");
}

/// The file at `path` on `main` of the bare repository `bare`, if any.
pub fn show_in(bare: &Path, path: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["show", &format!("main:{path}")])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}
