//! Test harness shared by the integration tests.
//!
//! Every test gets its own database: a fresh SQLite file by default, or — when
//! `SLIPWAY_TEST_DATABASE_URL` names a PostgreSQL server (as `make test` does for its
//! second pass) — a fresh database created on that server. The same tests thus prove both
//! backends.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod forge;
pub mod git_http;
pub mod git_ssh;
pub mod kube;
pub mod replica;
pub mod repo;
pub mod requests;
pub mod settings;
pub mod sse;
pub mod stall;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use slipway::db::{Backend, Db};
use tower::ServiceExt as _;

pub use settings::{ORIGIN, settings};

/// A database for one test; dropped with the test (SQLite file) or with the throwaway
/// PostgreSQL cluster `make test` starts and removes.
pub struct TestDb {
    pub db: Db,
    /// Its URL, for other processes (replicas) to open.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A migrated, empty database on the backend under test.
    pub async fn new() -> Self {
        let test = Self::unmigrated().await;
        test.db.migrate().await.expect("migrations apply");
        test
    }

    /// A database without any table, on the backend under test.
    pub async fn unmigrated() -> Self {
        record_database_use();
        match std::env::var("SLIPWAY_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(&admin_url).await,
            _ => Self::sqlite().await,
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/slipway.db", dir.path().display());
        let db = Db::connect(&url, 5).await.expect("sqlite opens");
        TestDb {
            db,
            url,
            _dir: Some(dir),
        }
    }

    async fn postgres(admin_url: &str) -> Self {
        let name = format!("slipway_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Db::connect(admin_url, 1)
            .await
            .expect("PostgreSQL server reachable");
        // The name is generated above from a UUID: no outside input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(admin.pool())
            .await
            .expect("create database");
        admin.close().await;
        let mut url = url::Url::parse(admin_url).expect("SLIPWAY_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        let db = Db::connect(url.as_str(), 5)
            .await
            .expect("test database opens");
        TestDb {
            db,
            url: url.to_string(),
            _dir: None,
        }
    }

    /// The backend the harness was asked for.
    pub fn expected_backend() -> Backend {
        match std::env::var("SLIPWAY_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

/// Notes this test binary's name in `SLIPWAY_TEST_DB_USERS` (a folder) when set: `make test`
/// sets it on the SQLite pass and runs the PostgreSQL pass for exactly the binaries noted,
/// so a new test that opens a database is run on both without anyone listing it.
fn record_database_use() {
    let Some(dir) = std::env::var_os("SLIPWAY_TEST_DB_USERS") else {
        return;
    };
    let exe = std::env::current_exe().expect("the test binary's path");
    let stem = exe
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a UTF-8 name");
    // Cargo names test binaries `<target>-<hash>`.
    let target = stem.rsplit_once('-').map_or(stem, |(name, _)| name);
    std::fs::create_dir_all(&dir).expect("the folder for database users");
    std::fs::write(std::path::Path::new(&dir).join(target), "").expect("note written");
}

/// The application router over a test database, with or without the development login.
pub struct TestApp {
    pub router: Router,
    pub state: slipway::state::AppState,
    pub test_db: TestDb,
}

/// The environments of a portal with default settings over `db` (for services built alone).
pub fn environments(db: &Db) -> std::sync::Arc<slipway::environment::Environments> {
    let telemetry = std::sync::Arc::new(slipway::metrics::prom::Telemetry::new());
    let wiring = slipway::environment::Wiring {
        db: db.clone(),
        holder: "test".into(),
        ledger: slipway::ledger::Ledger::new(slipway::hub::Hub::new(16), telemetry.clone()),
        telemetry,
    };
    std::sync::Arc::new(slipway::environment::Environments::build(
        &settings(&[]),
        &wiring,
    ))
}

impl TestApp {
    pub async fn new(dev_login: bool) -> Self {
        let args: &[&str] = if dev_login { &["--dev-login"] } else { &[] };
        Self::with_settings(settings(args)).await
    }

    pub async fn with_settings(settings: slipway::config::Settings) -> Self {
        Self::with_site(settings, std::path::Path::new("target/site")).await
    }

    /// An app whose static files (`/pkg/…`) are served from `site_root`.
    pub async fn with_site(
        settings: slipway::config::Settings,
        site_root: &std::path::Path,
    ) -> Self {
        // The server's warnings and errors, printed with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn,slipway=info")
            .try_init();
        let test_db = TestDb::new().await;
        let options = slipway::http::leptos_options(site_root, "127.0.0.1:3000".parse().unwrap());
        let state = slipway::state::AppState::build(options, test_db.db.clone(), settings)
            .expect("state builds");
        TestApp {
            router: slipway::http::router(state.clone()),
            state,
            test_db,
        }
    }

    pub fn db(&self) -> &Db {
        &self.test_db.db
    }

    /// Sends one request through the whole middleware stack, no socket involved. Unless the
    /// test says otherwise, it comes from a loopback peer, as a browser on this machine would.
    pub async fn send(&self, mut request: Request<Body>) -> TestResponse {
        let extensions = request.extensions_mut();
        if extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .is_none()
        {
            extensions.insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                40_000,
            ))));
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        TestResponse::read(response).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> TestResponse {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// A same-origin form POST, as the browser sends it.
    pub async fn post_form(&self, path: &str, form: &str, cookie: Option<&str>) -> TestResponse {
        let mut req = Request::post(path)
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Calls a server function as the browser does (form-encoded arguments, JSON answer).
    pub async fn server_fn(
        &self,
        endpoint: &str,
        cookie: Option<&str>,
        form: &str,
    ) -> TestResponse {
        let mut req = Request::post(format!("/api/{endpoint}"))
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Calls a server function whose arguments are JSON-encoded (`input = Json`).
    pub async fn server_fn_json(
        &self,
        endpoint: &str,
        cookie: Option<&str>,
        body: &serde_json::Value,
    ) -> TestResponse {
        let mut req = Request::post(format!("/api/{endpoint}"))
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// Signs in through the development login; returns the `Cookie` header to send.
    /// A personal API token (its secret) of the session's user, with `scopes` ("read" or
    /// "read write"), made through the Tokens page's server function.
    pub async fn api_token(&self, cookie: &str, scopes: &str) -> String {
        let form = format!(
            "name=ci&scopes={}&expires_in_days=30",
            scopes.replace(' ', "+")
        );
        let res = self.server_fn("tokens/create", Some(cookie), &form).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        serde_json::from_str::<serde_json::Value>(&res.body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn login_as(&self, handle: &str) -> String {
        let res = self
            .post_form("/auth/dev-login", &format!("handle={handle}"), None)
            .await;
        assert_eq!(
            res.status,
            StatusCode::SEE_OTHER,
            "dev login redirects: {}",
            res.body
        );
        res.session_cookie()
            .expect("dev login sets the session cookie")
    }

    pub async fn count(&self, table: &str) -> i64 {
        // Table names come from the tests themselves.
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(self.db().pool())
                .await
                .expect("count");
        n
    }
}

/// A fully read response.
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub(crate) async fn read(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body reads").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookie(&self) -> Option<&str> {
        self.header(header::SET_COOKIE)
    }

    /// `name=value` of the cookie `name` this response sets, among all its `Set-Cookie`s.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .find(|pair| pair.split('=').next() == Some(name))
            .map(str::to_owned)
    }

    /// `name=value` of the session cookie this response sets.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("slipway_session")
    }
}
