//! A forge test double: the pull-request endpoints of the GitHub REST v3, GitLab v4 and
//! Gitea v1 APIs the portal calls, over HTTP on a loopback port, with each API's status
//! codes, error bodies and authentication headers. It shares the bare repository the portal
//! pushes to, so a pull request can only be opened for a branch that was really pushed, and
//! a merge is a real merge commit on the target branch. No forge with a pull-request API can
//! be installed on these machines (see shared/notes/test-infra.md); this is why it exists.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use slipway::config::ForgeKind;

/// One pull request as the double keeps it.
#[derive(Clone, Debug)]
pub struct PullRecord {
    pub number: i64,
    pub branch: String,
    pub base: String,
    pub title: String,
    pub body: String,
    /// `open`, `closed` or `merged`.
    pub state: String,
    pub merge_sha: Option<String>,
}

#[derive(Clone)]
struct Shared {
    kind: ForgeKind,
    bare: PathBuf,
    project: String,
    token: String,
    base_url: Arc<Mutex<String>>,
    pulls: Arc<Mutex<Vec<PullRecord>>>,
}

/// A running double; stops when dropped.
pub struct ForgeDouble {
    shared: Shared,
    url: String,
    secret: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ForgeDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ForgeDouble {
    /// Serves `project` (`owner/repo`) backed by the bare repository `bare`, accepting
    /// `token`; webhooks it produces are signed with `secret`.
    pub async fn start(
        kind: ForgeKind,
        bare: PathBuf,
        project: &str,
        token: &str,
        secret: &str,
    ) -> Self {
        let shared = Shared {
            kind,
            bare,
            project: project.to_owned(),
            token: token.to_owned(),
            base_url: Arc::default(),
            pulls: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        *shared.base_url.lock().unwrap() = url.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        ForgeDouble {
            shared,
            url,
            secret: secret.to_owned(),
            task,
        }
    }

    /// The API root to configure the portal with.
    pub fn api_url(&self) -> String {
        self.url.clone()
    }

    /// Every pull request, in creation order.
    pub fn pulls(&self) -> Vec<PullRecord> {
        self.shared.pulls.lock().unwrap().clone()
    }

    /// Opens a pull request as a person would in the forge's UI (no API call).
    pub fn open_by_hand(&self, branch: &str, base: &str) -> i64 {
        let mut pulls = self.shared.pulls.lock().unwrap();
        let number = pulls.len() as i64 + 1;
        pulls.push(PullRecord {
            number,
            branch: branch.to_owned(),
            base: base.to_owned(),
            title: "opened by hand".into(),
            body: String::new(),
            state: "open".into(),
            merge_sha: None,
        });
        number
    }

    /// A reviewer merges pull request `number`: a real merge commit on its base branch.
    pub fn merge(&self, number: i64) -> String {
        let mut pulls = self.shared.pulls.lock().unwrap();
        let pull = pulls.iter_mut().find(|p| p.number == number).unwrap();
        let git = |args: &[&str]| -> String {
            let out = Command::new("git")
                .arg("--git-dir")
                .arg(&self.shared.bare)
                .args(args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let base = git(&["rev-parse", &format!("refs/heads/{}", pull.base)]);
        let head = git(&["rev-parse", &format!("refs/heads/{}", pull.branch)]);
        let tree = git(&["merge-tree", "--write-tree", &base, &head]);
        let message = format!("Merge pull request #{number} from {}", pull.branch);
        let sha = git(&[
            "-c",
            "user.name=Rita Reviewer",
            "-c",
            "user.email=rita@example.com",
            "commit-tree",
            &tree,
            "-p",
            &base,
            "-p",
            &head,
            "-m",
            &message,
        ]);
        git(&[
            "update-ref",
            &format!("refs/heads/{}", pull.base),
            &sha,
            &base,
        ]);
        pull.state = "merged".into();
        pull.merge_sha = Some(sha.clone());
        sha
    }

    /// A reviewer closes pull request `number` without merging.
    pub fn close(&self, number: i64) {
        let mut pulls = self.shared.pulls.lock().unwrap();
        pulls.iter_mut().find(|p| p.number == number).unwrap().state = "closed".into();
    }

    /// The webhook delivery the forge would send about pull request `number`: headers and
    /// body, signed (or carrying the token) as the real forge does.
    pub fn delivery(&self, number: i64) -> (Vec<(&'static str, String)>, Vec<u8>) {
        self.delivery_signed_with(number, &self.secret)
    }

    /// The same delivery signed with another secret (a forgery).
    pub fn delivery_signed_with(
        &self,
        number: i64,
        secret: &str,
    ) -> (Vec<(&'static str, String)>, Vec<u8>) {
        let pull = self
            .pulls()
            .into_iter()
            .find(|p| p.number == number)
            .unwrap();
        let body = match self.shared.kind {
            ForgeKind::GitLab => json!({
                "object_kind": "merge_request",
                "object_attributes": {"iid": number, "source_branch": pull.branch, "state": pull.state, "action": "merge"},
            }),
            _ => json!({
                "action": "closed",
                "number": number,
                "pull_request": {"number": number, "head": {"ref": pull.branch}, "merged": pull.state == "merged"},
            }),
        }
        .to_string()
        .into_bytes();
        let signature = slipway::git::forge::sign(secret, &body);
        let headers = match self.shared.kind {
            ForgeKind::GitHub => vec![
                ("x-github-event", "pull_request".to_owned()),
                ("x-hub-signature-256", format!("sha256={signature}")),
            ],
            ForgeKind::Gitea => vec![
                ("x-gitea-event", "pull_request".to_owned()),
                ("x-gitea-signature", signature),
            ],
            ForgeKind::GitLab => vec![
                ("x-gitlab-event", "Merge Request Hook".to_owned()),
                ("x-gitlab-token", secret.to_owned()),
            ],
        };
        (headers, body)
    }
}

fn json_response(status: StatusCode, value: Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn branch_exists(shared: &Shared, branch: &str) -> bool {
    Command::new("git")
        .arg("--git-dir")
        .arg(&shared.bare)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .output()
        .unwrap()
        .status
        .success()
}

fn render(shared: &Shared, pull: &PullRecord) -> Value {
    let base = shared.base_url.lock().unwrap().clone();
    match shared.kind {
        ForgeKind::GitLab => json!({
            "iid": pull.number, "id": 1000 + pull.number,
            "web_url": format!("{base}/{}/-/merge_requests/{}", shared.project, pull.number),
            "state": if pull.state == "open" { "opened" } else { pull.state.as_str() },
            "source_branch": pull.branch, "target_branch": pull.base, "title": pull.title,
            "merge_commit_sha": pull.merge_sha, "squash_commit_sha": null,
        }),
        _ => json!({
            "number": pull.number, "id": 1000 + pull.number,
            "html_url": format!("{base}/{}/pull/{}", shared.project, pull.number),
            "state": if pull.state == "open" { "open" } else { "closed" },
            "merged": pull.state == "merged",
            "merge_commit_sha": pull.merge_sha,
            "head": {"ref": pull.branch}, "base": {"ref": pull.base}, "title": pull.title,
        }),
    }
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path = parts.uri.path().to_owned();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    if !authorized(&shared, &parts.headers) {
        return match shared.kind {
            ForgeKind::GitHub => json_response(
                StatusCode::UNAUTHORIZED,
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
            ),
            ForgeKind::GitLab => json_response(
                StatusCode::UNAUTHORIZED,
                json!({"message": "401 Unauthorized"}),
            ),
            ForgeKind::Gitea => json_response(
                StatusCode::UNAUTHORIZED,
                json!({"message": "token is required"}),
            ),
        };
    }
    let encoded =
        url::form_urlencoded::byte_serialize(shared.project.as_bytes()).collect::<String>();
    let prefix = match shared.kind {
        ForgeKind::GitHub => format!("/repos/{}/pulls", shared.project),
        ForgeKind::GitLab => format!("/api/v4/projects/{encoded}/merge_requests"),
        ForgeKind::Gitea => format!("/api/v1/repos/{}/pulls", shared.project),
    };
    let Some(rest) = path.strip_prefix(&prefix) else {
        return json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    };
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match (&parts.method, rest) {
        (&Method::POST, "") => {
            let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let field = |names: [&str; 2]| {
                let name = if shared.kind == ForgeKind::GitLab {
                    names[1]
                } else {
                    names[0]
                };
                input
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let (branch, base) = (
                field(["head", "source_branch"]),
                field(["base", "target_branch"]),
            );
            let title = input
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let text = field(["body", "description"]);
            if !branch_exists(&shared, &branch) || !branch_exists(&shared, &base) {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}),
                );
            }
            let mut pulls = shared.pulls.lock().unwrap();
            if let Some(existing) = pulls
                .iter()
                .find(|p| p.branch == branch && p.state == "open")
            {
                return match shared.kind {
                    ForgeKind::GitHub => json_response(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                            "message": format!("A pull request already exists for {}:{branch}.", shared.project.split('/').next().unwrap())}],
                            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"}),
                    ),
                    ForgeKind::GitLab => json_response(
                        StatusCode::CONFLICT,
                        json!({"message": [format!("Another open merge request already exists for this source branch: !{}", existing.number)]}),
                    ),
                    ForgeKind::Gitea => json_response(
                        StatusCode::CONFLICT,
                        json!({"message": format!("pull request already exists for these targets [id: {}]", existing.number)}),
                    ),
                };
            }
            let record = PullRecord {
                number: pulls.len() as i64 + 1,
                branch,
                base,
                title,
                body: text,
                state: "open".into(),
                merge_sha: None,
            };
            pulls.push(record.clone());
            json_response(StatusCode::CREATED, render(&shared, &record))
        }
        (&Method::GET, "") => {
            let pulls = shared.pulls.lock().unwrap();
            let wanted_state = param("state");
            let items: Vec<Value> = pulls
                .iter()
                .filter(|p| match (shared.kind, wanted_state.as_deref()) {
                    (_, None | Some("all")) => true,
                    (ForgeKind::GitLab, Some("opened")) | (_, Some("open")) => p.state == "open",
                    (_, Some(other)) => p.state == other,
                })
                .filter(|p| match shared.kind {
                    ForgeKind::GitHub => param("head")
                        .is_none_or(|h| h.split_once(':').map(|x| x.1) == Some(&p.branch)),
                    ForgeKind::GitLab => param("source_branch").is_none_or(|b| b == p.branch),
                    ForgeKind::Gitea => true,
                })
                .map(|p| render(&shared, p))
                .collect();
            json_response(StatusCode::OK, Value::Array(items))
        }
        (&Method::GET, number) => {
            let number: i64 = number.trim_start_matches('/').parse().unwrap_or(-1);
            let pulls = shared.pulls.lock().unwrap();
            match pulls.iter().find(|p| p.number == number) {
                Some(p) => json_response(StatusCode::OK, render(&shared, p)),
                None => json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
            }
        }
        _ => json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    }
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    match shared.kind {
        ForgeKind::GitHub => header("authorization") == format!("Bearer {}", shared.token),
        ForgeKind::GitLab => header("private-token") == shared.token,
        ForgeKind::Gitea => header("authorization") == format!("token {}", shared.token),
    }
}
