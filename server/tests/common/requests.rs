//! Requests through the server functions the browser calls, and their ledger.

use axum::http::StatusCode;
use serde_json::{Value, json};
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

/// A second writer of the same repository as the portal's (another process, or the same
/// one restarted), named `holder` in the lease.
pub fn another_writer(app: &TestApp, settings: &slipway::config::Settings, holder: &str) -> Writer {
    Writer::new(
        app.db().clone(),
        settings.git_target(),
        settings.git.writer.clone(),
        holder.into(),
    )
}
