//! `slipway init`: a ready-to-try data folder — the SQLite database (migrated), and a bare
//! GitOps repository with the default layout (`<env>/kustomization.yaml` for dev, staging,
//! prod) and a sample catalog. Idempotent: what exists is left alone.

pub mod ledger;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::config::InitArgs;

/// Environments of the default layout.
pub const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];

const SAMPLE_CATALOG: [(&str, &str); 2] = [
    (
        "catalog/postgresql.yaml",
        include_str!("catalog/postgresql.yaml"),
    ),
    ("catalog/bucket.yaml", include_str!("catalog/bucket.yaml")),
];

const REPO_README: &str = "# GitOps repository\n\n\
Managed by Slipway. Claims live at `<environment>/<team>/<kind>/<name>.yaml`; each folder's\n\
`kustomization.yaml` lists its resources. Offerings live in `catalog/`.\n";

const EMPTY_KUSTOMIZATION: &str =
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n";

/// Runs `slipway init`.
pub async fn init(args: InitArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating SLIPWAY_DATA_DIR {}", args.data_dir.display()))?;
    let db = crate::db::Db::open_migrated(
        &args.database.database_url,
        args.database.db_max_connections,
    )
    .await
    .context("opening the database named by DATABASE_URL")?;
    db.close().await;
    tracing::info!(backend = db.backend().name(), "database ready");

    let repo = args.data_dir.join("gitops.git");
    let created = tokio::task::spawn_blocking(move || seed_repository(&repo)).await??;
    match created {
        Some(path) => tracing::info!(repository = %path.display(), "GitOps repository created"),
        None => tracing::info!("GitOps repository already exists; left as it is"),
    }
    Ok(())
}

/// Creates a bare repository with one commit holding the layout and sample catalog, unless
/// the folder exists. Returns the new repository's path.
pub fn seed_repository(bare: &Path) -> anyhow::Result<Option<PathBuf>> {
    if bare.exists() {
        return Ok(None);
    }
    let work = tempfile::tempdir().context("creating a temporary folder")?;
    let mut files: Vec<(String, &str)> = vec![("README.md".into(), REPO_README)];
    files.extend(
        ENVIRONMENTS
            .iter()
            .map(|env| (format!("{env}/kustomization.yaml"), EMPTY_KUSTOMIZATION)),
    );
    files.extend(SAMPLE_CATALOG.iter().map(|(p, c)| ((*p).to_owned(), *c)));
    for (path, content) in &files {
        let target = work.path().join(path);
        std::fs::create_dir_all(target.parent().expect("every file is in a folder"))?;
        std::fs::write(&target, content)?;
    }
    git(work.path(), &["init", "--quiet", "--initial-branch=main"])?;
    git(work.path(), &["add", "--all"])?;
    git(
        work.path(),
        &[
            "-c",
            "user.name=Slipway",
            "-c",
            "user.email=slipway@localhost",
            "commit",
            "--quiet",
            "-m",
            "Initialize GitOps repository layout and sample catalog",
        ],
    )?;
    // Build the bare repository beside its final place, then move it in: a crash midway
    // never leaves a half-made repository that later runs would take as done.
    let parent = bare
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".gitops-init")
        .tempdir_in(parent)?;
    let staged = staging.path().join("repo.git");
    let staged_str = staged.to_str().context("repository path is not UTF-8")?;
    git(
        work.path(),
        &["clone", "--quiet", "--bare", ".", staged_str],
    )?;
    std::fs::rename(&staged, bare)
        .with_context(|| format!("moving the repository to {}", bare.display()))?;
    Ok(Some(bare.to_path_buf()))
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .context("running git (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
