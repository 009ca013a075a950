//! One bare clone per remote, shared by everything that reads the repository (the catalog,
//! previews, edits, the recorder's ancestry checks, the metrics' history counts) and by the
//! writers that commit to its branches.
//!
//! ```text
//!  refresh(max_age, wait) ──single flight──▶ fetch +refs/heads/*  ┐
//!  writer: fetch_branch(b), move_branch(b) after its push          ├─ one at a time (ref locks)
//!  contains / commit_origins: fetch_branch(b) when a revision is new┘
//!  head / read / list / trailers: git2, no lock (objects are immutable, refs atomic)
//! ```
//! Remote branches are kept as `refs/heads/*` of the clone. Only fetches (and a writer
//! recording what it just pushed) move them, one at a time per clone. A request thread never
//! waits longer than it asks for: a fetch that takes longer goes on in the background, and
//! every later caller joins it instead of starting another git process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use git2::{Oid, Repository, Sort};

use super::{Error, Failure, Git, Result, message};
use crate::config::{Deadlines, Remote};

/// Upper bound on commits examined per history scan, whatever their dates say.
const SCAN_LIMIT: usize = 200_000;

type Flight = Shared<BoxFuture<'static, Result<(), String>>>;

/// A shared bare clone of one remote.
pub struct SharedClone {
    remote: Remote,
    path: PathBuf,
    deadlines: Deadlines,
    /// Held while a fetch (or the writer's ref update) moves refs.
    refs: Mutex<()>,
    last_fetch: Mutex<Option<Instant>>,
    flight: Mutex<Option<Flight>>,
}

/// Why a refresh did not bring the clone up to date.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Stale {
    /// The remote failed; the message says how.
    #[error("{0}")]
    Failed(String),
    /// The fetch did not finish within the caller's wait (it goes on in the background).
    #[error("the Git remote is slow to answer; the fetch goes on in the background")]
    Slow,
}

impl SharedClone {
    /// The clone of `remote` under `dir` (created by the first fetch or open).
    pub fn new(remote: Remote, dir: &Path, deadlines: Deadlines) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(remote.display_url().as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        SharedClone {
            path: dir.join(format!("{name}.git")),
            remote,
            deadlines,
            refs: Mutex::new(()),
            last_fetch: Mutex::new(None),
            flight: Mutex::new(None),
        }
    }

    /// The remote's URL without credentials.
    pub fn display_url(&self) -> String {
        self.remote.display_url()
    }

    /// Where the clone lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A git command against the remote, run in the clone.
    pub(crate) fn git(&self) -> Git<'_> {
        Git {
            dir: Some(&self.path),
            credentials: &self.remote.credentials,
            deadlines: self.deadlines,
        }
    }

    /// The remote URL as configured (credentials and all: for git's arguments only).
    pub(crate) fn url(&self) -> &str {
        &self.remote.url
    }

    /// Opens the clone, creating an empty one on first use. Blocking.
    pub fn open(&self) -> Result<Repository> {
        if !self.path.join("HEAD").exists() {
            std::fs::create_dir_all(&self.path)?;
            Repository::init_bare(&self.path)?;
        }
        Ok(Repository::open_bare(&self.path)?)
    }

    /// Fetches every branch of the remote (pruning deleted ones). Blocking.
    pub fn fetch_all(&self) -> Result<()> {
        self.open()?;
        let _refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        self.git().run(&[
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            self.url(),
            "+refs/heads/*:refs/heads/*",
        ])?;
        *self.last_fetch.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// Fetches one branch; its head, or `None` when the remote does not have it (an empty
    /// repository, a branch not created yet). Blocking.
    pub fn fetch_branch(&self, branch: &str) -> Result<Option<Oid>> {
        let repo = self.open()?;
        let local = format!("refs/heads/{branch}");
        let _refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        match self.git().run(&[
            "fetch",
            "--quiet",
            "--no-tags",
            self.url(),
            &format!("+{local}:{local}"),
        ]) {
            Ok(_) => {}
            Err(Error::Command {
                failure: Failure::MissingRef,
                ..
            }) => {
                if let Ok(mut r) = repo.find_reference(&local) {
                    r.delete()?;
                }
            }
            Err(error) => return Err(error),
        }
        head_of(&repo, branch)
    }

    /// Records that the remote's `branch` is now `tip` (the writer just pushed it).
    pub fn move_branch(&self, branch: &str, tip: Oid) -> Result<()> {
        let repo = self.open()?;
        let _refs = self.refs.lock().unwrap_or_else(|e| e.into_inner());
        repo.reference(
            &format!("refs/heads/{branch}"),
            tip,
            true,
            "pushed by slipway",
        )?;
        Ok(())
    }

    /// Whether the clone was fetched within `max_age`.
    pub fn fetched_within(&self, max_age: Duration) -> bool {
        self.last_fetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() <= max_age)
    }

    /// Brings the clone up to date unless it was fetched within `max_age`, waiting at most
    /// `wait` for it. One fetch at a time: callers arriving while one runs join it.
    pub async fn refresh(self: &Arc<Self>, max_age: Duration, wait: Duration) -> Result<(), Stale> {
        if self.fetched_within(max_age) {
            return Ok(());
        }
        let flight = {
            let mut slot = self.flight.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(flight) => flight.clone(),
                None => {
                    let clone = self.clone();
                    let flight = async move {
                        let fetcher = clone.clone();
                        let result = tokio::task::spawn_blocking(move || fetcher.fetch_all())
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.map_err(|e| e.to_string()));
                        *clone.flight.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        result
                    }
                    .boxed()
                    .shared();
                    // Driven to its end even when every waiter gives up.
                    tokio::spawn(flight.clone());
                    *slot = Some(flight.clone());
                    flight
                }
            }
        };
        match tokio::time::timeout(wait, flight).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(Stale::Failed(message)),
            Err(_) => Err(Stale::Slow),
        }
    }

    /// The commit at the tip of `branch`, if the branch exists.
    pub fn head(&self, branch: &str) -> Result<Option<String>> {
        if !self.path.join("HEAD").exists() {
            return Ok(None);
        }
        let repo = Repository::open_bare(&self.path)?;
        Ok(head_of(&repo, branch)?.map(|id| id.to_string()))
    }

    /// The content of `path` at the tip of `branch` (`None`: no such file or branch).
    pub fn read(&self, branch: &str, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.file_at_tip(branch, path)?.1)
    }

    /// The tip of `branch` and the content of `path` in that same commit (`None`: no such
    /// branch, no such file), from one opening of the repository: a fetch in between cannot
    /// pair one commit with another commit's file.
    pub fn file_at_tip(
        &self,
        branch: &str,
        path: &str,
    ) -> Result<(Option<String>, Option<Vec<u8>>)> {
        if !self.path.join("HEAD").exists() {
            return Ok((None, None));
        }
        let repo = Repository::open_bare(&self.path)?;
        let Some(tip) = head_of(&repo, branch)? else {
            return Ok((None, None));
        };
        let tree = repo.find_commit(tip)?.tree()?;
        let content = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry
                .to_object(&repo)?
                .as_blob()
                .map(|b| b.content().to_vec()),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        Ok((Some(tip.to_string()), content))
    }

    /// The files directly in folder `dir` at the tip of `branch`: (name, content, fits),
    /// sorted by name. Files larger than `max_bytes` come with empty content and `false`.
    pub fn list(
        &self,
        branch: &str,
        dir: &str,
        max_bytes: usize,
    ) -> Result<Vec<(String, Vec<u8>, bool)>> {
        if !self.path.join("HEAD").exists() {
            return Ok(vec![]);
        }
        let repo = Repository::open_bare(&self.path)?;
        let Some(tree) = branch_tree(&repo, branch)? else {
            return Ok(vec![]);
        };
        let Some(folder) = folder_of(&repo, &tree, dir)? else {
            return Ok(vec![]);
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

    /// Every file below folder `dir` (at any depth) at the tip of `branch` whose content
    /// `keep` accepts: (path, content), sorted by path. Files larger than `max_bytes` are
    /// skipped. Blocking; reads blobs only until `keep` has seen them.
    pub fn files_under(
        &self,
        branch: &str,
        dir: &str,
        max_bytes: usize,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        if !self.path.join("HEAD").exists() {
            return Ok(vec![]);
        }
        let repo = Repository::open_bare(&self.path)?;
        let Some(tree) = branch_tree(&repo, branch)? else {
            return Ok(vec![]);
        };
        let Some(folder) = folder_of(&repo, &tree, dir)? else {
            return Ok(vec![]);
        };
        let mut found = Vec::new();
        let mut failed = None;
        folder.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            if entry.kind() != Some(git2::ObjectType::Blob) {
                return git2::TreeWalkResult::Ok;
            }
            let Ok(name) = entry.name() else {
                return git2::TreeWalkResult::Ok;
            };
            match repo.find_blob(entry.id()) {
                Ok(blob) if blob.size() <= max_bytes && keep(blob.content()) => {
                    found.push((format!("{dir}/{parent}{name}"), blob.content().to_vec()));
                }
                Ok(_) => {}
                Err(error) => {
                    failed = Some(error);
                    return git2::TreeWalkResult::Abort;
                }
            }
            git2::TreeWalkResult::Ok
        })?;
        if let Some(error) = failed {
            return Err(error.into());
        }
        found.sort();
        Ok(found)
    }

    /// Whether `revision` (what a GitOps applier applied) contains `commit` (a request's):
    /// equal, or `commit` an ancestor of it. A revision the clone does not have is fetched
    /// once from `branch`; still unknown after that (another repository, a force-pushed
    /// history) is `None`, never a guess. Blocking.
    pub fn contains(&self, branch: &str, commit: &str, revision: &str) -> Result<Option<bool>> {
        let (Ok(commit), Ok(revision)) = (Oid::from_str(commit), Oid::from_str(revision)) else {
            return Ok(None);
        };
        let repo = self.open()?;
        let known = |repo: &Repository, id: Oid| repo.find_commit(id).is_ok();
        if !known(&repo, revision) || !known(&repo, commit) {
            self.fetch_branch(branch)?;
            if !known(&repo, revision) || !known(&repo, commit) {
                return Ok(None);
            }
        }
        Ok(Some(
            commit == revision || repo.graph_descendant_of(revision, commit)?,
        ))
    }

    /// Commits of `branch` made in `[from, to)` (committer time, Unix ms) that change a file
    /// under one of `folders`, counted by whether they carry the request trailer: (through
    /// Slipway, out of band). Merge commits are not changes of their own and are skipped.
    /// Fetches the branch first. Blocking.
    pub fn commit_origins(
        &self,
        branch: &str,
        from: i64,
        to: i64,
        folders: &[String],
    ) -> Result<(u64, u64)> {
        let Some(tip) = self.fetch_branch(branch)? else {
            return Ok((0, 0));
        };
        let repo = self.open()?;
        let under = |path: &str, folder: &str| {
            path.strip_prefix(folder)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        let mut walk = repo.revwalk()?;
        walk.set_sorting(Sort::TIME)?;
        walk.push(tip)?;
        let (mut ours, mut theirs) = (0, 0);
        for id in walk {
            let commit = repo.find_commit(id?)?;
            let at = commit.time().seconds() * 1000;
            if at < from {
                break;
            }
            if at >= to || commit.parent_count() > 1 {
                continue;
            }
            let parent_tree = match commit.parent(0) {
                Ok(parent) => Some(parent.tree()?),
                Err(_) => None,
            };
            let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&commit.tree()?), None)?;
            let touches = diff.deltas().any(|delta| {
                [delta.old_file().path(), delta.new_file().path()]
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.to_str())
                    .any(|path| folders.iter().any(|folder| under(path, folder)))
            });
            if !touches {
                continue;
            }
            if message::request_ids(commit.message().unwrap_or_default()).is_empty() {
                theirs += 1;
            } else {
                ours += 1;
            }
        }
        Ok((ours, theirs))
    }
}

/// Request ids found in trailers of commits reachable from `head` and committed after
/// `since` (Unix ms): the first (newest) commit carrying each.
pub fn trailers_since(repo: &Repository, head: Oid, since: i64) -> Result<HashMap<String, Oid>> {
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    walk.set_sorting(Sort::TIME)?;
    let mut found = HashMap::new();
    for id in walk.take(SCAN_LIMIT) {
        let commit = repo.find_commit(id?)?;
        if commit.time().seconds() * 1000 < since {
            break;
        }
        for request in message::request_ids(commit.message().unwrap_or_default()) {
            found.entry(request).or_insert(commit.id());
        }
    }
    Ok(found)
}

fn head_of(repo: &Repository, branch: &str) -> Result<Option<Oid>> {
    match repo.find_reference(&format!("refs/heads/{branch}")) {
        Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The folder `dir` of `tree`; `None` when there is none (or it is a file).
fn folder_of<'r>(
    repo: &'r Repository,
    tree: &git2::Tree<'r>,
    dir: &str,
) -> Result<Option<git2::Tree<'r>>> {
    match tree.get_path(Path::new(dir)) {
        Ok(entry) => Ok(entry.to_object(repo)?.into_tree().ok()),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn branch_tree<'r>(repo: &'r Repository, branch: &str) -> Result<Option<git2::Tree<'r>>> {
    match repo.find_reference(&format!("refs/heads/{branch}")) {
        Ok(r) => Ok(Some(r.peel_to_tree()?)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
