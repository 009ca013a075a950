//! The authorization matrix: every route and server function, as an anonymous visitor, a
//! member of team A, a member of team B, a member of both and an administrator, against the
//! status each must get. Every route that names an object is probed with a real object of
//! team A (a request, a Git job, a token, an offering for team A only, a draft): a refusal
//! is the rule at work, not an id that does not exist. Routes are enumerated from the application itself (Leptos pages, registered server
//! functions, `http::plain_routes`), so a new route without an entry here fails the test.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header, request};
use common::repo::Repo;
use common::requests::{draft_in, request, submit, writer};
use common::{ORIGIN, TestApp};
use slipway::db::metrics::HistoricRequest;
use tower::ServiceExt as _;

const ROLES: [&str; 5] = [
    "anonymous",
    "alice (team-a)",
    "bob (team-b)",
    "carol (team-a and team-b)",
    "pat (admin)",
];
const HANDLES: [Option<&str>; 5] = [None, Some("alice"), Some("bob"), Some("carol"), Some("pat")];

/// Expected status for [anonymous, team A member, team B member, member of both, admin].
/// Every route that names an object is probed with a real object of team A (see [`Objects`]).
fn expected(method: &Method, path: &str) -> Option<[u16; 5]> {
    let page = [303, 200, 200, 200, 200];
    let api = [401, 200, 200, 200, 200];
    // Team A's object: its members and admins; team B's member is told "not found".
    let team_a_page = [303, 200, 404, 200, 200];
    let team_a_api = [401, 200, 404, 200, 200];
    Some(match (method.as_str(), path) {
        ("GET", "/healthz" | "/readyz" | "/login") => [200; 5],
        // Anonymous visitors are sent to the login page; everyone else to the catalog.
        ("GET", "/") => [303; 5],
        ("GET", "/catalog" | "/requests" | "/status" | "/status/clusters" | "/metrics") => page,
        // Live status: a member's stream and claims are filtered to their teams
        // (status_live.rs); clusters are no team's.
        ("GET", "/api/status/events") => api,
        ("POST", "/api/status/claims" | "/api/status/clusters") => api,
        ("POST", "/api/status/request") => team_a_api,
        // Metrics: every signed-in user, scoped to their teams (metrics_http.rs); team A's
        // page is its members' and the admins'; feedback only from the requester.
        ("GET", "/metrics/offerings/{id}") => page,
        ("GET", "/metrics/teams/{team}") => team_a_page,
        ("POST", "/api/metrics/dashboard") => api,
        ("POST", "/api/metrics/feedback") => [401, 200, 404, 403, 403],
        ("GET", "/api/metrics/export/{table}") => api,
        ("GET", "/admin" | "/admin/audit" | "/admin/audit.csv") => [303, 403, 403, 403, 200],
        ("POST", "/api/audit") => [401, 403, 403, 403, 200],
        // Failed and stuck Git jobs (team A's): administrators only.
        ("GET", "/admin/git") => [303, 403, 403, 403, 200],
        ("POST", "/api/admin/git-jobs") => [401, 403, 403, 403, 200],
        ("POST", "/api/admin/git-jobs/retry" | "/api/admin/git-jobs/abandon") => {
            [401, 403, 403, 403, 200]
        }
        // Users: administrators only; probed with real members of team A (one active, one
        // deactivated).
        ("GET", "/admin/users") => [303, 403, 403, 403, 200],
        ("POST", "/api/admin/users") => [401, 403, 403, 403, 200],
        ("POST", "/api/admin/users/deactivate" | "/api/admin/users/reactivate") => {
            [401, 403, 403, 403, 200]
        }
        // Everyone manages their own tokens; alice's is hers and the admins'.
        ("GET", "/tokens") => page,
        ("POST", "/api/tokens" | "/api/tokens/create") => api,
        ("POST", "/api/tokens/revoke") => [401, 200, 404, 404, 200],
        // The REST API: the same rules as the pages' server functions, through the same ports
        // (api_v1.rs has the tokens' side). Documents are public.
        ("GET", "/api/v1/me" | "/api/v1/catalog" | "/api/v1/requests" | "/api/v1/claims") => api,
        ("GET", "/api/v1/status/events" | "/api/v1/approvals" | "/api/v1/metrics") => api,
        ("GET", "/api/v1/metrics/export/{table}") => api,
        ("GET", "/api/v1/openapi.json" | "/api/v1/docs") => [200; 5],
        ("GET", "/api/v1/catalog/{id}" | "/api/v1/catalog/{id}/schema") => team_a_api,
        ("POST", "/api/v1/preview") => team_a_api,
        ("POST", "/api/v1/requests") => [401, 201, 422, 201, 201],
        ("GET", "/api/v1/requests/{id}" | "/api/v1/requests/{id}/status") => team_a_api,
        ("GET", "/api/v1/requests/{id}/claim" | "/api/v1/requests/{id}/across") => team_a_api,
        ("PUT" | "DELETE", "/api/v1/requests/{id}/claim") => [401, 201, 404, 201, 201],
        ("GET", "/api/v1/requests/{id}/promotions/{target}") => team_a_api,
        ("POST", "/api/v1/requests/{id}/promotions/{target}") => [401, 422, 404, 422, 422],
        ("POST", "/api/v1/approvals/{id}") => [401, 403, 204, 204, 204],
        ("GET", "/api/v1/audit") => [401, 403, 403, 403, 200],
        // The catalog: an offering for team A only is hidden from team B.
        ("GET", "/catalog/{id}") => team_a_page,
        ("POST", "/api/catalog") => api,
        ("POST", "/api/catalog/offering" | "/api/catalog/preview") => team_a_api,
        ("POST", "/api/drafts/save" | "/api/drafts/load") => team_a_api,
        ("POST", "/api/drafts/discard") => api,
        // Requests: team A's request is its members' and the admins'; submitting for team A
        // is refused at the team field for team B's member.
        ("GET", "/requests/{id}") => team_a_page,
        ("POST", "/api/requests") => api,
        ("POST", "/api/requests/get") => team_a_api,
        ("POST", "/api/requests/submit") => [401, 200, 422, 200, 200],
        ("POST", "/api/requests/change" | "/api/requests/change-source") => team_a_api,
        // Promotions: team A's claim is its members' and the admins' to plan, view across
        // environments and promote; promoting it (committed, never Ready) is refused by the
        // Ready gate for them, and team B's member is told "not found".
        ("POST", "/api/promotions/plan" | "/api/promotions/across") => team_a_api,
        ("POST", "/api/promotions/promote") => [401, 422, 404, 422, 422],
        // Approvals: everyone has a queue (filtered to what they may approve); team A's
        // request held in prod is approved by team B's members and admins, never by its
        // requester, and not by team A's members who are no approvers.
        ("GET", "/approvals") => page,
        ("POST", "/api/approvals") => api,
        ("POST", "/api/approvals/decide") => [401, 403, 200, 200, 200],
        // Forge webhooks carry no session: a signature decides (requests_pull.rs); with no
        // forge configured the route answers "not configured" to everyone.
        ("POST", "/api/hooks/forge") => [404; 5],
        // What every page needs, also before sign-in.
        ("POST", "/api/session" | "/api/login-options") => [200; 5],
        ("POST", "/api/system") => [401, 403, 403, 403, 200],
        // Sign-in and sign-out are open to all; their protection (CSRF, dev-only, state)
        // has its own tests. SSO routes are absent without SSO configured (tests/oidc.rs).
        ("POST", "/auth/dev-login" | "/auth/logout") => [303; 5],
        ("GET", "/auth/oidc/login" | "/auth/oidc/callback") => [404; 5],
        _ => return None,
    })
}

/// Routes whose success changes the object probed: the next role gets fresh objects.
const CHANGING: [&str; 13] = [
    "POST /api/v1/requests",
    "PUT /api/v1/requests/{id}/claim",
    "DELETE /api/v1/requests/{id}/claim",
    "POST /api/v1/approvals/{id}",
    "/api/admin/users/deactivate",
    "/api/admin/users/reactivate",
    "/api/approvals/decide",
    "/api/requests/change",
    "/api/tokens/revoke",
    "/api/admin/git-jobs/retry",
    "/api/admin/git-jobs/abandon",
    "/api/metrics/feedback",
    "/api/requests/submit",
];

/// Requests to prod need an approval from team B.
const POLICIES: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Policies
policies:
  - name: prod-review
    match: {environments: [prod]}
    approval: {required: 1, approvers: [team-b]}
"#;

/// An offering only team A may request.
const TEAM_A_ONLY: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: team-a-only, title: Team A only, version: 1.0.0}
spec:
  teams: [team-a]
  parameters:
    type: object
    properties:
      size: {type: integer, default: 1}
  output:
    manifests:
      - apiVersion: example.org/v1
        kind: Widget
        metadata: {name: "{{ name }}", namespace: "{{ namespace }}"}
        spec: {size: "{{ values.size }}"}
"#;

/// Real objects of team A, made by alice: a committed request, a request whose Git job
/// failed, one whose job is pending, one a policy holds for team B's approval, a Ready
/// request (historic), a token, an offering for team A only and a draft of it.
struct Objects {
    _repo: Repo,
    app: TestApp,
    committed: String,
    failed_job: String,
    pending_job: String,
    awaiting: String,
    ready: String,
    token: String,
    active_user: String,
    deactivated_user: String,
}

impl Objects {
    async fn new() -> Self {
        let repo = Repo::new();
        repo.push("catalog/team-a-only.yaml", TEAM_A_ONLY);
        repo.push("catalog/policies.yaml", POLICIES);
        let app = repo.app().await;
        let alice = app.login_as("alice").await;
        let committed = submit(&app, &alice, &draft_in("dev", "team-a", "orders-db", 20)).await;
        let failed_job = submit(&app, &alice, &draft_in("dev", "team-a", "billing-db", 20)).await;
        // A file put in the way by hand: the create of billing-db fails.
        repo.push(
            "dev/team-a/postgresqlinstance/billing-db.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: billing-db}\n",
        );
        writer(&app).run_once().await.unwrap();
        let pending_job = submit(&app, &alice, &draft_in("dev", "team-a", "later-db", 20)).await;
        let awaiting = submit(&app, &alice, &draft_in("prod", "team-a", "held-db", 20)).await;
        let stage = |id: String| {
            let app = &app;
            let alice = alice.clone();
            async move { request(app, &alice, &id).await.1["summary"]["stage"].clone() }
        };
        assert_eq!(stage(committed.clone()).await, "committed");
        assert_eq!(stage(failed_job.clone()).await, "failed");
        assert_eq!(stage(pending_job.clone()).await, "submitted");
        assert_eq!(stage(awaiting.clone()).await, "awaiting_approval");

        let (alice_id,): (String,) =
            sqlx::query_as("SELECT id FROM users WHERE subject = 'dev|alice'")
                .fetch_one(app.db().pool())
                .await
                .unwrap();
        let now = slipway::db::now_ms();
        let ready = "0190e1c4-0000-7000-8000-00000000a11c".to_owned();
        slipway::db::metrics::import(
            app.db(),
            &[HistoricRequest {
                id: ready.clone(),
                action: "create".into(),
                offering: "postgresql".into(),
                team: "team-a".into(),
                environment: "dev".into(),
                name: "ready-db".into(),
                requested_by: alice_id,
                events: vec![
                    ("submitted".into(), now - 60_000, None),
                    ("ready".into(), now - 30_000, None),
                ],
            }],
        )
        .await
        .unwrap();

        let res = app
            .server_fn(
                "tokens/create",
                Some(&alice),
                "name=probe&scopes=read&expires_in_days=7",
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let token = serde_json::from_str::<serde_json::Value>(&res.body).unwrap()["info"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = app
            .server_fn_json("drafts/save", Some(&alice), &team_a_only_draft())
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let member = |handle: &str| slipway::db::users::NewLogin {
            subject: format!("sso|{handle}"),
            display_name: handle.to_owned(),
            email: format!("{handle}@example.com"),
            is_admin: false,
            teams: vec!["team-a".into()],
        };
        let login = |handle: &'static str| {
            let app = &app;
            async move {
                slipway::db::users::upsert_login(app.db(), &member(handle))
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            }
        };
        let active_user = login("dora").await;
        let deactivated_user = login("gone").await;
        slipway::db::users::deactivate(app.db(), &deactivated_user)
            .await
            .unwrap()
            .unwrap();
        Objects {
            active_user,
            deactivated_user,
            _repo: repo,
            app,
            committed,
            failed_job,
            pending_job,
            awaiting,
            ready,
            token,
        }
    }

    /// The address probed for a route template: its placeholders filled with team A's objects.
    fn uri(&self, path: &str) -> String {
        path.replace("{id}", &self.committed)
            .replace("/catalog/{id}", "/catalog/team-a-only")
            .replace("{team}", "team-a")
            .replace("{table}", "weeks")
    }
}

fn team_a_only_draft() -> serde_json::Value {
    serde_json::json!({"draft": {"offering": "team-a-only", "environment": "dev",
        "team": "team-a", "name": "widget", "values": {"size": 2}}})
}

fn every_route() -> Vec<(Method, String)> {
    let mut routes: Vec<(Method, String)> = slipway::http::plain_routes()
        .into_iter()
        .map(|(path, method, _)| (method, path.to_owned()))
        .collect();
    for listing in leptos_axum::generate_route_list(app::App) {
        routes.push((Method::GET, listing.path().to_owned()));
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((method, path.to_owned()));
    }
    routes.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    routes.dedup();
    routes
}

fn probe(
    objects: &Objects,
    role: usize,
    method: &Method,
    path: &str,
    cookie: Option<&str>,
) -> Request<Body> {
    let uri = if path.starts_with("/catalog/") || path.starts_with("/api/v1/catalog/{id}") {
        path.replace("{id}", "team-a-only")
            .replace("/api/v1/catalog/{id}", "/api/v1/catalog/team-a-only")
    } else if path == "/api/v1/approvals/{id}" {
        format!("/api/v1/approvals/{}", objects.awaiting)
    } else if path.contains("{target}") {
        objects.uri(path).replace("{target}", "staging")
    } else if path == "/metrics/offerings/{id}" {
        "/metrics/offerings/postgresql".to_owned()
    } else {
        objects.uri(path)
    };
    let mut req = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::ORIGIN, ORIGIN);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let json = |req: request::Builder, body: serde_json::Value| {
        req.header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    // A valid body naming team A's object, so that only authorization decides the answer.
    match (method.as_str(), path) {
        ("POST", "/api/v1/preview") => return json(req, team_a_only_draft()["draft"].clone()),
        ("POST", "/api/v1/requests") => {
            return json(
                req,
                draft_in("dev", "team-a", &format!("rest-probe-{role}"), 20)["draft"].clone(),
            );
        }
        ("PUT", "/api/v1/requests/{id}/claim") => {
            return json(
                req,
                draft_in("dev", "team-a", "orders-db", 30)["draft"].clone(),
            );
        }
        ("POST", "/api/v1/requests/{id}/promotions/{target}") => {
            return json(req, serde_json::json!({}));
        }
        ("POST", "/api/v1/approvals/{id}") => {
            return json(req, serde_json::json!({"approve": true, "comment": "ok"}));
        }
        _ => {}
    }
    let body = match path {
        "/auth/dev-login" => "handle=alice".to_owned(),
        "/api/audit" => "filter[actor]=".to_owned(),
        "/api/tokens/create" => "name=probe&scopes=read&expires_in_days=7".to_owned(),
        "/api/tokens/revoke" => format!("id={}", objects.token),
        "/api/admin/users/deactivate" => format!("id={}", objects.active_user),
        "/api/admin/users/reactivate" => format!("id={}", objects.deactivated_user),
        "/api/approvals/decide" => format!("id={}&approve=true&comment=ok", objects.awaiting),
        "/api/admin/git-jobs/retry" => format!("id={}", objects.failed_job),
        "/api/admin/git-jobs/abandon" => format!("id={}&reason=probe", objects.pending_job),
        "/api/metrics/feedback" => format!(
            "feedback[request_id]={}&feedback[rating]=4&feedback[comment]=fine",
            objects.ready
        ),
        "/api/catalog/offering" | "/api/drafts/load" | "/api/drafts/discard" => {
            "offering=team-a-only&id=team-a-only".to_owned()
        }
        "/api/requests/get" | "/api/status/request" => format!("id={}", objects.committed),
        "/api/requests/change-source" | "/api/promotions/across" => {
            format!("of={}", objects.committed)
        }
        "/api/promotions/plan" | "/api/promotions/promote" => {
            format!("of={}&target=staging", objects.committed)
        }
        "/api/requests/change" => {
            return json(
                req,
                serde_json::json!({"of": objects.committed, "action": "delete", "draft": null}),
            );
        }
        "/api/catalog/preview" | "/api/drafts/save" => return json(req, team_a_only_draft()),
        "/api/requests/submit" => {
            return json(req, draft_in("dev", "team-a", &format!("probe-{role}"), 20));
        }
        _ => String::new(),
    };
    req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn every_route_allows_and_denies_exactly_as_the_matrix_says() {
    let routes = every_route();
    let missing: Vec<String> = routes
        .iter()
        .filter(|(m, p)| expected(m, p).is_none())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the authorization matrix: {missing:?}"
    );
    assert!(
        routes.len() >= 14,
        "the enumeration found too few routes: {routes:?}"
    );

    let mut objects = Objects::new().await;
    let mut wrong = Vec::new();
    for (method, path) in &routes {
        let want = expected(method, path).unwrap();
        for (role, handle) in HANDLES.into_iter().enumerate() {
            let app = &objects.app;
            // A fresh session per probe: probing sign-out must not end the next probe's session.
            let cookie = match handle {
                Some(h) => Some(app.login_as(h).await),
                None => None,
            };
            let request = probe(&objects, role, method, path, cookie.as_deref());
            // An event stream never ends: its status is all there is to read.
            let res = if path.ends_with("/status/events") {
                let response = app.router.clone().oneshot(request).await.unwrap();
                common::TestResponse {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: String::new(),
                }
            } else {
                app.send(request).await
            };
            if res.status != StatusCode::from_u16(want[role]).unwrap() {
                let body: String = res.body.chars().take(160).collect();
                wrong.push(format!(
                    "{method} {path} as {}: expected {}, got {} ({body})",
                    ROLES[role], want[role], res.status
                ));
            }
            if res.status.is_success()
                && (CHANGING.contains(&path.as_str())
                    || CHANGING.contains(&format!("{method} {path}").as_str()))
            {
                objects = Objects::new().await;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix violations:\n{}",
        wrong.join("\n")
    );
}
