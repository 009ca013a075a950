//! The `slipway` binary and `slipway init`, run for real.

use std::path::Path;
use std::process::Command;

fn slipway(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        // Only what the test sets: an inherited DATABASE_URL must not leak in.
        .env_remove("DATABASE_URL")
        .envs(envs.iter().copied())
        .output()
        .expect("the binary runs")
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_lists_the_subcommands_and_documents_the_environment() {
    let out = slipway(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "migrate", "init"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    let serve = String::from_utf8_lossy(&slipway(&["serve", "--help"], &[]).stdout).into_owned();
    for var in [
        "DATABASE_URL",
        "SLIPWAY_LISTEN",
        "SLIPWAY_PUBLIC_URL",
        "SLIPWAY_DEV_LOGIN",
        "SLIPWAY_LOG_FORMAT",
    ] {
        assert!(serve.contains(var), "{var} missing from serve --help");
    }
}

#[test]
fn serve_refuses_the_dev_login_on_a_public_address_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let out = slipway(
        &["serve", "--dev-login", "--listen", "0.0.0.0:0"],
        &[("DATABASE_URL", &url)],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SLIPWAY_DEV_LOGIN"), "{stderr}");
    assert!(
        !dir.path().join("x.db").exists(),
        "refused before touching the database"
    );
}

#[test]
fn migrate_creates_and_migrates_a_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub/slipway.db", dir.path().display());
    let out = slipway(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("sub/slipway.db").is_file());
}

#[test]
fn init_creates_the_gitops_repository_with_layout_and_catalog_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_str = data.to_str().unwrap();
    let db_url = format!("sqlite://{data_str}/slipway.db");
    let envs = [
        ("SLIPWAY_DATA_DIR", data_str),
        ("DATABASE_URL", db_url.as_str()),
    ];
    let out = slipway(&["init"], &envs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let repo = data.join("gitops.git");
    assert_eq!(
        git(&repo, &["rev-parse", "--is-bare-repository"]).trim(),
        "true"
    );
    let files = git(&repo, &["ls-tree", "-r", "--name-only", "main"]);
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(
        files,
        vec![
            "README.md",
            "catalog/bucket.yaml",
            "catalog/postgresql.yaml",
            "dev/kustomization.yaml",
            "prod/kustomization.yaml",
            "staging/kustomization.yaml",
        ]
    );
    assert!(data.join("slipway.db").is_file());

    let again = slipway(&["init"], &envs);
    assert!(again.status.success());
    assert_eq!(
        git(&repo, &["rev-list", "--count", "main"]).trim(),
        "1",
        "a second init adds no commit"
    );
}
