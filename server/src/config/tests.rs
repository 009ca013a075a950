//! Unit tests of argument checking.

use app::requests::WriteMode;
use clap::Parser as _;

use super::*;

fn serve(args: &[&str]) -> ServeArgs {
    let mut argv = vec!["slipway", "serve"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Serve(a) => *a,
        other => panic!("expected serve, got {other:?}"),
    }
}

#[test]
fn an_environments_file_gives_environments_their_own_repository_prefix_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("prod-token");
    std::fs::write(&token, "t\n").unwrap();
    let file = dir.path().join("environments.yaml");
    std::fs::write(
        &file,
        format!(
            "prod:\n  repository: https://git.example.com/acme/gitops-prod.git\n  branch: release\n  pathPrefix: /clusters/prod/\n  mode: pull-request\n  forgeProject: acme/gitops-prod\n  credentials:\n    username: bot\n    tokenFile: {}\n",
            token.display()
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let settings = serve(&[
        "--environments-file",
        path,
        "--forge",
        "github",
        "--forge-token",
        "x",
        "--git-url",
        "https://git.example.com/acme/gitops.git",
    ])
    .settings()
    .unwrap();
    let environment = |name: &str| {
        settings
            .environments
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .clone()
    };
    let prod = environment("prod");
    assert_eq!(
        prod.remote.url,
        "https://git.example.com/acme/gitops-prod.git"
    );
    assert_eq!(prod.branch, "release");
    assert_eq!(prod.prefix, "clusters/prod");
    assert_eq!(prod.mode, WriteMode::PullRequest);
    assert_eq!(prod.forge_project.as_deref(), Some("acme/gitops-prod"));
    assert_eq!(prod.remote.credentials.username.as_deref(), Some("bot"));
    let dev = environment("dev");
    assert_eq!(dev.remote.url, "https://git.example.com/acme/gitops.git");
    assert_eq!((dev.prefix.as_str(), dev.mode), ("", WriteMode::Direct));
    assert_eq!(settings.forge.unwrap().project, "");

    for (text, problem) in [
        ("qa: {}\n", "\"qa\" is not one of SLIPWAY_ENVIRONMENTS"),
        ("dev: {mode: sometimes}\n", "is not direct or pull-request"),
        ("dev: {pathPrefix: ../up}\n", "is not a plain folder path"),
        ("dev: {repo: x}\n", "unknown field"),
    ] {
        std::fs::write(&file, text).unwrap();
        let err = serve(&["--environments-file", path])
            .settings()
            .unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_ENVIRONMENTS_FILE");
        assert!(err.problem.contains(problem), "{text}: {}", err.problem);
    }
    std::fs::write(&file, "prod: {mode: pull-request}\n").unwrap();
    let err = serve(&[
        "--environments-file",
        path,
        "--forge",
        "gitlab",
        "--forge-api-url",
        "https://gl.example.com",
        "--forge-token",
        "x",
    ])
    .settings()
    .unwrap_err();
    assert_eq!(err.variable, "SLIPWAY_FORGE_PROJECT", "{}", err.problem);
}

#[test]
fn stages_follow_the_display_order_unless_an_environment_names_its_source_and_gates_are_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    let path = file.to_str().unwrap();
    let stages = |text: &str| {
        std::fs::write(&file, text).unwrap();
        serve(&[
            "--environments",
            "dev,staging,prod-eu,prod-us,sandbox",
            "--environments-file",
            path,
        ])
        .settings()
    };
    let settings = stages(
        "prod-us: {promoteFrom: staging}
sandbox: {promoteFrom: \"\"}
prod-eu:
  promotion: {soak: 1h 30m, requireSameVersion: false}
",
    )
    .unwrap();
    let sources: Vec<(&str, Option<&str>)> = settings
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.promote_from.as_deref()))
        .collect();
    assert_eq!(
        sources,
        [
            ("dev", None),
            ("staging", Some("dev")),
            ("prod-eu", Some("staging")),
            ("prod-us", Some("staging")),
            ("sandbox", None)
        ]
    );
    let gates = |name: &str| {
        settings
            .environments
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .gates
    };
    assert_eq!(
        gates("prod-eu"),
        Gates {
            ready: true,
            soak: std::time::Duration::from_secs(5400),
            same_version: false
        }
    );
    assert_eq!(gates("staging"), Gates::default());

    for (text, problem) in [
        ("dev: {promoteFrom: dev}\n", "names the environment itself"),
        (
            "dev: {promoteFrom: qa}\n",
            "\"qa\" is not one of SLIPWAY_ENVIRONMENTS",
        ),
        ("dev: {promoteFrom: staging}\n", "cycle"),
        ("prod-eu: {promotion: {soak: soon}}\n", "promotion.soak"),
        ("prod-eu: {promotion: {gate: x}}\n", "unknown field"),
    ] {
        let err = stages(text).unwrap_err();
        assert_eq!(err.variable, "SLIPWAY_ENVIRONMENTS_FILE");
        assert!(err.problem.contains(problem), "{text}: {}", err.problem);
    }
}

#[test]
fn environments_reconcile_in_the_cluster_they_name_or_the_only_one() {
    let clusters_of = |settings: &Settings| -> Vec<(String, Option<String>)> {
        settings
            .environments
            .iter()
            .map(|e| (e.name.clone(), e.cluster.clone()))
            .collect()
    };
    let one = |name: &str, cluster: Option<&str>| (name.to_owned(), cluster.map(str::to_owned));
    let settings = serve(&["--clusters", "cp=kind-cp", "--environments", "dev,prod"])
        .settings()
        .unwrap();
    let only = &settings.control_plane;
    assert_eq!(
        only.clusters,
        [ClusterSettings {
            name: "cp".into(),
            access: ClusterAccess::Context("kind-cp".into())
        }]
    );
    assert_eq!(
        clusters_of(&settings),
        [one("dev", Some("cp")), one("prod", Some("cp"))],
        "one cluster serves all"
    );

    let several = serve(&[
        "--clusters",
        "prod=in-cluster,staging,lab=ctx-lab",
        "--environments",
        "dev@lab,staging,prod,qa",
    ])
    .settings()
    .unwrap();
    let plane = &several.control_plane;
    assert_eq!(plane.clusters[0].access, ClusterAccess::InCluster);
    assert_eq!(
        plane.clusters[1].access,
        ClusterAccess::Context("staging".into())
    );
    assert_eq!(
        clusters_of(&several),
        [
            one("dev", Some("lab")),
            one("staging", Some("staging")),
            one("prod", Some("prod")),
            one("qa", None),
        ],
        "named with @, else the cluster of the same name; qa has none but is still an environment"
    );
}

#[test]
fn cluster_settings_that_cannot_work_are_refused_with_the_variable_named() {
    let unknown = serve(&["--clusters", "cp=ctx", "--environments", "dev@elsewhere"])
        .settings()
        .unwrap_err();
    assert_eq!(unknown.variable, "SLIPWAY_ENVIRONMENTS");
    assert!(unknown.problem.contains("elsewhere"), "{unknown}");
    let twice = serve(&["--clusters", "cp=a,cp=b"]).settings().unwrap_err();
    assert_eq!(twice.variable, "SLIPWAY_CLUSTERS");
    let bad_name = serve(&["--clusters", "Prod_1=a"]).settings().unwrap_err();
    assert_eq!(bad_name.variable, "SLIPWAY_CLUSTERS");
}

#[test]
fn dev_login_is_refused_on_a_public_listen_address() {
    let err = serve(&["--dev-login", "--listen", "0.0.0.0:3000"])
        .settings()
        .unwrap_err();
    assert_eq!(err.variable, "SLIPWAY_DEV_LOGIN");
    assert!(err.problem.contains("0.0.0.0:3000"), "{err}");
}

#[test]
fn dev_login_is_refused_with_a_public_url_even_on_loopback() {
    let err = serve(&["--dev-login", "--public-url", "https://portal.example.com"])
        .settings()
        .unwrap_err();
    assert_eq!(err.variable, "SLIPWAY_DEV_LOGIN");
}

#[test]
fn dev_login_is_accepted_on_loopback() {
    let settings = serve(&["--dev-login"]).settings().unwrap();
    assert!(settings.dev_login);
    assert_eq!(settings.public_origin, "http://127.0.0.1:3000");
    assert!(!settings.secure_cookies);
}

#[test]
fn an_https_public_url_makes_cookies_secure() {
    let settings = serve(&["--public-url", "https://portal.example.com/base/"])
        .settings()
        .unwrap();
    assert!(settings.secure_cookies);
    assert_eq!(settings.public_origin, "https://portal.example.com");
}

#[test]
fn a_public_url_without_http_is_refused_naming_the_variable() {
    let err = serve(&["--public-url", "ftp://x.example.com"])
        .settings()
        .unwrap_err();
    assert_eq!(err.variable, "SLIPWAY_PUBLIC_URL");
}

#[test]
fn credentials_in_the_git_url_never_reach_the_settings() {
    let settings = serve(&[
        "--git-url",
        "https://bot:s3cret@git.example.com/platform/gitops.git",
    ])
    .settings()
    .unwrap();
    assert_eq!(
        settings.catalog.remote.display_url(),
        "https://git.example.com/platform/gitops.git"
    );
    assert!(
        format!("{settings:?}").contains("gitops.git")
            && !format!("{settings:?}").contains("s3cret")
    );
}

#[test]
fn single_sign_on_is_off_without_an_issuer() {
    assert!(serve(&[]).settings().unwrap().oidc.is_none());
}

#[test]
fn the_client_secret_is_read_from_its_file_without_the_newline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "s3cret\n").unwrap();
    let settings = serve(&[
        "--oidc-issuer",
        "https://idp.example.com/realms/x/",
        "--oidc-client-secret-file",
        file.to_str().unwrap(),
        "--oidc-scopes",
        "profile groups",
    ])
    .settings()
    .unwrap();
    let oidc = settings.oidc.unwrap();
    assert_eq!(oidc.client_secret.as_deref(), Some("s3cret"));
    assert_eq!(
        oidc.issuer.as_str(),
        "https://idp.example.com/realms/x",
        "trailing slash dropped"
    );
    assert_eq!(
        oidc.scopes,
        vec!["openid", "profile", "groups"],
        "openid always first"
    );
}

#[test]
fn secret_and_secret_file_together_are_refused() {
    let err = serve(&[
        "--oidc-issuer",
        "https://idp.example.com",
        "--oidc-client-secret",
        "a",
        "--oidc-client-secret-file",
        "/x",
    ])
    .settings()
    .unwrap_err();
    assert_eq!(err.variable, "SLIPWAY_OIDC_CLIENT_SECRET_FILE");
}

#[test]
fn a_broken_team_regex_is_refused_naming_the_variable() {
    let err = serve(&[
        "--oidc-issuer",
        "https://idp.example.com",
        "--team-regex",
        "(open",
    ])
    .settings()
    .unwrap_err();
    assert_eq!(err.variable, "SLIPWAY_TEAM_REGEX");
}

#[test]
fn the_default_git_repository_lives_in_the_data_folder() {
    let settings = serve(&["--data-dir", "/srv/slipway"]).settings().unwrap();
    assert_eq!(
        settings.catalog.remote.url,
        "file:///srv/slipway/gitops.git"
    );
}

#[test]
fn printing_the_arguments_shows_no_secret() {
    let args = serve(&[
        "--database-url",
        "postgres://slipway:db-pass-4711@db/slipway",
        "--git-token",
        "git-token-4711",
        "--forge-token",
        "forge-token-4711",
        "--forge-webhook-secret",
        "hook-secret-4711",
        "--oidc-client-secret",
        "oidc-secret-4711",
    ]);
    let printed = format!("{args:?}");
    assert!(!printed.contains("4711"), "{printed}");
    assert!(
        printed.contains("postgres://"),
        "the URL is shown, its password not"
    );
    assert_eq!(
        args.git_token.as_ref().map(|t| t.0.as_str()),
        Some("git-token-4711")
    );
}
