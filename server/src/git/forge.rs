//! Pull requests on a forge: GitHub, GitLab (merge requests) and Gitea, behind one trait,
//! and the verification of their webhooks.
//!
//! ```text
//!  writer ──push slipway/<request-id>──▶ remote ──Forge::open──▶ PR (pr_opened)
//!  webhook (signature checked) ─┐
//!  poller (every N s)  ─────────┴─▶ Forge::get(number) ──▶ merged (sha) | closed
//! ```
//! A webhook only says *which* pull request changed; its state is always read back from the
//! forge's API, so a replayed or reordered delivery cannot record a wrong outcome.

use async_trait::async_trait;
use hmac::Mac as _;
use serde_json::{Value, json};

use crate::config::{Deadlines, ForgeKind, ForgeSettings};

/// Errors talking to a forge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The forge could not be reached.
    #[error("the forge cannot be reached: {0}")]
    Unreachable(String),
    /// The forge refused the call (status and its message).
    #[error("the forge refused the call ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("unexpected answer from the forge: {0}")]
    Protocol(String),
    /// The token could not be read.
    #[error("the forge token cannot be read: {0}")]
    Token(std::io::Error),
}

/// This module's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A pull request to open.
#[derive(Clone, Debug)]
pub struct NewPull<'a> {
    /// Source branch (`slipway/<request-id>`).
    pub branch: &'a str,
    /// Target branch.
    pub base: &'a str,
    /// Title.
    pub title: &'a str,
    /// Description (Markdown).
    pub body: &'a str,
}

/// A pull request's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullState {
    /// Waiting for review.
    Open,
    /// Merged, as this commit in the target branch.
    Merged {
        /// Merge (or squash) commit.
        sha: String,
    },
    /// Closed without merging.
    Closed,
}

/// A pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pull {
    /// Number (GitHub, Gitea) or iid (GitLab).
    pub number: i64,
    /// Web address.
    pub url: String,
    /// State.
    pub state: PullState,
}

/// What a verified webhook delivery is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookEvent {
    /// The pull request's number.
    pub number: i64,
    /// Its source branch.
    pub branch: String,
}

/// Why a webhook delivery was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No webhook secret is configured: deliveries are not accepted.
    #[error("webhooks are not configured")]
    NotConfigured,
    /// Signature or token missing or wrong.
    #[error("the delivery's signature does not match")]
    BadSignature,
    /// Signed, but not about a pull request.
    #[error("not a pull request event")]
    Ignored,
}

/// A forge's pull-request API.
#[async_trait]
pub trait Forge: Send + Sync + 'static {
    /// Opens a pull request, or returns the open one from the same branch (a retried job).
    async fn open(&self, pull: &NewPull<'_>) -> Result<Pull>;
    /// Reads a pull request's state.
    async fn get(&self, number: i64) -> Result<Pull>;
    /// Checks a webhook delivery and says which pull request it is about.
    fn verify_hook(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<HookEvent, HookError>;
}

/// The forge client for `settings`; every call ends within the deadlines (a forge that
/// accepts the connection and never answers is "unreachable", like a Git remote).
pub fn client(settings: ForgeSettings, deadlines: Deadlines) -> std::sync::Arc<dyn Forge> {
    std::sync::Arc::new(Http {
        http: reqwest::Client::builder()
            .connect_timeout(deadlines.stall)
            .timeout(deadlines.total)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with static settings builds"),
        settings,
    })
}

struct Http {
    http: reqwest::Client,
    settings: ForgeSettings,
}

impl Http {
    fn base(&self) -> String {
        let root = self.settings.api_url.trim_end_matches('/');
        let project = &self.settings.project;
        match self.settings.kind {
            ForgeKind::GitHub => format!("{root}/repos/{project}"),
            ForgeKind::GitLab => format!(
                "{root}/api/v4/projects/{}",
                url::form_urlencoded::byte_serialize(project.as_bytes()).collect::<String>()
            ),
            ForgeKind::Gitea => format!("{root}/api/v1/repos/{project}"),
        }
    }

    fn pulls(&self) -> String {
        match self.settings.kind {
            ForgeKind::GitLab => format!("{}/merge_requests", self.base()),
            ForgeKind::GitHub | ForgeKind::Gitea => format!("{}/pulls", self.base()),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let token = self.settings.token.read().map_err(Error::Token)?;
        let mut request = self.http.request(method, url);
        request = match self.settings.kind {
            ForgeKind::GitHub => request
                .header("Authorization", format!("Bearer {token}"))
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            ForgeKind::GitLab => request.header("PRIVATE-TOKEN", token),
            ForgeKind::Gitea => request.header("Authorization", format!("token {token}")),
        };
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Unreachable(describe(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::Unreachable(describe(&e)))?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    fn refused(status: u16, value: &Value) -> Error {
        let message = value
            .get("message")
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        Error::Refused { status, message }
    }

    fn parse(&self, value: &Value) -> Result<Pull> {
        let missing = |field: &str| Error::Protocol(format!("no {field} in the pull request"));
        let (number, url) = match self.settings.kind {
            ForgeKind::GitLab => (value.get("iid"), value.get("web_url")),
            _ => (value.get("number"), value.get("html_url")),
        };
        let number = number
            .and_then(Value::as_i64)
            .ok_or_else(|| missing("number"))?;
        let url = url
            .and_then(Value::as_str)
            .ok_or_else(|| missing("web address"))?;
        let sha = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| value.get(*k).and_then(Value::as_str))
                .map(str::to_owned)
        };
        let state = match self.settings.kind {
            ForgeKind::GitLab => match value.get("state").and_then(Value::as_str) {
                Some("merged") => PullState::Merged {
                    sha: sha(&["merge_commit_sha", "squash_commit_sha", "sha"])
                        .ok_or_else(|| missing("merge commit"))?,
                },
                Some("closed") => PullState::Closed,
                _ => PullState::Open,
            },
            _ => {
                if value.get("merged").and_then(Value::as_bool) == Some(true) {
                    PullState::Merged {
                        sha: sha(&["merge_commit_sha"]).ok_or_else(|| missing("merge commit"))?,
                    }
                } else if value.get("state").and_then(Value::as_str) == Some("closed") {
                    PullState::Closed
                } else {
                    PullState::Open
                }
            }
        };
        Ok(Pull {
            number,
            url: url.to_owned(),
            state,
        })
    }

    /// The open pull request from `branch`, if any.
    async fn find_open(&self, branch: &str) -> Result<Option<Pull>> {
        let owner = self.settings.project.split('/').next().unwrap_or_default();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let url = match self.settings.kind {
            ForgeKind::GitHub => format!(
                "{}?head={}&state=open",
                self.pulls(),
                enc(&format!("{owner}:{branch}"))
            ),
            ForgeKind::GitLab => format!(
                "{}?source_branch={}&state=opened",
                self.pulls(),
                enc(branch)
            ),
            ForgeKind::Gitea => format!("{}?state=open&limit=50", self.pulls()),
        };
        let (status, value) = self.call(reqwest::Method::GET, &url, None).await?;
        if status != 200 {
            return Err(Self::refused(status, &value));
        }
        let items = value.as_array().cloned().unwrap_or_default();
        for item in &items {
            let head = match self.settings.kind {
                ForgeKind::GitLab => item.get("source_branch").and_then(Value::as_str),
                _ => item.pointer("/head/ref").and_then(Value::as_str),
            };
            if head == Some(branch) {
                return self.parse(item).map(Some);
            }
        }
        Ok(None)
    }
}

/// What failed, without the URL reqwest's own message would carry.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection refused or host unreachable".into()
    } else {
        "the connection failed".into()
    }
}

#[async_trait]
impl Forge for Http {
    async fn open(&self, pull: &NewPull<'_>) -> Result<Pull> {
        let body = match self.settings.kind {
            ForgeKind::GitLab => json!({
                "source_branch": pull.branch, "target_branch": pull.base,
                "title": pull.title, "description": pull.body,
                "remove_source_branch": true,
            }),
            _ => {
                json!({"head": pull.branch, "base": pull.base, "title": pull.title, "body": pull.body})
            }
        };
        let (status, value) = self
            .call(reqwest::Method::POST, &self.pulls(), Some(body))
            .await?;
        match status {
            200 | 201 => self.parse(&value),
            // GitHub answers 422 "A pull request already exists", GitLab and Gitea 409.
            409 | 422 => match self.find_open(pull.branch).await? {
                Some(existing) => Ok(existing),
                None => Err(Self::refused(status, &value)),
            },
            _ => Err(Self::refused(status, &value)),
        }
    }

    async fn get(&self, number: i64) -> Result<Pull> {
        let url = format!("{}/{number}", self.pulls());
        let (status, value) = self.call(reqwest::Method::GET, &url, None).await?;
        if status != 200 {
            return Err(Self::refused(status, &value));
        }
        self.parse(&value)
    }

    fn verify_hook(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<HookEvent, HookError> {
        let secret = self
            .settings
            .webhook_secret
            .as_ref()
            .ok_or(HookError::NotConfigured)?
            .read()
            .map_err(|_| HookError::NotConfigured)?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signed = match self.settings.kind {
            ForgeKind::GitHub => header("x-hub-signature-256")
                .and_then(|s| s.strip_prefix("sha256="))
                .is_some_and(|sig| hmac_matches(&secret, body, sig)),
            ForgeKind::Gitea => header("x-gitea-signature")
                .or_else(|| header("x-forgejo-signature"))
                .is_some_and(|sig| hmac_matches(&secret, body, sig)),
            ForgeKind::GitLab => header("x-gitlab-token").is_some_and(|token| {
                use subtle::ConstantTimeEq as _;
                bool::from(token.as_bytes().ct_eq(secret.as_bytes()))
            }),
        };
        if !signed {
            return Err(HookError::BadSignature);
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| HookError::Ignored)?;
        let (number, branch) = match self.settings.kind {
            ForgeKind::GitLab => (
                value.pointer("/object_attributes/iid"),
                value.pointer("/object_attributes/source_branch"),
            ),
            _ => (
                value.pointer("/pull_request/number"),
                value.pointer("/pull_request/head/ref"),
            ),
        };
        match (
            number.and_then(Value::as_i64),
            branch.and_then(Value::as_str),
        ) {
            (Some(number), Some(branch)) => Ok(HookEvent {
                number,
                branch: branch.to_owned(),
            }),
            _ => Err(HookError::Ignored),
        }
    }
}

/// HMAC-SHA256 of `body` with `secret`, compared in constant time with hex `signature`.
fn hmac_matches(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex_decode(signature.trim()) else {
        return false;
    };
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    if !s.len().is_multiple_of(2) {
        return Err(());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).ok_or(())?, 16).map_err(|_| ()))
        .collect()
}

/// Signs `body` as GitHub and Gitea do (hex HMAC-SHA256), for tests and tools.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::config::Secret;

    fn forge(kind: ForgeKind) -> std::sync::Arc<dyn Forge> {
        client(
            ForgeSettings {
                kind,
                api_url: "http://127.0.0.1:9".into(),
                project: "acme/gitops".into(),
                token: Secret::Value("t".into()),
                webhook_secret: Some(Secret::Value("hook-secret".into())),
                poll: Duration::from_secs(60),
            },
            Deadlines {
                total: Duration::from_secs(5),
                stall: Duration::from_secs(5),
            },
        )
    }

    #[test]
    fn github_and_gitea_deliveries_are_accepted_only_with_the_right_signature() {
        let body =
            br#"{"action":"closed","pull_request":{"number":7,"head":{"ref":"slipway/abc"}}}"#;
        for (kind, header, prefix) in [
            (ForgeKind::GitHub, "x-hub-signature-256", "sha256="),
            (ForgeKind::Gitea, "x-gitea-signature", ""),
        ] {
            let forge = forge(kind);
            let mut headers = http::HeaderMap::new();
            let good = format!("{prefix}{}", sign("hook-secret", body));
            headers.insert(header, good.parse().unwrap());
            assert_eq!(
                forge.verify_hook(&headers, body),
                Ok(HookEvent {
                    number: 7,
                    branch: "slipway/abc".into()
                })
            );
            let forged = format!("{prefix}{}", sign("guess", body));
            headers.insert(header, forged.parse().unwrap());
            assert_eq!(
                forge.verify_hook(&headers, body),
                Err(HookError::BadSignature)
            );
            let mut tampered = body.to_vec();
            tampered[20] = b'X';
            headers.insert(header, good.parse().unwrap());
            assert_eq!(
                forge.verify_hook(&headers, &tampered),
                Err(HookError::BadSignature)
            );
            assert_eq!(
                forge.verify_hook(&http::HeaderMap::new(), body),
                Err(HookError::BadSignature)
            );
        }
    }

    #[test]
    fn gitlab_deliveries_need_the_secret_token() {
        let body = br#"{"object_kind":"merge_request","object_attributes":{"iid":3,"source_branch":"slipway/x"}}"#;
        let forge = forge(ForgeKind::GitLab);
        let mut headers = http::HeaderMap::new();
        headers.insert("x-gitlab-token", "hook-secret".parse().unwrap());
        assert_eq!(
            forge.verify_hook(&headers, body),
            Ok(HookEvent {
                number: 3,
                branch: "slipway/x".into()
            })
        );
        headers.insert("x-gitlab-token", "hook-secreT".parse().unwrap());
        assert_eq!(
            forge.verify_hook(&headers, body),
            Err(HookError::BadSignature)
        );
    }
}
