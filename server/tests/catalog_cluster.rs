//! Offerings discovered live from a cluster, through kube-rs's real client against the
//! Kubernetes API test double (tests/fixtures/xrd objects, real HTTP list/watch): XRDs and
//! Promises show up, change and go without a restart; a cluster without Crossplane gets a
//! note and is asked again, not hammered; watch loss and an unreachable cluster lose nothing.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::TestApp;
use kube_double::KubeDouble;
use serde_json::Value;
use slipway::config::{ClusterAccess, ClusterSettings, ControlPlaneSettings};

/// The CRDs Crossplane 2 and Kratix install for their definitions (names, scope and served
/// versions as upstream; schemas left open: the double does not validate).
const CROSSPLANE_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: compositeresourcedefinitions.apiextensions.crossplane.io}
spec:
  group: apiextensions.crossplane.io
  scope: Cluster
  names: {kind: CompositeResourceDefinition, plural: compositeresourcedefinitions, singular: compositeresourcedefinition, shortNames: [xrd, xrds], categories: [crossplane]}
  versions:
  - {name: v1, served: true, storage: false, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
  - {name: v2, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
"#;

const KRATIX_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: promises.platform.kratix.io}
spec:
  group: platform.kratix.io
  scope: Cluster
  names: {kind: Promise, plural: promises, singular: promise}
  versions:
  - {name: v1alpha1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
"#;

fn fixture(stem: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/xrd/{stem}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A portal with the sample catalog folder and one cluster, `prod-cp`, reconciling `dev`
/// and `prod` (not `staging`).
struct Portal {
    app: TestApp,
    _background: slipway::http::serve::Background,
    _kubeconfig: tempfile::NamedTempFile,
    admin: String,
    member: String,
}

async fn portal(double: &KubeDouble) -> Portal {
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), double.kubeconfig("double")).unwrap();
    let mut settings = common::settings(&[
        "--dev-login",
        "--catalog-dir",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/devdata/catalog"),
        "--clusters",
        "prod-cp=double",
        "--environments",
        "dev@prod-cp,staging,prod@prod-cp",
        "--kubeconfig",
        kubeconfig.path().to_str().unwrap(),
    ]);
    settings.control_plane.rediscover = Duration::from_millis(300);
    // With one cluster every environment defaults to it; staging is to reconcile nowhere.
    for environment in &mut settings.environments {
        if environment.name == "staging" {
            environment.cluster = None;
        }
    }
    let app = TestApp::with_settings(settings).await;
    let background = slipway::http::serve::start_background(&app.state)
        .await
        .unwrap();
    let admin = app.login_as("pat").await;
    let member = app.login_as("alice").await;
    Portal {
        app,
        _background: background,
        _kubeconfig: kubeconfig,
        admin,
        member,
    }
}

impl Portal {
    async fn page(&self, cookie: &str) -> Value {
        let res = self.app.server_fn("catalog", Some(cookie), "").await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        serde_json::from_str(&res.body).unwrap()
    }

    /// Polls the catalog (as an admin) until `done` holds, for up to 10 s.
    async fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.page(&self.admin).await;
            if done(&page) {
                return page;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within 10 s; last page: {page:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn item<'a>(page: &'a Value, id: &str) -> Option<&'a Value> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
}

fn problems(page: &Value) -> Vec<String> {
    page["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn xrds_and_promises_in_the_cluster_are_offered_and_follow_changes_without_restart() {
    let double = KubeDouble::start().await.unwrap();
    double.seed_yaml(CROSSPLANE_CRD).unwrap();
    double.seed_yaml(KRATIX_CRD).unwrap();
    double
        .seed_yaml(&fixture("smana-kvstore-v2-min-max"))
        .unwrap();
    double
        .seed_yaml(&fixture("kratix-promise-rds-aws"))
        .unwrap();
    let portal = portal(&double).await;

    // The offering files (loaded in the background too) listed beside both cluster offerings.
    let page = portal
        .until("both cluster offerings listed beside the files", |p| {
            let ids = ids(p);
            ids.contains(&"kvstores.cloud.ogenki.io".to_owned())
                && ids.contains(&"aws-rds".to_owned())
                && ids.contains(&"postgresql".to_owned())
        })
        .await;
    let kv = item(&page, "kvstores.cloud.ogenki.io").unwrap();
    assert_eq!(kv["source"], "xrd");
    assert_eq!(kv["kind"], "KVStore");
    assert_eq!(
        kv["environments"],
        serde_json::json!(["dev", "prod"]),
        "offered where the cluster reconciles, not in staging"
    );
    assert_eq!(item(&page, "aws-rds").unwrap()["source"], "promise");

    // A new XRD (a v1 one: Crossplane 2 serves it at v2 as LegacyCluster) appears...
    double
        .seed_yaml(&fixture("platform-ref-aws-xsqlinstance-v1-claim"))
        .unwrap();
    let page = portal
        .until("a new XRD appears", |p| {
            ids(p).contains(&"xsqlinstances.aws.platformref.upbound.io".to_owned())
        })
        .await;
    let sql = item(&page, "xsqlinstances.aws.platformref.upbound.io").unwrap();
    assert_eq!(sql["kind"], "SQLInstance", "the claim kind is offered");

    // ...a change shows (a title set by annotation)...
    let mut kvstore = double
        .get(
            "apiextensions.crossplane.io/v2",
            "CompositeResourceDefinition",
            "",
            "kvstores.cloud.ogenki.io",
        )
        .unwrap();
    kvstore["metadata"]["annotations"] =
        serde_json::json!({"slipway.dev/title": "Key-value store"});
    double.apply(kvstore).unwrap();
    portal
        .until("the new title shows", |p| {
            item(p, "kvstores.cloud.ogenki.io").is_some_and(|i| i["title"] == "Key-value store")
        })
        .await;

    // ...and a deleted one goes.
    double
        .delete(
            "apiextensions.crossplane.io/v2",
            "CompositeResourceDefinition",
            "",
            "kvstores.cloud.ogenki.io",
        )
        .unwrap();
    portal
        .until("the deleted XRD goes", |p| {
            !ids(p).contains(&"kvstores.cloud.ogenki.io".to_owned())
        })
        .await;

    // The offering's form works like any other: the detail page and server validation.
    let detail = portal
        .app
        .server_fn("catalog/offering", Some(&portal.member), "id=aws-rds")
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
}

#[tokio::test]
async fn a_cluster_without_crossplane_gets_a_note_and_is_asked_again_not_hammered() {
    let double = KubeDouble::start().await.unwrap();
    let portal = portal(&double).await;
    let page = portal
        .until("a note for each missing kind", |p| problems(p).len() == 2)
        .await;
    let notes = problems(&page);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Crossplane XRDs are not served")
                && n.contains("apiextensions.crossplane.io is not installed")
                && n.contains("prod-cp")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Kratix Promises are not served")),
        "{notes:?}"
    );
    let members_page = portal.page(&portal.member).await;
    assert!(problems(&members_page).is_empty(), "notes are for admins");

    // Asked again at the configured interval (300 ms here), not in a loop: seven kinds are
    // looked for (XRDs and Promises for the catalog; Argo CD Applications, Flux
    // Kustomizations and HelmReleases, and the two claim kinds of the offering files for the
    // status watchers), each with one `GET /apis` per interval while its group is missing.
    let before = double.requests().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let asked = double.requests()[before..].to_vec();
    assert!(
        asked.iter().all(|r| r == "GET /apis"),
        "only discovery while nothing is installed: {asked:?}"
    );
    assert!(
        (7..=7 * 7).contains(&asked.len()),
        "expected about one discovery request per kind per 300 ms in 1.5 s, got {}",
        asked.len()
    );

    // Installing Crossplane later is picked up without a restart, and the note goes.
    double.seed_yaml(CROSSPLANE_CRD).unwrap();
    double
        .seed_yaml(&fixture("vfarcic-crossplane-sql-v2-default-scope"))
        .unwrap();
    let page = portal
        .until("offered once Crossplane is installed", |p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["source"] == "xrd")
        })
        .await;
    let notes = problems(&page);
    assert_eq!(notes.len(), 1, "only the Kratix note is left: {notes:?}");
    assert!(notes[0].contains("Kratix"));
}

#[tokio::test]
async fn watch_loss_410_and_cut_connections_lose_no_change() {
    let double = KubeDouble::start().await.unwrap();
    double.seed_yaml(CROSSPLANE_CRD).unwrap();
    double
        .seed_yaml(&fixture("smana-kvstore-v2-min-max"))
        .unwrap();
    let portal = portal(&double).await;
    portal
        .until("listed", |p| {
            ids(p).contains(&"kvstores.cloud.ogenki.io".to_owned())
        })
        .await;
    wait_for_watches(&double).await;

    double.expire_watches();
    double
        .seed_yaml(&fixture("smana-epi-v2-cel-on-metadata"))
        .unwrap();
    let page = portal
        .until("an XRD created after 410 is seen (re-list)", |p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["source"] == "xrd")
                .count()
                == 2
        })
        .await;
    let before: Vec<String> = ids(&page);
    wait_for_watches(&double).await;

    double.drop_watches();
    double
        .delete(
            "apiextensions.crossplane.io/v2",
            "CompositeResourceDefinition",
            "",
            "kvstores.cloud.ogenki.io",
        )
        .unwrap();
    let page = portal
        .until("a delete during the cut is seen (resumed watch)", |p| {
            !ids(p).contains(&"kvstores.cloud.ogenki.io".to_owned())
        })
        .await;
    assert_eq!(
        ids(&page).len(),
        before.len() - 1,
        "nothing duplicated or lost: {page:#}"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_keeps_its_offerings_as_last_seen_and_says_so() {
    let double = KubeDouble::start().await.unwrap();
    double.seed_yaml(CROSSPLANE_CRD).unwrap();
    double
        .seed_yaml(&fixture("smana-kvstore-v2-min-max"))
        .unwrap();
    let portal = portal(&double).await;
    portal
        .until("listed", |p| {
            ids(p).contains(&"kvstores.cloud.ogenki.io".to_owned())
        })
        .await;
    wait_for_watches(&double).await;

    double.set_reachable(false);
    let page = portal
        .until("a note about the failing cluster", |p| {
            problems(p)
                .iter()
                .any(|n| n.contains("prod-cp") && n.contains("as last seen"))
        })
        .await;
    assert!(
        ids(&page).contains(&"kvstores.cloud.ogenki.io".to_owned()),
        "offerings stay while the cluster is away"
    );

    double.set_reachable(true);
    portal
        .until("the note goes when the cluster is back", |p| {
            !problems(p).iter().any(|n| n.contains("as last seen"))
        })
        .await;
}

#[tokio::test]
async fn an_xrd_that_cannot_become_a_form_is_left_out_with_its_reason() {
    let double = KubeDouble::start().await.unwrap();
    double.seed_yaml(CROSSPLANE_CRD).unwrap();
    double
        .seed_yaml(
            r#"
apiVersion: apiextensions.crossplane.io/v2
kind: CompositeResourceDefinition
metadata: {name: xbroken.example.org}
spec:
  group: example.org
  names: {kind: XBroken, plural: xbrokens}
  versions: []
"#,
        )
        .unwrap();
    double
        .seed_yaml(&fixture("smana-kvstore-v2-min-max"))
        .unwrap();
    let portal = portal(&double).await;
    let page = portal
        .until("the good one listed", |p| {
            ids(p).contains(&"kvstores.cloud.ogenki.io".to_owned())
        })
        .await;
    assert!(!ids(&page).contains(&"xbroken.example.org".to_owned()));
    let notes = problems(&page);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("xbroken.example.org") && n.contains("no served version")),
        "{notes:?}"
    );
}

async fn wait_for_watches(double: &KubeDouble) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while double.open_watches() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the portal opens a watch");
}

#[tokio::test]
async fn a_context_missing_from_the_kubeconfig_stops_startup_with_the_contexts_named() {
    let double = KubeDouble::start().await.unwrap();
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), double.kubeconfig("double")).unwrap();
    let settings = ControlPlaneSettings {
        clusters: vec![ClusterSettings {
            name: "prod-cp".into(),
            access: ClusterAccess::Context("prod".into()),
        }],
        kubeconfig: Some(kubeconfig.path().to_owned()),
        rediscover: Duration::from_secs(60),
    };
    let error = match slipway::kube::cluster::connect(&settings).await {
        Ok(_) => panic!("a missing context must be refused"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("prod-cp") && error.contains("\"prod\"") && error.contains("double"),
        "{error}"
    );
}

#[test]
fn the_deployed_rbac_grants_read_only_access_to_every_kind_the_catalog_and_status_watch() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/kubernetes/base/rbac.yaml"
    ))
    .unwrap();
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let rules: Vec<&Value> = documents
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
        .flat_map(|d| d["rules"].as_array().unwrap())
        .collect();
    for rule in &rules {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            verbs.iter().all(|v| ["get", "list", "watch"].contains(v)),
            "read-only: {rule}"
        );
        assert!(
            !rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "*"),
            "no wildcards: {rule}"
        );
    }
    let granted = |group: &str, plural: &str| {
        rules.iter().any(|rule| {
            let has = |field: &str, value: &str| {
                rule[field].as_array().unwrap().iter().any(|v| v == value)
            };
            has("apiGroups", group)
                && has("resources", plural)
                && ["get", "list", "watch"].iter().all(|v| has("verbs", v))
        })
    };
    for source in slipway::kube::offerings::SOURCES {
        assert!(
            granted(source.group, source.plural),
            "{} {} must be readable",
            source.group,
            source.plural
        );
    }
    // The status watchers' fixed kinds (claims and what they compose vary per installation).
    for (group, _, kind) in slipway::kube::watch::APPLIERS {
        let plural = format!("{}s", kind.to_lowercase());
        assert!(granted(group, &plural), "{group} {plural} must be readable");
    }
    assert!(
        !rules.iter().any(|r| r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "secrets")),
        "never Secrets"
    );
    // The bound role aggregates exactly the labelled roles above.
    let reader = documents
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "slipway-reader")
        .unwrap();
    let selector = &reader["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"];
    for role in documents
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] != "slipway-reader")
    {
        for (key, value) in selector.as_object().unwrap() {
            assert_eq!(
                &role["metadata"]["labels"][key], value,
                "{} is aggregated",
                role["metadata"]["name"]
            );
        }
    }
}
