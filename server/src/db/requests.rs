//! Requests: what each submission asked for, the file it writes, and its latest stage (a
//! cache of its ledger for lists and filters). The ledger is [`super::ledger`]; the Git
//! outbox is [`super::outbox`].
//!
//! ```text
//!  submit ──one transaction──▶ requests + ledger(submitted) + git_jobs(pending) + audit
//!                              └─ a second change to the same file still pending: Conflict
//! ```

use app::requests::{Action, EventKind, Stage, WriteMode};
use sqlx::Row as _;

use super::audit::{AuditOutcome, NewAuditEntry, insert_entry};
use super::ledger::{self, Appended, Detail};
use super::{Db, Error, Result, now_ms};

/// A request to store.
#[derive(Clone, Debug)]
pub struct NewRequest<'a> {
    /// Id (UUID v7), chosen before rendering so the manifest carries it.
    pub id: &'a str,
    /// What it does.
    pub action: Action,
    /// Offering id.
    pub offering: &'a str,
    /// Offering version.
    pub offering_version: &'a str,
    /// Claim apiVersion.
    pub api_version: &'a str,
    /// Claim kind.
    pub kind: &'a str,
    /// Claim name.
    pub name: &'a str,
    /// Team.
    pub team: &'a str,
    /// Environment.
    pub environment: &'a str,
    /// Requesting user's id, name and e-mail.
    pub requested_by: (&'a str, &'a str, &'a str),
    /// The form as JSON.
    pub body: &'a str,
    /// Repository key (the environment's remote and branch).
    pub repository: &'a str,
    /// File path.
    pub path: &'a str,
    /// File content.
    pub content: &'a str,
    /// The environment's write mode at submission.
    pub write_mode: WriteMode,
    /// The cluster-scoped object a create names, reserved across teams.
    pub cluster_name: Option<&'a ClusterName>,
    /// A create's limit: at most this many live claims of the offering for the team in the
    /// environment, and the policy that says so.
    pub max_claims: Option<(u32, &'a str)>,
    /// The approvals a policy requires (JSON, see [`crate::policy::Approval`]) and how they
    /// read; `None`: straight to the Git writer.
    pub approvals: Option<(&'a str, &'a str)>,
    /// The request this one promotes (the same claim in the environment before).
    pub promoted_from: Option<&'a str>,
    /// The idempotency key (its user's) and the claim under which this submission fills it
    /// in, in its transaction.
    pub idempotency_key: Option<(&'a str, &'a str)>,
}

/// The key of a cluster-scoped object: its cluster (see
/// [`crate::environment::Environment::cluster_key`]), API group, kind and name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterName {
    /// The cluster it lives in.
    pub cluster: String,
    /// API group (`""` for the core group).
    pub api_group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// A stored request.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestRow {
    /// Id.
    pub id: String,
    /// What it does.
    #[sqlx(try_from = "String")]
    pub action: Action,
    /// Offering id.
    pub offering: String,
    /// Offering version.
    pub offering_version: String,
    /// Claim apiVersion.
    pub api_version: String,
    /// Claim kind.
    pub kind: String,
    /// Claim name.
    pub name: String,
    /// Team.
    pub team: String,
    /// Environment.
    pub environment: String,
    /// User id.
    pub requested_by: String,
    /// Name at submission.
    pub requester_name: String,
    /// E-mail at submission.
    pub requester_email: String,
    /// Form JSON.
    pub body: String,
    /// Repository key.
    pub repository: String,
    /// File path.
    pub path: String,
    /// File content.
    pub content: String,
    /// Direct or pull request.
    #[sqlx(try_from = "String")]
    pub write_mode: WriteMode,
    /// Latest stage.
    #[sqlx(try_from = "String")]
    pub state: Stage,
    /// Commit.
    pub commit_sha: Option<String>,
    /// Pull request number.
    pub pr_number: Option<i64>,
    /// Pull request address.
    pub pr_url: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// The request this one promotes.
    pub promoted_from: Option<String>,
}

impl RequestRow {
    /// The form's values.
    pub fn values(&self) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|b| b.get("values").cloned())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// What a list of requests shows of each: the columns of [`LISTED_COLUMNS`]. A page of the list
/// reads these only, not the form and file each request carries (SQLite copies every column
/// value it hands over).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedRequest {
    /// Id.
    pub id: String,
    /// What it does.
    #[sqlx(try_from = "String")]
    pub action: Action,
    /// Offering id.
    pub offering: String,
    /// Offering version.
    pub offering_version: String,
    /// Claim kind.
    pub kind: String,
    /// Claim name.
    pub name: String,
    /// Team.
    pub team: String,
    /// Environment.
    pub environment: String,
    /// Name at submission.
    pub requester_name: String,
    /// Latest stage.
    #[sqlx(try_from = "String")]
    pub state: Stage,
    /// Unix ms.
    pub created_at: i64,
}

impl RequestRow {
    /// What a list shows of this request (the same fields a list reads with [`list`]).
    pub fn listed(&self) -> ListedRequest {
        ListedRequest {
            id: self.id.clone(),
            action: self.action,
            offering: self.offering.clone(),
            offering_version: self.offering_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            team: self.team.clone(),
            environment: self.environment.clone(),
            requester_name: self.requester_name.clone(),
            state: self.state,
            created_at: self.created_at,
        }
    }
}

const LISTED_COLUMNS: &str = "r.id, r.action, r.offering, r.offering_version, r.kind, r.name, r.team, r.environment, r.requester_name, r.state, r.created_at";

pub(super) const REQUEST_COLUMNS: &str = "r.id, r.action, r.offering, r.offering_version, r.api_version, r.kind, r.name, r.team, r.environment, r.requested_by, r.requester_name, r.requester_email, r.body, r.repository, r.path, r.content, r.write_mode, r.state, r.commit_sha, r.pr_number, r.pr_url, r.created_at, r.updated_at, r.promoted_from";

/// Stages after which a request's change is in the branch (or was already there); the same
/// list as [`Stage::in_branch`], for queries.
const IN_BRANCH: &str = "('committed', 'merged', 'unchanged', 'synced', 'apply_failed', 'reconciling', 'ready', 'failing', 'deleted')";

/// The team of the newest request whose change to `path` in `repository` reached the branch:
/// who the file there belongs to, as far as Slipway wrote it.
pub async fn last_writer(db: &Db, repository: &str, path: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT team FROM requests WHERE repository = $1 AND path = $2 AND state IN {IN_BRANCH}
         ORDER BY created_at DESC, id DESC LIMIT 1"
    )))
    .bind(repository)
    .bind(path)
    .fetch_optional(db.pool())
    .await?)
}

/// Stores a submission: the request, its `submitted` event, its Git job and an audit entry,
/// all or nothing. A change to a file that another pending request of the same repository
/// still writes is refused with [`Error::Conflict`] naming that request (a unique index
/// decides, so two concurrent submissions cannot both pass).
pub async fn submit(
    db: &Db,
    new: &NewRequest<'_>,
    actor: &app::domain::CurrentUser,
) -> Result<Vec<Appended>> {
    let now = now_ms();
    let held = new.approvals.is_some();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO requests (id, action, offering, offering_version, api_version, kind, name, team, environment,
            requested_by, requester_name, requester_email, body, repository, path, content, write_mode, state,
            commit_sha, pr_number, pr_url, created_at, updated_at, approvals, cluster_name, promoted_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $19,
            NULL, NULL, NULL, $18, $18, $20, $21, $22)",
    )
    .bind(new.id)
    .bind(new.action.as_str())
    .bind(new.offering)
    .bind(new.offering_version)
    .bind(new.api_version)
    .bind(new.kind)
    .bind(new.name)
    .bind(new.team)
    .bind(new.environment)
    .bind(new.requested_by.0)
    .bind(new.requested_by.1)
    .bind(new.requested_by.2)
    .bind(new.body)
    .bind(new.repository)
    .bind(new.path)
    .bind(new.content)
    .bind(new.write_mode.as_str())
    .bind(now)
    .bind(if held { "awaiting_approval" } else { "submitted" })
    .bind(new.approvals.map(|(json, _)| json))
    .bind(
        new.cluster_name
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Refused(e.to_string()))?,
    )
    .bind(new.promoted_from)
    .execute(&mut *tx)
    .await?;
    let mut appended: Vec<Appended> = ledger::append(
        &mut tx,
        new.id,
        EventKind::Submitted,
        now,
        Detail {
            actor: Some(new.requested_by.0),
            ..Detail::default()
        },
    )
    .await?
    .into_iter()
    .collect();
    if let Some((_, needs)) = new.approvals {
        appended.extend(
            ledger::append(
                &mut tx,
                new.id,
                EventKind::AwaitingApproval,
                now,
                Detail {
                    message: Some(needs),
                    ..Detail::default()
                },
            )
            .await?,
        );
    }
    // A held job keeps its place as the one change on its way to the file, out of the
    // writer's sight until the last approval releases it.
    let queued = sqlx::query(
        "INSERT INTO git_jobs (request_id, repository, path, status, attempts, next_attempt_at, last_error, created_at)
         VALUES ($1, $2, $3, $5, 0, $4, NULL, $4)",
    )
    .bind(new.id)
    .bind(new.repository)
    .bind(new.path)
    .bind(now)
    .bind(if held { "held" } else { "pending" })
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(error)) = &queued
        && error.is_unique_violation()
    {
        drop(tx);
        let other = pending_for_path(db, new.repository, new.path)
            .await?
            .unwrap_or_default();
        return Err(Error::Conflict(other));
    }
    queued?;
    if let Some(key) = new.cluster_name {
        reserve(&mut tx, key, new.team, new.id).await?;
    }
    if let Some((max, policy)) = new.max_claims {
        let live: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM requests r
             WHERE r.team = $1 AND r.environment = $2 AND r.offering = $3 AND r.action = 'create'
               AND r.state NOT IN ('failed', 'closed', 'rejected')
               AND NOT EXISTS (SELECT 1 FROM requests d
                               WHERE d.repository = r.repository AND d.path = r.path
                                 AND d.action = 'delete' AND d.created_at >= r.created_at
                                 AND d.state IN {IN_BRANCH})"
        )))
        .bind(new.team)
        .bind(new.environment)
        .bind(new.offering)
        .fetch_one(&mut *tx)
        .await?;
        if live > i64::from(max) {
            return Err(Error::Refused(format!(
                "{} already has {} {} claim(s) in {}; the policy {policy} allows {max}.",
                new.team,
                live - 1,
                new.offering,
                new.environment
            )));
        }
    }
    if let Some(key) = new.idempotency_key {
        super::idempotency::fill(&mut tx, new.requested_by.0, key, new.id).await?;
    }
    let target = format!("{}/{}/{}", new.team, new.kind, new.name);
    insert_entry(
        &mut *tx,
        NewAuditEntry {
            actor: Some(actor),
            action: &format!("request.{}", new.action.as_str()),
            target: Some(&target),
            request_id: Some(new.id),
            outcome: AuditOutcome::Ok,
            detail: Some(&match new.promoted_from {
                Some(source) => format!(
                    "{} in {}, promoted from request {source}",
                    new.offering, new.environment
                ),
                None => format!("{} in {}", new.offering, new.environment),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(appended)
}

/// Takes the name of a cluster-scoped object for request `id` of `team`, inside its
/// transaction (a submission's, or a retry's). The holder's row is given up first when its
/// claim is no longer in Git's way: its create failed, its pull request closed or an approver
/// rejected it, or a delete of its file reached the branch since. A row the request holds
/// already is kept.
pub(super) async fn reserve(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: &ClusterName,
    team: &str,
    id: &str,
) -> Result<()> {
    let holder: Option<(String, String)> = sqlx::query_as(
        "SELECT request_id, team FROM cluster_names
         WHERE cluster = $1 AND api_group = $2 AND kind = $3 AND name = $4",
    )
    .bind(&key.cluster)
    .bind(&key.api_group)
    .bind(&key.kind)
    .bind(&key.name)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((request, holder_team)) = holder {
        if request == id {
            return Ok(());
        }
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM requests WHERE id = $1")
            .bind(&request)
            .fetch_optional(&mut **tx)
            .await?;
        let deletions: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM requests c JOIN requests d
               ON d.repository = c.repository AND d.path = c.path
             WHERE c.id = $1 AND d.action = 'delete'
               AND d.created_at >= c.created_at AND d.state IN {IN_BRANCH}"
        )))
        .bind(&request)
        .fetch_one(&mut **tx)
        .await?;
        let gone = matches!(
            state.as_deref(),
            None | Some("failed" | "closed" | "rejected")
        ) || deletions > 0;
        if !gone {
            return Err(Error::Taken {
                request,
                team: holder_team,
            });
        }
        sqlx::query(
            "DELETE FROM cluster_names
             WHERE cluster = $1 AND api_group = $2 AND kind = $3 AND name = $4 AND request_id = $5",
        )
        .bind(&key.cluster)
        .bind(&key.api_group)
        .bind(&key.kind)
        .bind(&key.name)
        .bind(&request)
        .execute(&mut **tx)
        .await?;
    }
    let taken = sqlx::query(
        "INSERT INTO cluster_names (cluster, api_group, kind, name, team, request_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.cluster)
    .bind(&key.api_group)
    .bind(&key.kind)
    .bind(&key.name)
    .bind(team)
    .bind(id)
    .execute(&mut **tx)
    .await;
    match taken {
        // Another transaction took it between the look and the insert.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(Error::Taken {
            request: String::new(),
            team: String::new(),
        }),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// One request.
pub async fn get(db: &Db, id: &str) -> Result<Option<RequestRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}

/// A team's requests for the claim `name` of `offering` in every environment, newest first
/// (at most `limit`): the same resource along its promotion path.
pub async fn claim_everywhere(
    db: &Db,
    team: &str,
    offering: &str,
    name: &str,
    limit: i64,
) -> Result<Vec<RequestRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r
         WHERE r.team = $1 AND r.name = $2 AND r.offering = $3
         ORDER BY r.id DESC LIMIT $4"
    )))
    .bind(team)
    .bind(name)
    .bind(offering)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// The requests promoted from request `id`, oldest first.
pub async fn promoted_from(db: &Db, id: &str) -> Result<Vec<RequestRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r WHERE r.promoted_from = $1 ORDER BY r.id"
    )))
    .bind(id)
    .fetch_all(db.pool())
    .await?)
}

/// Stores a refused promotion of `source` to `target` (one row per refusing gate, all with
/// the attempt's id) and its audit entry. The same refusal again within a minute is not
/// stored twice: a client that keeps trying does not fill the table or the audit log.
pub async fn refuse_promotion(
    db: &Db,
    source: &RequestRow,
    target: &str,
    gates: &[(&str, &str)],
    actor: &app::domain::CurrentUser,
) -> Result<()> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let recent: Option<(String,)> = sqlx::query_as(
        "SELECT attempt FROM promotion_refusals
         WHERE source_request = $1 AND target_environment = $2 AND actor = $3 AND at > $4 LIMIT 1",
    )
    .bind(&source.id)
    .bind(target)
    .bind(&actor.id)
    .bind(now - 60_000)
    .fetch_optional(&mut *tx)
    .await?;
    if recent.is_some() {
        return Ok(());
    }
    // Dashboards computed before this refusal no longer count every one.
    sqlx::query("UPDATE metrics_revision SET n = n + 1")
        .execute(&mut *tx)
        .await?;
    let attempt = super::new_id();
    for (gate, detail) in gates {
        sqlx::query(
            "INSERT INTO promotion_refusals (id, attempt, at, source_request, team, offering,
                source_environment, target_environment, gate, detail, actor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(super::new_id())
        .bind(&attempt)
        .bind(now)
        .bind(&source.id)
        .bind(&source.team)
        .bind(&source.offering)
        .bind(&source.environment)
        .bind(target)
        .bind(gate)
        .bind(detail)
        .bind(&actor.id)
        .execute(&mut *tx)
        .await?;
    }
    let subject = format!("{}/{}/{}", source.team, source.kind, source.name);
    let reasons: Vec<String> = gates
        .iter()
        .map(|(gate, detail)| format!("the {gate} gate: {detail}"))
        .collect();
    insert_entry(
        &mut *tx,
        NewAuditEntry {
            actor: Some(actor),
            action: "request.promote",
            target: Some(&subject),
            request_id: Some(&source.id),
            outcome: AuditOutcome::Denied,
            detail: Some(&format!("to {target}: {}", reasons.join("; "))),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a list may filter on; `teams: None` means every team.
#[derive(Clone, Debug, Default)]
pub struct ListQuery<'a> {
    /// Only these teams (`None`: all).
    pub teams: Option<&'a [String]>,
    /// Stage.
    pub state: Option<&'a str>,
    /// Environment.
    pub environment: Option<&'a str>,
    /// Name or kind contains (case-insensitive).
    pub q: Option<&'a str>,
    /// Ids below this one (ids are time-ordered).
    pub before: Option<&'a str>,
}

/// Requests matching `query`, newest first, at most `limit`.
///
/// Each team's requests are read newest first from the `(team, id)` index and stop at
/// `limit`, so a page costs the same for a team of ten requests or of a year of them; a
/// person in several teams gets one such read per team, merged.
pub async fn list(db: &Db, query: &ListQuery<'_>, limit: i64) -> Result<Vec<ListedRequest>> {
    let limit = limit.max(1);
    let mut binds: Vec<String> = Vec::new();
    // Appends `clause` with `?` standing for the next placeholder, bound to `value`.
    fn push(sql: &mut String, binds: &mut Vec<String>, clause: &str, value: String) {
        binds.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    }
    let mut filter = String::new();
    if let Some(state) = query.state {
        push(
            &mut filter,
            &mut binds,
            " AND r.state = ?",
            state.to_owned(),
        );
    }
    if let Some(environment) = query.environment {
        push(
            &mut filter,
            &mut binds,
            " AND r.environment = ?",
            environment.to_owned(),
        );
    }
    if let Some(q) = query.q {
        let pattern = format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        binds.push(pattern);
        let n = binds.len();
        filter.push_str(&format!(
            " AND (LOWER(r.name) LIKE ${n} ESCAPE '\\' OR LOWER(r.kind) LIKE ${n} ESCAPE '\\')"
        ));
    }
    if let Some(before) = query.before {
        push(&mut filter, &mut binds, " AND r.id < ?", before.to_owned());
    }
    let newest = format!(" ORDER BY r.id DESC LIMIT {limit}");
    let sql = match query.teams {
        None => format!("SELECT {LISTED_COLUMNS} FROM requests r WHERE 1 = 1{filter}{newest}"),
        Some([]) => return Ok(vec![]),
        Some(teams) => {
            let mut parts = Vec::with_capacity(teams.len());
            for (i, team) in teams.iter().enumerate() {
                let mut part = String::new();
                push(&mut part, &mut binds, "r.team = ?", team.clone());
                parts.push(format!(
                    "SELECT * FROM (SELECT {LISTED_COLUMNS} FROM requests r \
                     WHERE {part}{filter}{newest}) t{i}"
                ));
            }
            if parts.len() == 1 {
                parts.pop().unwrap_or_default()
            } else {
                format!(
                    "{} ORDER BY id DESC LIMIT {limit}",
                    parts.join(" UNION ALL ")
                )
            }
        }
    };
    // Every value above is bound; the text holds only placeholders and fixed clauses.
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for value in binds {
        q = q.bind(value);
    }
    Ok(q.fetch_all(db.pool()).await?)
}

/// The pending request (not failed, not done) that writes this file, if any.
pub async fn pending_for_path(db: &Db, repository: &str, path: &str) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT request_id FROM git_jobs WHERE repository = $1 AND path = $2 AND status IN ('pending', 'held') LIMIT 1",
    )
    .bind(repository)
    .bind(path)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.get::<String, _>(0)))
}

/// Requests in the branch the recorder looks at without being told: by default those still
/// waiting for their applier or their claim (`committed`, `merged`, `synced`,
/// `apply_failed`); with `all`, also those whose claim it has seen (`reconciling`, `failing`,
/// `ready`), whose later changes otherwise reach it as watch events. Oldest first, up to
/// `limit`.
pub async fn awaiting_status(db: &Db, all: bool, limit: i64) -> Result<Vec<RequestRow>> {
    let states = if all {
        "('committed', 'merged', 'synced', 'apply_failed', 'reconciling', 'failing', 'ready')"
    } else {
        "('committed', 'merged', 'synced', 'apply_failed')"
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r WHERE r.state IN {states}
         ORDER BY r.id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// One claim: the same object in one environment, as the requests name it, asked of the
/// ledger and of the status watchers alike. The team is part of it (a claim lives in its
/// team's namespace and carries its label): two teams' `orders-db` are two claims.
#[derive(Clone, Copy, Debug)]
pub struct ClaimKey<'a> {
    /// Environment.
    pub environment: &'a str,
    /// Team.
    pub team: &'a str,
    /// `group/version` of the claim.
    pub api_version: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Name.
    pub name: &'a str,
}

impl<'a> ClaimKey<'a> {
    /// The claim a request is about.
    pub fn of(row: &'a RequestRow) -> Self {
        ClaimKey {
            environment: &row.environment,
            team: &row.team,
            api_version: &row.api_version,
            kind: &row.kind,
            name: &row.name,
        }
    }
}

/// Requests for the same claim still awaiting the cluster.
pub async fn for_claim(db: &Db, claim: ClaimKey<'_>) -> Result<Vec<RequestRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r
         WHERE r.environment = $1 AND r.team = $2 AND r.kind = $3 AND r.name = $4
         AND r.state IN ('committed', 'merged', 'synced', 'apply_failed', 'reconciling', 'failing', 'ready')
         ORDER BY r.id"
    )))
    .bind(claim.environment)
    .bind(claim.team)
    .bind(claim.kind)
    .bind(claim.name)
    .fetch_all(db.pool())
    .await?)
}

/// Whether a request for the claim other than `except` reached the cluster: synced, or its
/// claim seen reconciling, Ready or deleted.
pub async fn claim_reached_cluster(db: &Db, claim: ClaimKey<'_>, except: &str) -> Result<bool> {
    let found: Option<(String,)> = sqlx::query_as(
        "SELECT r.id FROM requests r JOIN request_events e ON e.request_id = r.id
         WHERE r.environment = $1 AND r.team = $2 AND r.kind = $3 AND r.name = $4 AND r.id <> $5
         AND e.kind IN ('synced', 'reconciling', 'ready', 'deleted')
         LIMIT 1",
    )
    .bind(claim.environment)
    .bind(claim.team)
    .bind(claim.kind)
    .bind(claim.name)
    .bind(except)
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use app::requests::Stage;

    use super::IN_BRANCH;

    #[test]
    fn the_query_list_of_stages_in_the_branch_is_the_stage_method() {
        for stage in Stage::ALL {
            assert_eq!(
                IN_BRANCH.contains(&format!("'{}'", stage.as_str())),
                stage.in_branch(),
                "{stage:?}"
            );
        }
    }
}
