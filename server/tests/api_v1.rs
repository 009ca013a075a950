//! The REST API (`/api/v1`) with personal tokens: its routes and its OpenAPI document are one
//! list, read-only tokens cannot write, another team's token sees nothing of team A's real
//! request (nor its events), one idempotency key makes one request, polled reads answer 304
//! until they change, and every error has the one JSON shape.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::repo::Repo;
use common::requests::writer;
use common::sse::SseStream;
use common::{TestApp, TestResponse};
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = match body {
        Some(body) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => req.body(Body::empty()),
    };
    app.send(req.unwrap()).await
}

/// A portal over a seeded repository (the sample catalog); the repository lives as long.
async fn portal() -> (Repo, TestApp) {
    let repo = Repo::new();
    let app = repo.app().await;
    (repo, app)
}

fn draft(team: &str, name: &str, storage: i64) -> Value {
    json!({"offering": "postgresql", "environment": "dev", "team": team, "name": name,
           "values": {"storageGB": storage, "version": "16"}})
}

fn body(res: &TestResponse) -> Value {
    serde_json::from_str(&res.body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn every_api_route_is_in_the_openapi_document_and_the_document_has_no_other() {
    let routed: BTreeSet<(String, String)> = slipway::http::plain_routes()
        .into_iter()
        .filter(|(path, _, _)| path.starts_with("/api/v1/"))
        .map(|(path, method, _)| (method.as_str().to_lowercase(), path.to_owned()))
        .collect();
    let document = serde_json::to_value(slipway::http::rest::document()).unwrap();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from the document"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "operations the router does not serve"
    );
    assert!(routed.len() >= 20, "{routed:?}");
    // Every placeholder of a path is a documented path parameter.
    for (method, path) in &documented {
        let op = &document["paths"][path][method];
        for name in path
            .split('{')
            .skip(1)
            .map(|s| s.split('}').next().unwrap())
        {
            assert!(
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path")),
                "{method} {path}: {name} is not a documented path parameter"
            );
        }
    }

    let app = TestApp::new(true).await;
    let served = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(served.status, StatusCode::OK);
    let served: Value = serde_json::from_str(&served.body).unwrap();
    assert!(
        served["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        served["openapi"]
    );
    assert_eq!(served, document);
    let page = app.get("/api/v1/docs", None).await;
    assert_eq!(page.status, StatusCode::OK);
    for (_, path) in &routed {
        assert!(
            page.body.contains(&path.replace('&', "&amp;")),
            "{path} not on the page"
        );
    }
}

#[tokio::test]
async fn a_read_only_token_is_refused_on_submit_with_its_code_and_nothing_is_stored() {
    let (_repo, app) = portal().await;
    let alice = app.login_as("alice").await;
    let read = app.api_token(&alice, "read").await;
    let write = app.api_token(&alice, "read write").await;
    let refused = call(
        &app,
        Method::POST,
        "/api/v1/requests",
        &read,
        Some(&draft("team-a", "orders-db", 20)),
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(body(&refused)["code"], "insufficient_scope");
    assert_eq!(app.count("requests").await, 0);

    let made = call(
        &app,
        Method::POST,
        "/api/v1/requests",
        &write,
        Some(&draft("team-a", "orders-db", 20)),
        &[],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = body(&made)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        made.header(header::LOCATION),
        Some(format!("/api/v1/requests/{id}").as_str())
    );
    // The read token reads it.
    let read_back = call(
        &app,
        Method::GET,
        &format!("/api/v1/requests/{id}"),
        &read,
        None,
        &[],
    )
    .await;
    assert_eq!(read_back.status, StatusCode::OK);
    assert_eq!(body(&read_back)["summary"]["name"], "orders-db");
}

#[tokio::test]
async fn another_teams_token_cannot_see_team_as_request_or_stream_its_events() {
    let (_repo, app) = portal().await;
    let alice = app.login_as("alice").await;
    let bob = app.login_as("bob").await;
    let alice_token = app.api_token(&alice, "read write").await;
    let bob_token = app.api_token(&bob, "read write").await;
    let made = call(
        &app,
        Method::POST,
        "/api/v1/requests",
        &alice_token,
        Some(&draft("team-a", "orders-db", 20)),
        &[],
    )
    .await;
    let theirs = body(&made)["id"].as_str().unwrap().to_owned();

    for (method, path, payload) in [
        (Method::GET, format!("/api/v1/requests/{theirs}"), None),
        (
            Method::GET,
            format!("/api/v1/requests/{theirs}/status"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/requests/{theirs}/claim"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/requests/{theirs}/claim"),
            Some(draft("team-a", "orders-db", 30)),
        ),
        (
            Method::DELETE,
            format!("/api/v1/requests/{theirs}/claim"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/requests/{theirs}/across"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/requests/{theirs}/promotions/staging"),
            None,
        ),
    ] {
        let res = call(
            &app,
            method.clone(),
            &path,
            &bob_token,
            payload.as_ref(),
            &[],
        )
        .await;
        assert_eq!(
            res.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            res.body
        );
        assert_eq!(body(&res)["code"], "not_found");
    }
    let listed = call(
        &app,
        Method::GET,
        "/api/v1/requests?team=team-a",
        &bob_token,
        None,
        &[],
    )
    .await;
    assert_eq!(body(&listed)["items"], json!([]));

    // Bob's stream: team A's commit is not on it; his own, made after, is.
    let mut stream = SseStream::open_with_token(&app, &bob_token).await;
    writer(&app).run_once().await.unwrap();
    let mine = call(
        &app,
        Method::POST,
        "/api/v1/requests",
        &bob_token,
        Some(&draft("team-b", "billing-db", 20)),
        &[],
    )
    .await;
    let mine = body(&mine)["id"].as_str().unwrap().to_owned();
    writer(&app).run_once().await.unwrap();
    let seen = stream
        .until(Duration::from_secs(10), |e| {
            e.event == "ledger"
                && e.data["request_id"] == mine.as_str()
                && e.data["kind"] == "committed"
        })
        .await;
    assert!(
        seen.iter().all(|e| e.data["request_id"] != theirs.as_str()),
        "team A's events reached team B: {seen:#?}"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_makes_one_request() {
    let (_repo, app) = portal().await;
    let alice = app.login_as("alice").await;
    let write = app.api_token(&alice, "read write").await;
    let submit = |key: &'static str, payload: Value| {
        let (app, write) = (&app, write.clone());
        async move {
            call(
                app,
                Method::POST,
                "/api/v1/requests",
                &write,
                Some(&payload),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = submit("deploy-42", draft("team-a", "orders-db", 20)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    // The same values with the keys in another order: the same submission.
    let reordered = json!({"values": {"version": "16", "storageGB": 20}, "name": "orders-db",
        "team": "team-a", "environment": "dev", "offering": "postgresql"});
    let again = submit("deploy-42", reordered).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(body(&again)["id"], body(&first)["id"]);
    assert_eq!(app.count("requests").await, 1);

    let other = submit("deploy-42", draft("team-a", "orders-db", 25)).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.body
    );
    assert!(
        body(&other)["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    assert_eq!(app.count("requests").await, 1);

    // A submission with the key under way (claimed, not committed): the retry waits for it.
    let (alice_id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE subject = 'dev|alice'")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    let pending: app::catalog::RequestDraft =
        serde_json::from_value(draft("team-a", "cache-db", 20)).unwrap();
    // The fingerprint of the body with its keys sorted, as the service takes it.
    let fingerprint = {
        use sha2::{Digest as _, Sha256};
        let sorted: std::collections::BTreeMap<String, Value> =
            serde_json::from_value(serde_json::to_value(&pending).unwrap()).unwrap();
        format!("{:x}", Sha256::digest(serde_json::to_vec(&sorted).unwrap()))
    };
    assert!(matches!(
        slipway::db::idempotency::claim(app.db(), &alice_id, "deploy-43", &fingerprint)
            .await
            .unwrap(),
        slipway::db::idempotency::Claimed::New(_)
    ));
    let busy = submit("deploy-43", draft("team-a", "cache-db", 20)).await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.body);
    assert_eq!(body(&busy)["code"], "conflict");
    assert_eq!(app.count("requests").await, 1);
    // Its process died before committing: ten minutes later the retry takes the key over.
    sqlx::query("UPDATE idempotency_keys SET created_at = $1 WHERE key = 'deploy-43'")
        .bind(slipway::db::now_ms() - 11 * 60_000)
        .execute(app.db().pool())
        .await
        .unwrap();
    let taken = submit("deploy-43", draft("team-a", "cache-db", 20)).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    let retried = submit("deploy-43", draft("team-a", "cache-db", 20)).await;
    assert_eq!(body(&retried)["id"], body(&taken)["id"]);
    assert_eq!(app.count("requests").await, 2);

    // A slow first submission whose claim a retry took over commits nothing: its key's claim
    // is not its own any more.
    let db = app.db();
    let first = match slipway::db::idempotency::claim(db, &alice_id, "deploy-44", "f")
        .await
        .unwrap()
    {
        slipway::db::idempotency::Claimed::New(claim) => claim,
        other => panic!("{other:?}"),
    };
    sqlx::query("UPDATE idempotency_keys SET created_at = $1 WHERE key = 'deploy-44'")
        .bind(slipway::db::now_ms() - 11 * 60_000)
        .execute(db.pool())
        .await
        .unwrap();
    let second = match slipway::db::idempotency::claim(db, &alice_id, "deploy-44", "f")
        .await
        .unwrap()
    {
        slipway::db::idempotency::Claimed::New(claim) => claim,
        other => panic!("{other:?}"),
    };
    assert_ne!(first, second);
    slipway::db::idempotency::release(db, &alice_id, "deploy-44", &first)
        .await
        .unwrap();
    assert_eq!(
        slipway::db::idempotency::claim(db, &alice_id, "deploy-44", "f")
            .await
            .unwrap(),
        slipway::db::idempotency::Claimed::InFlight,
        "the late first submission's release leaves the retry's claim alone"
    );
}

#[tokio::test]
async fn polled_reads_answer_304_until_the_request_changes() {
    let (_repo, app) = portal().await;
    let alice = app.login_as("alice").await;
    let write = app.api_token(&alice, "read write").await;
    let made = call(
        &app,
        Method::POST,
        "/api/v1/requests",
        &write,
        Some(&draft("team-a", "orders-db", 20)),
        &[],
    )
    .await;
    let path = format!("/api/v1/requests/{}", body(&made)["id"].as_str().unwrap());
    let first = call(&app, Method::GET, &path, &write, None, &[]).await;
    let tag = first.header(header::ETAG).unwrap().to_owned();
    let same = call(
        &app,
        Method::GET,
        &path,
        &write,
        None,
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.body.is_empty());
    writer(&app).run_once().await.unwrap();
    let moved = call(
        &app,
        Method::GET,
        &path,
        &write,
        None,
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_ne!(moved.header(header::ETAG), Some(tag.as_str()));
    assert_eq!(body(&moved)["summary"]["stage"], "committed");
}

#[tokio::test]
async fn errors_come_in_one_json_shape_with_stable_codes() {
    let (_repo, app) = portal().await;
    let alice = app.login_as("alice").await;
    let write = app.api_token(&alice, "read write").await;
    let res = app
        .send(
            Request::post("/api/v1/requests")
                .header(header::AUTHORIZATION, format!("Bearer {write}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(body(&res)["code"], "bad_request");
    let res = call(
        &app,
        Method::GET,
        "/api/v1/catalog/no-such-offering",
        &write,
        None,
        &[],
    )
    .await;
    assert_eq!(
        (res.status, body(&res)["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let res = call(
        &app,
        Method::POST,
        "/api/v1/requests",
        &write,
        Some(&draft("team-a", "Not A Name", 20)),
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(&res)["code"], "validation_failed");
    assert_eq!(body(&res)["fields"][0]["path"], "@name");
    let res = call(
        &app,
        Method::GET,
        "/api/v1/catalog?cursor=x",
        &write,
        None,
        &[],
    )
    .await;
    assert_eq!(
        (res.status, body(&res)["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_cursor"))
    );
    let res = app.get("/api/v1/requests", None).await;
    assert_eq!(
        (res.status, body(&res)["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unauthenticated"))
    );
}
