//! Secrets never in plaintext: a secret field of an offering file takes a reference to a
//! Secret the team has, and a secret typed into the form anyway is refused at its field and
//! found nowhere afterwards — not in the repository's history, the database, a draft, the
//! server's log or a page. The portal runs as the real binary, so its log is the real one.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::TestApp;
use common::replica::Replica;
use common::repo::Repo;
use serde_json::{Value, json};
use sqlx::Row as _;

const SECRET: &str = "Pl41nText-S3cret-xyzzy";

const OFFERING: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: app-db, title: App database, version: 1.0.0}
spec:
  parameters:
    type: object
    required: [adminPassword]
    properties:
      adminPassword: {type: string, format: password, minLength: 12, description: The admin password.}
      size: {type: integer, default: 1}
  output:
    manifests:
      - apiVersion: database.example.org/v1alpha1
        kind: AppDatabase
        metadata: {name: "{{ name }}", namespace: "{{ namespace }}"}
        spec:
          size: "{{ values.size }}"
          adminPasswordSecretRef: "{{ values.adminPassword }}"
"#;

struct Browser {
    client: reqwest::Client,
    origin: String,
}

impl Browser {
    async fn sign_in(replica: &Replica, handle: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = client
            .post(format!("{}/auth/dev-login", replica.origin))
            .header("origin", &replica.origin)
            .form(&[("handle", handle)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        Browser {
            client,
            origin: replica.origin.clone(),
        }
    }

    async fn post(&self, endpoint: &str, body: &Value) -> (u16, String) {
        let res = self
            .client
            .post(format!("{}/api/{endpoint}", self.origin))
            .header("origin", &self.origin)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn form(&self, endpoint: &str, form: &str) -> (u16, String) {
        let res = self
            .client
            .post(format!("{}/api/{endpoint}", self.origin))
            .header("origin", &self.origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn page(&self, path: &str) -> String {
        let res = self
            .client
            .get(format!("{}{path}", self.origin))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.text().await.unwrap()
    }
}

fn draft(password: &str) -> Value {
    json!({"draft": {"offering": "app-db", "environment": "dev", "team": "team-a",
                     "name": "orders", "values": {"adminPassword": password, "size": 2}}})
}

/// Every text value of every row of the tables that hold what users send.
async fn database_text(app: &TestApp) -> String {
    let mut all = String::new();
    for table in [
        "requests",
        "request_events",
        "git_jobs",
        "drafts",
        "audit_log",
        "approvals",
        "cluster_names",
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(app.db().pool())
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    all.push_str(&text);
                    all.push('\n');
                }
            }
        }
    }
    all
}

#[tokio::test]
async fn a_secret_typed_into_the_form_is_refused_and_found_nowhere() {
    let repo = Repo::new();
    repo.push("catalog/app-db.yaml", OFFERING);
    let app = repo.app().await;
    let url = format!("file://{}", repo.bare.display());
    let replica = Replica::start(
        repo.dir.path(),
        "portal",
        &app.test_db.url,
        &["--dev-login", "--git-url", &url],
    )
    .await;
    let alice = Browser::sign_in(&replica, "alice").await;

    // The form asks for a reference, and says so (once the portal has read its catalog,
    // which it does in the background after it answers /readyz).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, offering) = loop {
        let (status, offering) = alice.form("catalog/offering", "id=app-db").await;
        if status != 404 || Instant::now() > deadline {
            break (status, offering);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "{offering}");
    assert!(offering.contains("secret-name/key"), "{offering}");

    for endpoint in ["catalog/preview", "requests/submit"] {
        let (status, body) = alice.post(endpoint, &draft(SECRET)).await;
        assert_eq!(status, 422, "{endpoint}: {body}");
        assert!(body.contains("/adminPassword"), "{body}");
        assert!(
            !body.contains(SECRET),
            "the refusal repeats the secret: {body}"
        );
    }
    // A draft keeps everything but the secret.
    let (status, saved) = alice.post("drafts/save", &draft(SECRET)).await;
    assert_eq!(status, 200, "{saved}");
    let (_, loaded) = alice.form("drafts/load", "offering=app-db").await;
    assert!(loaded.contains("\"size\":2"), "{loaded}");
    assert!(
        !saved.contains(SECRET) && !loaded.contains(SECRET),
        "{loaded}"
    );

    // With a reference, the claim names the Secret the team has.
    let (status, body) = alice
        .post("requests/submit", &draft("orders-admin/password"))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = "dev/team-a/appdatabase/orders.yaml";
    while repo.show(path).is_none() {
        assert!(
            Instant::now() < deadline,
            "never committed:\n{}",
            replica.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let file: Value = serde_saphyr::from_str(&repo.show(path).unwrap()).unwrap();
    assert_eq!(
        file["spec"]["adminPasswordSecretRef"],
        json!({"name": "orders-admin", "key": "password"})
    );

    // Now look everywhere.
    let history = std::process::Command::new("git")
        .args([
            "--git-dir",
            repo.bare.to_str().unwrap(),
            "log",
            "-p",
            "--all",
        ])
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("orders-admin"), "the history is read");
    assert!(!history.contains(SECRET), "in the repository");
    let stored = database_text(&app).await;
    assert!(stored.contains("orders-admin"), "the database is read");
    assert!(!stored.contains(SECRET), "in the database");
    if let Some(file) = app.test_db.url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal"] {
            let bytes = std::fs::read(format!("{file}{suffix}")).unwrap_or_default();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "in the SQLite file{suffix}"
            );
        }
    }
    for page in [
        format!("/requests/{id}"),
        "/requests".to_owned(),
        "/catalog/app-db".to_owned(),
    ] {
        assert!(!alice.page(&page).await.contains(SECRET), "on {page}");
    }
    let (_, detail) = alice.form("requests/get", &format!("id={id}")).await;
    assert!(!detail.contains(SECRET));
    let log = replica.log();
    assert!(!log.is_empty(), "the log is read");
    assert!(!log.contains(SECRET), "in the log:\n{log}");
}

#[tokio::test]
async fn a_claim_that_would_carry_a_secret_in_plaintext_refuses_any_value() {
    let xrd = json!({
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": "xsqlusers.example.org"},
        "spec": {
            "group": "example.org",
            "names": {"kind": "XSQLUser", "plural": "xsqlusers"},
            "claimNames": {"kind": "SQLUser", "plural": "sqlusers"},
            "versions": [{"name": "v1", "served": true, "referenceable": true, "schema": {
                "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object",
                    "properties": {"password": {"type": "string", "format": "password"},
                                   "user": {"type": "string"}}}}}}}]
        }
    });
    let offering =
        slipway::catalog::xrd::from_object(&xrd, &["dev".to_owned()]).expect("the XRD compiles");
    let errors = offering.validate("app", &json!({"user": "app", "password": SECRET}));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "/password");
    assert!(!errors[0].message.contains(SECRET));
    assert!(offering.validate("app", &json!({"user": "app"})).is_empty());
}

#[tokio::test]
async fn a_key_of_the_secret_store_becomes_an_external_secret_below_the_teams_prefix() {
    let repo = Repo::new();
    repo.push(
        "catalog/api-client.yaml",
        r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: api-client, title: API client, version: 1.0.0}
spec:
  parameters:
    type: object
    properties:
      apiToken:
        type: string
        x-slipway-secret: {externalSecret: {store: vault-backend}}
  output:
    manifests:
      - apiVersion: example.org/v1
        kind: ApiClient
        metadata: {name: "{{ name }}", namespace: "{{ namespace }}"}
        spec:
          tokenRef: "{{ values.apiToken }}"
"#,
    );
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let draft = |key: &str| {
        json!({"draft": {"offering": "api-client", "environment": "dev", "team": "team-a",
                         "name": "orders", "values": {"apiToken": key}}})
    };
    let res = app
        .server_fn_json(
            "catalog/preview",
            Some(&alice),
            &draft("payments/api#token"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let preview: Value = serde_json::from_str(&res.body).unwrap();
    let content = preview["files"][0]["content"].as_str().unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(content).unwrap();
    assert_eq!(
        docs[0]["spec"]["tokenRef"],
        json!({"name": "orders-api-token", "key": "apiToken"})
    );
    let external = &docs[1];
    assert_eq!(external["kind"], "ExternalSecret");
    assert_eq!(external["metadata"]["namespace"], "team-a");
    assert_eq!(
        external["spec"]["secretStoreRef"],
        json!({"kind": "ClusterSecretStore", "name": "vault-backend"})
    );
    assert_eq!(external["spec"]["target"]["name"], "orders-api-token");
    assert_eq!(
        external["spec"]["data"][0],
        json!({"secretKey": "apiToken",
               "remoteRef": {"key": "team-a/payments/api", "property": "token"}})
    );
    // Another team's part of the store is out of reach.
    for key in ["../team-b/api", "x/../../team-b/api", "/team-b/api"] {
        let res = app
            .server_fn_json("catalog/preview", Some(&alice), &draft(key))
            .await;
        assert_eq!(res.status.as_u16(), 422, "{key}: {}", res.body);
        assert!(res.body.contains("/apiToken"), "{}", res.body);
    }
}
