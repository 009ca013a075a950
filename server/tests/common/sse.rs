//! Reads `/api/status/events` as a browser's EventSource would: one request, a body that
//! never ends, events separated by blank lines.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use super::TestApp;

/// One Server-Sent Event.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// An open stream.
pub struct SseStream {
    body: Body,
    buffer: String,
}

impl SseStream {
    /// Opens the stream as the holder of `cookie`, optionally resuming after `last_event_id`.
    pub async fn open(app: &TestApp, cookie: &str, last_event_id: Option<&str>) -> Self {
        match Self::try_open(app, cookie, last_event_id).await {
            Ok(stream) => stream,
            Err(refused) => panic!("stream refused: {} {}", refused.status, refused.body),
        }
    }

    /// Like [`SseStream::open`], but a refusal is returned, not a panic.
    pub async fn try_open(
        app: &TestApp,
        cookie: &str,
        last_event_id: Option<&str>,
    ) -> Result<Self, super::TestResponse> {
        Self::try_open_at(
            app,
            "/api/status/events",
            (header::COOKIE, cookie),
            last_event_id,
        )
        .await
    }

    /// Opens the REST API's stream with an API token, as the `slipway` client does.
    pub async fn open_with_token(app: &TestApp, token: &str) -> Self {
        let bearer = format!("Bearer {token}");
        match Self::try_open_at(
            app,
            "/api/v1/status/events",
            (header::AUTHORIZATION, &bearer),
            None,
        )
        .await
        {
            Ok(stream) => stream,
            Err(refused) => panic!("stream refused: {} {}", refused.status, refused.body),
        }
    }

    async fn try_open_at(
        app: &TestApp,
        path: &str,
        (name, value): (header::HeaderName, &str),
        last_event_id: Option<&str>,
    ) -> Result<Self, super::TestResponse> {
        let mut request = Request::get(path)
            .header(name, value)
            .header(header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let mut request = request.body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                40_000,
            ))));
        let response = slipway::http::router(app.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            return Err(super::TestResponse::read(response).await);
        }
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        Ok(SseStream {
            body: response.into_body(),
            buffer: String::new(),
        })
    }

    /// Whether the server ends the stream within `wait` (events before the end are skipped).
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return false,
                Ok(None) => return true,
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.expect("stream frame").into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    /// The next event (comments skipped), or `None` when none comes within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
                continue;
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??;
            if let Ok(data) = frame.expect("stream frame").into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }

    /// Events until `done` holds for one (returned with all before it), within `wait`.
    pub async fn until(
        &mut self,
        wait: Duration,
        done: impl Fn(&SseEvent) -> bool,
    ) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(event) = self.next(left).await else {
                panic!("no matching event within {wait:?}; saw {seen:#?}");
            };
            let matched = done(&event);
            seen.push(event);
            if matched {
                return seen;
            }
        }
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let mut id = None;
    let mut event = "message".to_owned();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    if data.is_empty() {
        return None;
    }
    Some(SseEvent {
        id,
        event,
        data: serde_json::from_str(&data).expect("JSON data"),
    })
}
