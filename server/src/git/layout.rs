//! Changes to the repository's tree, built in the object database (no worktree): a file put
//! or removed, and the `kustomization.yaml` files around it kept listing their resources.
//!
//! Rules, chosen so that a repository laid out by hand is never reinterpreted:
//! - a directory that has a kustomization gets the file (or new subdirectory) added to its
//!   `resources` (sorted, no duplicates), or removed from it; its other keys are kept;
//! - a directory created by this change gets a kustomization listing what it holds, and is
//!   added to its parent's kustomization by the same rules;
//! - an existing directory without a kustomization gets none (creating one would hide the
//!   files kustomize or Argo CD now pick up from it), and nothing above it is touched;
//! - removing the last resource of a directory that holds nothing but its kustomization
//!   removes the directory, and its entry from the parent's kustomization — except an
//!   environment's root (a top-level directory; with a path prefix, the prefix and the
//!   directories right inside it), which stays with an empty list.
//!
//! Comments inside a kustomization that is rewritten are not kept (it is re-serialized from
//! data, never edited as text).

use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, ObjectType, Oid, Repository, Tree};
use serde_json::{Map, Value, json};

/// File names kustomize accepts, in its order of preference.
const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Why a change cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A kustomization in the repository is not one this code can update.
    #[error("{path} cannot be updated: {problem}")]
    Kustomization {
        /// Its path.
        path: String,
        /// Why.
        problem: String,
    },
    /// A file to remove is not there.
    #[error("{0} is not in the repository")]
    Missing(String),
    /// A path names a directory, or goes through a file.
    #[error("{0} is not a file path in the repository")]
    NotAFile(String),
    /// libgit2 failed.
    #[error(transparent)]
    Git(#[from] git2::Error),
}

/// One file change.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// Write `content` at `path` (create or replace).
    Put {
        /// Repository path.
        path: &'a str,
        /// Bytes.
        content: &'a [u8],
    },
    /// Remove the file at `path`.
    Remove {
        /// Repository path.
        path: &'a str,
    },
}

/// Applies `change` to `base` (`None`: an empty repository) and returns the new tree's id,
/// which equals `base`'s when nothing changes.
pub fn apply(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    change: Change<'_>,
    roots: &[String],
) -> Result<Oid, Error> {
    let empty;
    let base = match base {
        Some(tree) => tree,
        None => {
            empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
            &empty
        }
    };
    let mut edits = Edits::default();
    match change {
        Change::Put { path, content } => put(repo, base, path, content, &mut edits)?,
        Change::Remove { path } => remove(repo, base, path, roots, &mut edits)?,
    }
    let mut builder = TreeUpdateBuilder::new();
    for (path, content) in &edits.0 {
        match content {
            Some(bytes) => {
                builder.upsert(path.as_str(), repo.blob(bytes)?, FileMode::Blob);
            }
            None => {
                builder.remove(path.as_str());
            }
        }
    }
    Ok(builder.create_updated(repo, base)?)
}

/// The file at `path` in `tree`, if it is a file.
pub fn read(repo: &Repository, tree: &Tree<'_>, path: &str) -> Result<Option<Vec<u8>>, Error> {
    match tree.get_path(Path::new(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {
            Ok(Some(repo.find_blob(entry.id())?.content().to_vec()))
        }
        Ok(_) => Err(Error::NotAFile(path.to_owned())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[derive(Default)]
struct Edits(Vec<(String, Option<Vec<u8>>)>);

impl Edits {
    fn put(&mut self, path: String, content: Vec<u8>) {
        self.0.push((path, Some(content)));
    }
    fn remove(&mut self, path: String) {
        self.0.push((path, None));
    }
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The names directly in directory `dir` (`None`: no such directory).
fn entries(repo: &Repository, tree: &Tree<'_>, dir: &str) -> Result<Option<Vec<String>>, Error> {
    if dir.is_empty() {
        return Ok(Some(
            tree.iter()
                .filter_map(|e| e.name().ok().map(str::to_owned))
                .collect(),
        ));
    }
    match tree.get_path(Path::new(dir)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
            let sub = repo.find_tree(entry.id())?;
            Ok(Some(
                sub.iter()
                    .filter_map(|e| e.name().ok().map(str::to_owned))
                    .collect(),
            ))
        }
        Ok(_) => Err(Error::NotAFile(dir.to_owned())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn kustomization_in(names: &[String]) -> Option<&'static str> {
    KUSTOMIZATION_NAMES
        .into_iter()
        .find(|k| names.iter().any(|n| n == k))
}

fn put(
    repo: &Repository,
    base: &Tree<'_>,
    path: &str,
    content: &[u8],
    edits: &mut Edits,
) -> Result<(), Error> {
    if path.is_empty() || path.ends_with('/') || KUSTOMIZATION_NAMES.contains(&split(path).1) {
        return Err(Error::NotAFile(path.to_owned()));
    }
    edits.put(path.to_owned(), content.to_vec());
    let (mut dir, mut child) = split(path);
    while !dir.is_empty() {
        match entries(repo, base, dir)? {
            Some(names) => {
                if let Some(name) = kustomization_in(&names) {
                    let kpath = join(dir, name);
                    let current = read(repo, base, &kpath)?.unwrap_or_default();
                    if let Some(updated) = update_resources(&kpath, &current, child, true)? {
                        edits.put(kpath, updated);
                    }
                }
                // An existing directory ends the walk: its parent already decided about it.
                return Ok(());
            }
            None => {
                edits.put(
                    join(dir, KUSTOMIZATION_NAMES[0]),
                    new_kustomization(child).into_bytes(),
                );
                (dir, child) = split(dir);
            }
        }
    }
    Ok(())
}

fn remove(
    repo: &Repository,
    base: &Tree<'_>,
    path: &str,
    roots: &[String],
    edits: &mut Edits,
) -> Result<(), Error> {
    if read(repo, base, path)?.is_none() {
        return Err(Error::Missing(path.to_owned()));
    }
    edits.remove(path.to_owned());
    let (mut dir, mut child) = split(path);
    while !dir.is_empty() {
        let names = entries(repo, base, dir)?.unwrap_or_default();
        let Some(name) = kustomization_in(&names) else {
            return Ok(());
        };
        let kpath = join(dir, name);
        let current = read(repo, base, &kpath)?.unwrap_or_default();
        let updated = update_resources(&kpath, &current, child, false)?;
        let others = names.iter().filter(|n| *n != name && *n != child).count();
        let text = updated.as_deref().unwrap_or(&current);
        // An environment's root is where Argo CD or Flux points: it stays. That is a
        // top-level folder, or a configured path prefix, the folders above it and the
        // folders right inside it (the layout's first level below the prefix).
        let root = !dir.contains('/')
            || roots.iter().any(|r| {
                r == dir || r.starts_with(&format!("{dir}/")) || split(dir).0 == r.as_str()
            });
        if others == 0 && !root && is_bare_kustomization(&kpath, text)? {
            edits.remove(kpath);
            (dir, child) = split(dir);
            continue;
        }
        if let Some(updated) = updated {
            edits.put(kpath, updated);
        }
        return Ok(());
    }
    Ok(())
}

fn new_kustomization(first: &str) -> String {
    let doc = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [first],
    });
    serde_saphyr::to_string(&doc).expect("a fixed shape serializes")
}

fn parse(path: &str, text: &[u8]) -> Result<Map<String, Value>, Error> {
    let problem = |problem: String| Error::Kustomization {
        path: path.to_owned(),
        problem,
    };
    let text = std::str::from_utf8(text).map_err(|e| problem(e.to_string()))?;
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_saphyr::from_str::<Value>(text).map_err(|e| problem(e.to_string()))? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(problem("it is not a mapping".into())),
    }
}

/// Adds or removes `entry` in `resources`; `None` when the list already says so.
fn update_resources(
    path: &str,
    text: &[u8],
    entry: &str,
    add: bool,
) -> Result<Option<Vec<u8>>, Error> {
    let mut doc = parse(path, text)?;
    let mut resources: Vec<String> = match doc.get("resources") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::Kustomization {
                        path: path.to_owned(),
                        problem: "resources must be a list of paths".into(),
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Error::Kustomization {
                path: path.to_owned(),
                problem: "resources must be a list of paths".into(),
            });
        }
    };
    let listed = |r: &String| r.trim_start_matches("./").trim_end_matches('/') == entry;
    let present = resources.iter().any(listed);
    if present == add {
        return Ok(None);
    }
    if add {
        resources.push(entry.to_owned());
    } else {
        resources.retain(|r| !listed(r));
    }
    resources.sort();
    resources.dedup();
    doc.insert("resources".into(), json!(resources));
    if !doc.contains_key("apiVersion") {
        // Keep a document kustomize accepts when the file was empty.
        let mut full = Map::new();
        full.insert(
            "apiVersion".into(),
            json!("kustomize.config.k8s.io/v1beta1"),
        );
        full.insert("kind".into(), json!("Kustomization"));
        full.extend(doc);
        doc = full;
    }
    serde_saphyr::to_string(&Value::Object(doc))
        .map(|s| Some(s.into_bytes()))
        .map_err(|e| Error::Kustomization {
            path: path.to_owned(),
            problem: e.to_string(),
        })
}

/// A kustomization with nothing but its type and an empty resources list.
fn is_bare_kustomization(path: &str, text: &[u8]) -> Result<bool, Error> {
    let doc = parse(path, text)?;
    Ok(doc.iter().all(|(k, v)| match k.as_str() {
        "apiVersion" | "kind" => true,
        "resources" => v.as_array().is_none_or(Vec::is_empty),
        _ => false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with `files` committed as one tree.
    fn repo_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Repository, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let empty = repo.treebuilder(None).unwrap().write().unwrap();
        let mut builder = TreeUpdateBuilder::new();
        for (path, content) in files {
            builder.upsert(
                *path,
                repo.blob(content.as_bytes()).unwrap(),
                FileMode::Blob,
            );
        }
        let tree = builder
            .create_updated(&repo, &repo.find_tree(empty).unwrap())
            .unwrap();
        (dir, repo, tree)
    }

    fn text(repo: &Repository, tree: Oid, path: &str) -> Option<String> {
        let tree = repo.find_tree(tree).unwrap();
        read(repo, &tree, path)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    fn resources(repo: &Repository, tree: Oid, dir: &str) -> Option<Vec<String>> {
        let doc: Value =
            serde_saphyr::from_str(&text(repo, tree, &format!("{dir}/kustomization.yaml"))?)
                .unwrap();
        Some(
            doc["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
        )
    }

    fn put_file(repo: &Repository, tree: Oid, path: &str) -> Result<Oid, Error> {
        apply(
            repo,
            Some(&repo.find_tree(tree).unwrap()),
            Change::Put {
                path,
                content: b"kind: X\n",
            },
            &[],
        )
    }

    #[test]
    fn new_folders_get_a_kustomization_and_join_the_parents_list_sorted() {
        let (_d, repo, tree) = repo_with(&[(
            "dev/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: dev-\nresources:\n  - zeta\n",
        )]);
        let tree = put_file(&repo, tree, "dev/team-a/bucket/logs.yaml").unwrap();
        assert_eq!(
            resources(&repo, tree, "dev/team-a/bucket").unwrap(),
            ["logs.yaml"]
        );
        assert_eq!(resources(&repo, tree, "dev/team-a").unwrap(), ["bucket"]);
        assert_eq!(resources(&repo, tree, "dev").unwrap(), ["team-a", "zeta"]);
        let dev = text(&repo, tree, "dev/kustomization.yaml").unwrap();
        assert!(dev.contains("namePrefix: dev-"), "other keys kept: {dev}");

        let tree = put_file(&repo, tree, "dev/team-a/bucket/assets.yaml").unwrap();
        assert_eq!(
            resources(&repo, tree, "dev/team-a/bucket").unwrap(),
            ["assets.yaml", "logs.yaml"]
        );
    }

    #[test]
    fn an_existing_folder_without_a_kustomization_is_left_without_one() {
        let (_d, repo, tree) = repo_with(&[("apps/plain.yaml", "kind: ConfigMap\n")]);
        let tree = put_file(&repo, tree, "apps/new.yaml").unwrap();
        assert!(text(&repo, tree, "apps/kustomization.yaml").is_none());
        assert!(text(&repo, tree, "apps/new.yaml").is_some());
    }

    #[test]
    fn writing_the_same_content_again_leaves_the_tree_as_it_is() {
        let (_d, repo, tree) = repo_with(&[]);
        let once = put_file(&repo, tree, "dev/a/x.yaml").unwrap();
        let twice = put_file(&repo, once, "dev/a/x.yaml").unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn removing_the_last_file_removes_its_folders_and_their_entries() {
        let (_d, repo, tree) = repo_with(&[
            (
                "dev/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [other]\n",
            ),
            ("dev/other/kustomization.yaml", "resources: [o.yaml]\n"),
            ("dev/other/o.yaml", "kind: O\n"),
        ]);
        let with = put_file(&repo, tree, "dev/team-a/bucket/logs.yaml").unwrap();
        let without = apply(
            &repo,
            Some(&repo.find_tree(with).unwrap()),
            Change::Remove {
                path: "dev/team-a/bucket/logs.yaml",
            },
            &[],
        )
        .unwrap();
        assert!(text(&repo, without, "dev/team-a/bucket/kustomization.yaml").is_none());
        assert!(text(&repo, without, "dev/team-a/kustomization.yaml").is_none());
        assert_eq!(resources(&repo, without, "dev").unwrap(), ["other"]);
        assert_eq!(
            entries(&repo, &repo.find_tree(without).unwrap(), "dev/team-a").unwrap(),
            None,
            "the folder is gone"
        );
    }

    #[test]
    fn removing_one_of_two_files_keeps_the_other_listed() {
        let (_d, repo, tree) = repo_with(&[]);
        let tree = put_file(&repo, tree, "dev/a/x.yaml").unwrap();
        let tree = put_file(&repo, tree, "dev/a/y.yaml").unwrap();
        let tree = apply(
            &repo,
            Some(&repo.find_tree(tree).unwrap()),
            Change::Remove {
                path: "dev/a/x.yaml",
            },
            &[],
        )
        .unwrap();
        assert_eq!(resources(&repo, tree, "dev/a").unwrap(), ["y.yaml"]);
    }

    #[test]
    fn a_broken_kustomization_or_a_missing_file_is_refused_with_its_path() {
        let (_d, repo, tree) = repo_with(&[("dev/kustomization.yaml", "resources: not-a-list\n")]);
        let err = put_file(&repo, tree, "dev/x.yaml").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("dev/kustomization.yaml cannot be updated"),
            "{err}"
        );
        let err = apply(
            &repo,
            Some(&repo.find_tree(tree).unwrap()),
            Change::Remove {
                path: "dev/nope.yaml",
            },
            &[],
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "dev/nope.yaml is not in the repository");
        assert!(matches!(
            put_file(&repo, tree, "dev/kustomization.yaml"),
            Err(Error::NotAFile(_))
        ));
    }
}

#[cfg(test)]
mod roots {
    use super::*;

    #[test]
    fn a_configured_prefix_folder_is_never_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let put = |tree: Option<Oid>, path: &str| {
            let base = tree.map(|t| repo.find_tree(t).unwrap());
            apply(
                &repo,
                base.as_ref(),
                Change::Put {
                    path,
                    content: b"kind: X\n",
                },
                &[],
            )
            .unwrap()
        };
        let tree = put(None, "clusters/prod/team-a/x.yaml");
        let roots = ["clusters".to_owned()];
        let base = repo.find_tree(tree).unwrap();
        let tree = apply(
            &repo,
            Some(&base),
            Change::Remove {
                path: "clusters/prod/team-a/x.yaml",
            },
            &roots,
        )
        .unwrap();
        let tree = repo.find_tree(tree).unwrap();
        assert!(
            read(&repo, &tree, "clusters/prod/team-a/kustomization.yaml")
                .unwrap()
                .is_none()
        );
        let prod = String::from_utf8(
            read(&repo, &tree, "clusters/prod/kustomization.yaml")
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert!(prod.contains("resources: []"), "{prod}");
    }
}
