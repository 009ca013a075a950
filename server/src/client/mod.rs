//! The `slipway` client: the REST API (`/api/v1`) from a terminal or a CI job, with a personal
//! API token. Human output by default, `-o json|yaml` for scripts; `--wait ready` follows the
//! status stream and exits 0 on Ready, 2 with the root cause on failure, 3 on timeout.
//!
//! ```text
//!  slipway login ──▶ GET /me ──▶ ~/.config/slipway/client.json (0600: url, token)
//!  slipway request create ──▶ POST /preview (--dry-run) | POST /requests (Idempotency-Key)
//!                         └─▶ --wait: GET /status/events (SSE) + GET /requests/{id}, /status
//! ```

pub mod commands;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A command's end with a chosen exit code (the message on standard error).
#[derive(Debug)]
pub struct Exit {
    /// The process's exit code.
    pub code: u8,
    /// What is printed.
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Exit codes (1: the command failed; 2: clap's, the command line was wrong).
pub mod code {
    /// `--wait`: not Ready within `--timeout`.
    pub const TIMEOUT: u8 = 3;
    /// `--wait`: the request failed (in Git, or its claim Failed for longer than
    /// `--failure-grace`), was rejected or its pull request closed.
    pub const FAILED: u8 = 4;
}

/// Where the client's settings are kept.
fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SLIPWAY_CLIENT_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set"))?)
            .join(".config"),
    };
    Ok(base.join("slipway").join("client.json"))
}

/// The stored login.
#[derive(Clone, Serialize, Deserialize)]
pub struct Login {
    /// The portal's address.
    pub url: String,
    /// The API token.
    pub token: String,
}

impl Login {
    /// Stores the login, readable by its owner only.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = config_path()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        // The mode above applies to a file it creates; a leftover one is narrowed too.
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// The login to use: `SLIPWAY_URL` / `SLIPWAY_TOKEN` (or the flags) over the stored one.
    /// The stored token is only ever sent to the address it was stored for.
    pub fn resolve(url: Option<&str>, token: Option<String>) -> anyhow::Result<Login> {
        let stored: Option<Login> = config_path()
            .ok()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let url = url
            .map(|u| u.trim_end_matches('/').to_owned())
            .or_else(|| stored.as_ref().map(|s| s.url.clone()))
            .ok_or_else(|| {
                anyhow!("no portal address: run `slipway login --url …` or set SLIPWAY_URL")
            })?;
        let token = match (token, stored) {
            (Some(token), _) => token,
            (None, Some(stored)) if stored.url == url => stored.token,
            (None, Some(stored)) => bail!(
                "the stored token is for {}, not {url}: run `slipway login --url {url}` or set SLIPWAY_TOKEN",
                stored.url
            ),
            (None, None) => bail!("no API token: run `slipway login` or set SLIPWAY_TOKEN"),
        };
        let loopback = |host: &str| {
            host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        if let Ok(parsed) = url::Url::parse(&url)
            && parsed.scheme() == "http"
            && !parsed.host_str().is_some_and(loopback)
        {
            eprintln!("warning: {url} is plain HTTP: the token crosses the network unencrypted");
        }
        Ok(Login { url, token })
    }
}

/// An error the API answered, in its one JSON shape.
#[derive(Debug, Deserialize)]
pub struct ApiFailure {
    /// Stable code.
    pub code: String,
    /// For people.
    pub message: String,
    /// Values refused, each at its field.
    #[serde(default)]
    pub fields: Vec<app::catalog::FieldError>,
    /// The HTTP status.
    #[serde(skip)]
    pub status: u16,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)?;
        for field in &self.fields {
            write!(f, "\n  {}: {}", field.path, field.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// The API at one portal, with one token.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the portal at `login.url`.
    pub fn new(login: &Login) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Client {
            base: login.url.trim_end_matches('/').to_owned(),
            token: login.token.clone(),
            http,
        })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends and reads a JSON answer, or the API's error.
    async fn send<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = builder
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let mut failure: ApiFailure = serde_json::from_slice(&bytes).unwrap_or(ApiFailure {
                code: "http_error".into(),
                message: String::from_utf8_lossy(&bytes).trim().to_owned(),
                fields: Vec::new(),
                status: status.as_u16(),
            });
            failure.status = status.as_u16();
            return Err(failure.into());
        }
        if status == StatusCode::NO_CONTENT {
            return Ok(serde_json::from_value(Value::Null)?);
        }
        serde_json::from_slice(&bytes)
            .context("the portal's answer is not what this client expects")
    }

    /// `GET`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        self.send(self.request(Method::GET, path).query(query))
            .await
    }

    /// A body sent with `method`.
    pub async fn send_json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        headers: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let mut builder = self
            .request(method, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body)?);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        self.send(builder).await
    }

    /// `DELETE`.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Follows request `id` until it is Ready (Ok), failed (exit 4 with the root cause) or
    /// `timeout` passes (exit 3). A claim Failed in its cluster ends the wait only once it has
    /// stayed Failed for `grace` (a transient error that recovers does not fail a job).
    /// `on_change` is told each stage and status as it comes. The status stream is followed,
    /// and reconnected after `Last-Event-ID` when it ends (a replica stopping); when it cannot
    /// be opened (the cap of streams reached), the request is polled instead.
    pub async fn wait_ready(
        &self,
        id: &str,
        timeout: Duration,
        grace: Duration,
        mut on_change: impl FnMut(&str),
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut watch = Watch {
            id,
            last: String::new(),
            failed_since: None,
            grace,
        };
        let mut last_event_id: Option<String> = None;
        let timed_out = |watch: &Watch<'_>| -> anyhow::Error {
            Exit {
                code: code::TIMEOUT,
                message: format!(
                    "request {id} is not Ready after {}: {}",
                    humantime::format_duration(timeout),
                    watch.last
                ),
            }
            .into()
        };
        loop {
            // The stream first, then the state: nothing that happens in between is missed.
            let mut request = self
                .request(Method::GET, "/status/events")
                .header(reqwest::header::ACCEPT, "text/event-stream");
            if let Some(last) = &last_event_id {
                request = request.header("last-event-id", last);
            }
            let opened = match tokio::time::timeout_at(deadline, request.send()).await {
                Err(_) => return Err(timed_out(&watch)),
                Ok(result) => result.ok().filter(|r| r.status().is_success()),
            };
            match tokio::time::timeout_at(deadline, self.settled(&mut watch, &mut on_change)).await
            {
                Err(_) => return Err(timed_out(&watch)),
                Ok(result) => {
                    if let Some(done) = result? {
                        return done;
                    }
                }
            }
            let Some(response) = opened else {
                // No stream (too many open, or the portal between replicas): poll.
                let pause = tokio::time::Instant::now() + Duration::from_secs(2);
                if tokio::time::timeout_at(deadline, tokio::time::sleep_until(pause))
                    .await
                    .is_err()
                {
                    return Err(timed_out(&watch));
                }
                continue;
            };
            let mut events = eventsource_stream::Eventsource::eventsource(response.bytes_stream());
            loop {
                // Wake at the grace period's end too: a claim still Failed then ends the wait.
                let wake = watch
                    .failed_since
                    .map_or(deadline, |since| deadline.min(since + grace));
                let look = match tokio::time::timeout_at(wake, events.next()).await {
                    Err(_) if wake < deadline => true,
                    Err(_) => return Err(timed_out(&watch)),
                    // The stream ended (a replica stopping) or broke: reconnect.
                    Ok(None | Some(Err(_))) => break,
                    Ok(Some(Ok(event))) => {
                        if !event.id.is_empty() {
                            last_event_id = Some(event.id.clone());
                        }
                        let message: Value =
                            serde_json::from_str(&event.data).unwrap_or(Value::Null);
                        let ours = message["request_id"].as_str() == Some(id);
                        match event.event.as_str() {
                            "claim" | "ledger" => ours,
                            "reset" | "cluster" => true,
                            _ => false,
                        }
                    }
                };
                if look {
                    match tokio::time::timeout_at(
                        deadline,
                        self.settled(&mut watch, &mut on_change),
                    )
                    .await
                    {
                        Err(_) => return Err(timed_out(&watch)),
                        Ok(result) => {
                            if let Some(done) = result? {
                                return done;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reads the request and its live status: `Some` when it is over either way.
    async fn settled(
        &self,
        watch: &mut Watch<'_>,
        on_change: &mut impl FnMut(&str),
    ) -> anyhow::Result<Option<anyhow::Result<()>>> {
        use app::domain::HealthState;
        use app::requests::Stage;
        let id = watch.id;
        let detail: app::requests::RequestDetail =
            self.get(&format!("/requests/{id}"), &[]).await?;
        let status: app::status::RequestStatus =
            self.get(&format!("/requests/{id}/status"), &[]).await?;
        let stage = detail.summary.stage;
        let live = status.live.as_ref();
        let words = match live {
            Some(live) => format!(
                "{}; in the cluster: {}",
                stage.label(),
                app::status::health_words(&live.health)
            ),
            None => stage.label().to_owned(),
        };
        if words != watch.last {
            on_change(&words);
            watch.last = words;
        }
        if live.is_some_and(|l| l.health.state == HealthState::Ready) || stage == Stage::Ready {
            return Ok(Some(Ok(())));
        }
        let cause = || {
            live.map(app::status::LiveStatus::root_cause)
                .filter(|c| !c.is_empty())
                .or_else(|| detail.events.iter().rev().find_map(|e| e.message.clone()))
                .unwrap_or_else(|| "no reason given".to_owned())
        };
        let failed = |what: String| -> anyhow::Result<Option<anyhow::Result<()>>> {
            Ok(Some(Err(Exit {
                code: code::FAILED,
                message: format!("request {id} {what}: {}", cause()),
            }
            .into())))
        };
        // Over for good: refused in Git, rejected, withdrawn.
        if matches!(stage, Stage::Failed | Stage::Rejected | Stage::Closed) {
            return failed(stage.label().to_lowercase());
        }
        // Nothing will ever report Ready where no cluster is followed.
        if status.cluster.is_none()
            && matches!(stage, Stage::Committed | Stage::Merged | Stage::Unchanged)
        {
            return Ok(Some(Err(anyhow!(
                "request {id} is {}, but Slipway follows no cluster for {}: it cannot tell when the claim is Ready{}",
                stage.label().to_lowercase(),
                detail.summary.environment,
                status.note.map(|n| format!(" ({n})")).unwrap_or_default()
            ))));
        }
        // Failed in its cluster: over once it has stayed so for the grace period.
        if live.is_some_and(|l| l.health.state == HealthState::Failed) {
            let since = *watch
                .failed_since
                .get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= watch.grace {
                return failed("failed in its cluster".to_owned());
            }
        } else {
            watch.failed_since = None;
        }
        Ok(None)
    }
}

/// What `--wait` has seen of one request.
struct Watch<'a> {
    id: &'a str,
    last: String,
    failed_since: Option<tokio::time::Instant>,
    grace: Duration,
}
