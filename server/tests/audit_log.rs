//! The audit log as administrators read it: filtered pages through the server function, and
//! the CSV export of every matching entry (which is audited itself).

mod common;

use axum::http::{StatusCode, header};
use common::TestApp;
use slipway::db::audit::{self, AuditOutcome, NewAuditEntry};

/// 60 sign-ins: every third one refused.
async fn seed(app: &TestApp) {
    for i in 0..60 {
        let outcome = if i % 3 == 0 {
            AuditOutcome::Denied
        } else {
            AuditOutcome::Ok
        };
        let detail = format!("attempt {i}");
        let entry = NewAuditEntry {
            actor: None,
            action: "login",
            target: None,
            request_id: None,
            outcome,
            detail: Some(&detail),
        };
        audit::record(app.db(), entry).await.unwrap();
    }
}

async fn audit_page(app: &TestApp, cookie: &str, form: &str) -> serde_json::Value {
    let res = app.server_fn("audit", Some(cookie), form).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    serde_json::from_str(&res.body).unwrap()
}

#[tokio::test]
async fn admins_page_through_filtered_entries_newest_first() {
    let app = TestApp::new(true).await;
    seed(&app).await;
    let admin = app.login_as("pat").await;

    // 20 refused sign-ins: one page of 50 holds them all.
    let denied = audit_page(&app, &admin, "filter[outcome]=denied").await;
    let entries = denied["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 20);
    assert!(entries.iter().all(|e| e["outcome"] == "denied"));
    assert_eq!(entries[0]["detail"], "attempt 57", "newest first");
    assert!(denied["next_before"].is_null(), "no further page");

    // Everything: 60 seeded + pat's own login = 61, so two pages.
    let first = audit_page(&app, &admin, "filter[action]=login").await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 50);
    let before = first["next_before"].as_str().unwrap();
    let second = audit_page(
        &app,
        &admin,
        &format!("filter[action]=login&filter[before]={before}"),
    )
    .await;
    let rest = second["entries"].as_array().unwrap();
    assert_eq!(rest.len(), 11);
    assert_eq!(
        rest.last().unwrap()["detail"],
        "attempt 0",
        "the oldest comes last"
    );

    // No filter at all (what the page sends when first opened) is every entry.
    let unfiltered = audit_page(&app, &admin, "").await;
    assert_eq!(unfiltered["entries"].as_array().unwrap().len(), 50);

    let by_actor = audit_page(&app, &admin, "filter[actor]=PLAT").await;
    let actors: Vec<&str> = by_actor["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        vec!["Pat Platform"],
        "case-insensitive part of the name"
    );
}

#[tokio::test]
async fn the_csv_export_holds_every_matching_entry_and_is_audited() {
    let app = TestApp::new(true).await;
    seed(&app).await;
    let admin = app.login_as("pat").await;
    let res = app
        .get("/admin/audit.csv?outcome=ok&action=login", Some(&admin))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.header(header::CONTENT_TYPE),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        res.header(header::CONTENT_DISPOSITION),
        Some("attachment; filename=\"slipway-audit.csv\"")
    );
    let lines: Vec<&str> = res.body.lines().collect();
    assert_eq!(
        lines[0],
        "time,actor,action,target,request_id,outcome,detail,id"
    );
    assert_eq!(
        lines.len(),
        1 + 40 + 1,
        "header, 40 seeded successes, pat's own login"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains(",login,") && l.contains(",ok,"))
    );

    let newest = audit::recent(app.db(), 1).await.unwrap();
    assert_eq!(
        (newest[0].action.as_str(), newest[0].actor_name.as_str()),
        ("audit.export", "Pat Platform")
    );
}

#[tokio::test]
async fn members_can_neither_read_nor_export_the_audit_log() {
    let app = TestApp::new(true).await;
    let member = app.login_as("alice").await;
    let csv = app.get("/admin/audit.csv", Some(&member)).await;
    assert_eq!(csv.status, StatusCode::FORBIDDEN);
    assert_eq!(
        csv.body,
        r#"{"code":"forbidden","message":"You are not allowed to read the audit log."}"#
    );
    let page = app.get("/admin/audit", Some(&member)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body
            .contains("You are not allowed to read the audit log.")
    );
}
