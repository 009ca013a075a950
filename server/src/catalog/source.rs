//! Where offering files come from: a folder on disk, or a folder of the GitOps repository (the
//! default, so offerings are versioned and reviewed like everything else in Git).
//!
//! [`FileSource::load`] reads every `*.yaml`/`*.yml` file of the folder (not below it) and
//! compiles each on its own: a broken file becomes a problem line, never a broken catalog.
//! `policies.yaml` there is not an offering: its text is handed to [`crate::policy`].
//! A fingerprint (the branch's commit in the shared clone, or names, sizes and times of the
//! files) lets the refresh loop skip work when nothing changed; loading reads what was
//! fingerprinted. Fetching the clone is the refresh loop's business, not this module's.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Error, Offering, Result, offering};
use crate::git::clone::SharedClone;

/// The largest offering file read.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// A place offering files are read from.
#[derive(Clone)]
pub enum FileSource {
    /// A folder on disk.
    Dir(PathBuf),
    /// A folder of a Git repository's branch, through its shared clone.
    Git {
        /// The clone.
        clone: Arc<SharedClone>,
        /// The branch.
        branch: String,
        /// The folder in the repository.
        dir: String,
    },
}

/// What a load produced.
pub struct Loaded {
    /// The offerings that compiled.
    pub offerings: Vec<Offering>,
    /// One line per file that did not.
    pub problems: Vec<String>,
    /// The policy file's text (`None`: there is none), or why it could not be read.
    pub policies: Option<Result<String, String>>,
    /// Identifies the input: equal fingerprints, equal catalog.
    pub fingerprint: String,
}

impl FileSource {
    /// A cheap identity of the current input. Blocking.
    pub fn fingerprint(&self) -> Result<String> {
        match self {
            FileSource::Dir(dir) => {
                let mut parts = Vec::new();
                for entry in std::fs::read_dir(dir).map_err(|e| io(dir.display(), e))? {
                    let entry = entry.map_err(|e| io(dir.display(), e))?;
                    let meta = entry.metadata().map_err(|e| io(dir.display(), e))?;
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    parts.push(format!(
                        "{}:{}:{modified}",
                        entry.file_name().to_string_lossy(),
                        meta.len()
                    ));
                }
                parts.sort();
                Ok(parts.join("|"))
            }
            FileSource::Git { clone, branch, .. } => Ok(clone
                .head(branch)
                .map_err(|e| Error::Io(e.to_string()))?
                .unwrap_or_default()),
        }
    }

    /// Reads and compiles every offering file as of `fingerprint` (from
    /// [`FileSource::fingerprint`]). Blocking.
    pub fn load(&self, environments: &[String], fingerprint: String) -> Result<Loaded> {
        let files: Vec<(String, Vec<u8>, bool)> = match self {
            FileSource::Dir(dir) => {
                let mut files = Vec::new();
                for entry in std::fs::read_dir(dir).map_err(|e| io(dir.display(), e))? {
                    let entry = entry.map_err(|e| io(dir.display(), e))?;
                    let path = entry.path();
                    if !path.is_file() {
                        continue;
                    }
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
                    if size > MAX_FILE_BYTES as u64 {
                        files.push((name, vec![], false));
                        continue;
                    }
                    let content = std::fs::read(&path).map_err(|e| io(path.display(), e))?;
                    files.push((name, content, true));
                }
                files.sort_by(|a, b| a.0.cmp(&b.0));
                files
            }
            FileSource::Git { clone, branch, dir } => clone
                .list(branch, dir, MAX_FILE_BYTES)
                .map_err(|e| Error::Io(e.to_string()))?,
        };
        let mut offerings = Vec::new();
        let mut problems = Vec::new();
        let mut policies = None;
        for (name, content, fits) in files {
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            if crate::policy::FILE_NAMES.contains(&name.as_str()) {
                if policies.is_some() {
                    policies = Some(Err(format!(
                        "both {} and {} exist; keep one",
                        crate::policy::FILE_NAMES[0],
                        crate::policy::FILE_NAMES[1]
                    )));
                    continue;
                }
                policies = Some(if fits {
                    String::from_utf8(content).map_err(|_| format!("{name}: not UTF-8 text"))
                } else {
                    Err(format!("{name}: larger than {} KiB", MAX_FILE_BYTES / 1024))
                });
                continue;
            }
            if !fits {
                problems.push(format!("{name}: larger than {} KiB", MAX_FILE_BYTES / 1024));
                continue;
            }
            let text = match String::from_utf8(content) {
                Ok(text) => text,
                Err(_) => {
                    problems.push(format!("{name}: not UTF-8 text"));
                    continue;
                }
            };
            match offering::from_file(&text, &name, environments) {
                Ok(o) => offerings.push(o),
                Err(e) => problems.push(e.to_string()),
            }
        }
        Ok(Loaded {
            offerings,
            problems,
            policies,
            fingerprint,
        })
    }
}

fn io(what: impl std::fmt::Display, error: std::io::Error) -> Error {
    Error::Io(format!("{what}: {error}"))
}
