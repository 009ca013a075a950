//! Requests through the server functions the browser calls, and their ledger.

use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

use slipway::git::writer::Writer;

use super::TestApp;

/// The body of a PostgreSQL request form (the sample catalog's offering).
pub fn draft_in(environment: &str, team: &str, name: &str, storage: i64) -> Value {
    json!({"draft": {
        "offering": "postgresql", "environment": environment, "team": team, "name": name,
        "values": {"storageGB": storage, "version": "16"}
    }})
}

/// Submits a form; the new request's id.
pub async fn submit(app: &TestApp, cookie: &str, body: &Value) -> String {
    let res = app
        .server_fn_json("requests/submit", Some(cookie), body)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    serde_json::from_str::<Value>(&res.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One request as its page reads it: status and body.
pub async fn request(app: &TestApp, cookie: &str, id: &str) -> (StatusCode, Value) {
    let res = app
        .server_fn("requests/get", Some(cookie), &format!("id={id}"))
        .await;
    (
        res.status,
        serde_json::from_str(&res.body).unwrap_or(Value::Null),
    )
}

/// The kinds of a request's ledger events, oldest first.
pub fn event_kinds(detail: &Value) -> Vec<String> {
    detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The writer of the portal's `dev` environment (the sample catalog's repository).
pub fn writer(app: &TestApp) -> Arc<Writer> {
    writer_of(app, "dev")
}

/// The writer of an environment.
pub fn writer_of(app: &TestApp, environment: &str) -> Arc<Writer> {
    app.state
        .environments
        .get(environment)
        .expect("a configured environment")
        .writer
        .clone()
}

/// The `dev` writer of a second portal over the same database with `settings` (another
/// replica, or the same one restarted): its own holder name in the leases.
pub fn another_writer(app: &TestApp, settings: &slipway::config::Settings) -> Arc<Writer> {
    let options = slipway::http::leptos_options(
        std::path::Path::new("target/site"),
        "127.0.0.1:3000".parse().unwrap(),
    );
    let other = slipway::state::AppState::build(options, app.db().clone(), settings.clone())
        .expect("state builds");
    other
        .environments
        .get("dev")
        .expect("dev configured")
        .writer
        .clone()
}

/// The field errors of a refused form, as (path, message).
pub fn field_errors(status: StatusCode, body: &str) -> Vec<(String, String)> {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let error: Value = serde_json::from_str(body).unwrap();
    error["Validation"]
        .as_array()
        .unwrap_or_else(|| panic!("not a validation error: {error}"))
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
