//! The ledger's derived rows (`request_facts`, `request_incidents`) and feedback.
//!
//! ```text
//!  any ledger append ──same transaction──▶ refresh(request): read its events, fold, replace rows
//!  dashboard ──▶ inputs(scope, period): facts + incidents + feedback of the period ──▶ measures
//!                  └─ facts from the process's [`FactsMirror`], caught up by revision first
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sqlx::Row as _;

use app::requests::Stage;

use super::{Db, Result};
use crate::metrics::ledger::{Facts, Incident, Outcome, fold_rows};
use crate::metrics::measures::{FactRow, Inputs, MONDAY_OFFSET_MS, ReasonCount, Restores, WEEK_MS};

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// Who a dashboard covers: some teams (or every team) and optionally one offering.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `None`: every team.
    pub teams: Option<Vec<String>>,
    /// Only this offering.
    pub offering: Option<String>,
}

/// The request a fact row describes (its `requests` columns).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RequestKey {
    /// Id.
    pub id: String,
    /// Team.
    pub team: String,
    /// Offering.
    pub offering: String,
    /// Environment.
    pub environment: String,
    /// Action.
    pub action: String,
    /// User id.
    pub requested_by: String,
    /// Submitted.
    pub created_at: i64,
}

/// What [`refresh`] changed.
#[derive(Clone, Debug)]
pub struct Refreshed {
    /// The request.
    pub key: RequestKey,
    /// Its facts before (`None`: it had none).
    pub before: Option<Facts>,
    /// Its facts now.
    pub after: Facts,
}

/// Recomputes a request's facts and incidents from its whole ledger, inside the transaction
/// that appended to it. `None` when the request does not exist.
pub async fn refresh(tx: &mut Tx<'_>, request_id: &str) -> Result<Option<Refreshed>> {
    // The request's row lock (held to commit) serialises two appends to the same request on
    // PostgreSQL, so neither replaces the derived rows with a fold that misses the other's
    // event. Every append path already holds it; taking it here keeps that true.
    sqlx::query("UPDATE requests SET updated_at = updated_at WHERE id = $1")
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    let Some(key): Option<RequestKey> = sqlx::query_as(
        "SELECT id, team, offering, environment, action, requested_by, created_at FROM requests WHERE id = $1",
    )
    .bind(request_id)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let before = sqlx::query(
        "SELECT committed_at, merged_at, synced_at, ready_at, outcome, change_failed
         FROM request_facts WHERE request_id = $1",
    )
    .bind(request_id)
    .fetch_optional(&mut **tx)
    .await?
    .map(|row| facts_of(&row, 0))
    .transpose()?;
    let events: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT kind, at, message FROM request_events WHERE request_id = $1 ORDER BY at, id",
    )
    .bind(request_id)
    .fetch_all(&mut **tx)
    .await?;
    let (facts, incidents) = fold_rows(&key.action, &events);
    write(tx, &key, &facts, &incidents).await?;
    Ok(Some(Refreshed {
        key,
        before,
        after: facts,
    }))
}

/// The six facts columns (`committed_at` … `change_failed`) starting at column `at`.
fn facts_of(row: &sqlx::any::AnyRow, at: usize) -> Result<Facts> {
    Ok(Facts {
        committed_at: row.try_get(at)?,
        merged_at: row.try_get(at + 1)?,
        synced_at: row.try_get(at + 2)?,
        ready_at: row.try_get(at + 3)?,
        outcome: Outcome::parse(&row.try_get::<String, _>(at + 4)?),
        change_failed: row.try_get::<i64, _>(at + 5)? != 0,
    })
}

/// Replaces a request's derived rows.
pub async fn write(
    tx: &mut Tx<'_>,
    key: &RequestKey,
    facts: &Facts,
    incidents: &[Incident],
) -> Result<()> {
    sqlx::query("DELETE FROM request_facts WHERE request_id = $1")
        .bind(&key.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM request_incidents WHERE request_id = $1")
        .bind(&key.id)
        .execute(&mut **tx)
        .await?;
    // The next revision (the counter's row stays locked until this transaction ends, so
    // revisions become visible in order; see [`FactsMirror`]).
    sqlx::query("UPDATE metrics_revision SET n = n + 1")
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO request_facts (request_id, team, offering, environment, action, requested_by,
            submitted_at, committed_at, merged_at, synced_at, ready_at, outcome, change_failed,
            revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
            (SELECT n FROM metrics_revision))",
    )
    .bind(&key.id)
    .bind(&key.team)
    .bind(&key.offering)
    .bind(&key.environment)
    .bind(&key.action)
    .bind(&key.requested_by)
    .bind(key.created_at)
    .bind(facts.committed_at)
    .bind(facts.merged_at)
    .bind(facts.synced_at)
    .bind(facts.ready_at)
    .bind(facts.outcome.as_str())
    .bind(i64::from(facts.change_failed))
    .execute(&mut **tx)
    .await?;
    for incident in incidents {
        sqlx::query(
            "INSERT INTO request_incidents (request_id, started_at, restored_at, source, team,
                offering, environment, reason, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.id)
        .bind(incident.started_at)
        .bind(incident.restored_at)
        .bind(incident.source.as_str())
        .bind(&key.team)
        .bind(&key.offering)
        .bind(&key.environment)
        .bind(&incident.reason)
        .bind(&incident.message)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Fills in the derived rows of requests that have none (requests stored before the
/// metrics migration). Returns how many were filled.
pub async fn backfill(db: &Db) -> Result<usize> {
    let mut filled = 0;
    loop {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT r.id FROM requests r LEFT JOIN request_facts f ON f.request_id = r.id
             WHERE f.request_id IS NULL ORDER BY r.id LIMIT 500",
        )
        .fetch_all(db.pool())
        .await?;
        if ids.is_empty() {
            return Ok(filled);
        }
        let mut tx = db.pool().begin().await?;
        for (id,) in &ids {
            refresh(&mut tx, id).await?;
        }
        tx.commit().await?;
        filled += ids.len();
    }
}

/// `AND <column> IN ($n, …)` for the scope's teams (nothing for every team), plus the
/// offering, with binds starting at `$first`.
fn scope_sql(scope: &Scope, first: usize) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    if let Some(teams) = &scope.teams {
        if teams.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            let marks: Vec<String> = (0..teams.len())
                .map(|i| format!("${}", first + i))
                .collect();
            sql.push_str(&format!(" AND team IN ({})", marks.join(", ")));
            binds.extend(teams.iter().cloned());
        }
    }
    if let Some(offering) = &scope.offering {
        sql.push_str(&format!(" AND offering = ${}", first + binds.len()));
        binds.push(offering.clone());
    }
    (sql, binds)
}

/// Runs `sql` (whose first placeholders are `$1 = from`, `$2 = to`, then `extra`, then the
/// scope's) and maps its rows.
async fn period_rows<T>(
    db: &Db,
    sql: String,
    (from, to): (i64, i64),
    extra: &[i64],
    binds: &[String],
    map: impl Fn(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Vec<T>> {
    // Placeholders are numbered by this module; values are bound, never spliced.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
    for value in extra {
        query = query.bind(*value);
    }
    for bind in binds {
        query = query.bind(bind);
    }
    query.fetch_all(db.pool()).await?.iter().map(map).collect()
}

const FACT_COLUMNS: &str = "team, offering, environment, requested_by, submitted_at, committed_at, merged_at, synced_at, ready_at, outcome, change_failed";

/// The `request_facts` rows in memory, for the dashboards: read once, then only the rows
/// written since (every write of a row takes the next `revision`, whichever replica made
/// it), so a year of history is not carried out of the database row by row on every
/// dashboard, and the figures stay those of the database at the moment of reading.
///
/// About 0.3 KB a request. Slipway replaces rows and never deletes them; a count that
/// falls below the rows held (a row removed by other means) makes it read everything again.
#[derive(Debug, Default)]
pub struct FactsMirror {
    held: tokio::sync::Mutex<Mirrored>,
}

#[derive(Debug)]
struct Mirrored {
    /// The highest revision read (-1: nothing read yet; rows older than revisions have 0).
    revision: i64,
    /// Request id → its row's key in `rows`.
    keys: HashMap<Arc<str>, i64>,
    /// By (submitted_at, request id).
    rows: BTreeMap<(i64, Arc<str>), Arc<FactRow>>,
}

impl Default for Mirrored {
    fn default() -> Self {
        Mirrored {
            revision: -1,
            keys: HashMap::new(),
            rows: BTreeMap::new(),
        }
    }
}

impl Mirrored {
    /// Reads the rows written since the revision held.
    async fn catch_up(&mut self, db: &Db) -> Result<()> {
        let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT request_id, revision, {FACT_COLUMNS} FROM request_facts
             WHERE revision > $1 ORDER BY revision"
        )))
        .bind(self.revision)
        .fetch_all(db.pool())
        .await?;
        for row in &changed {
            let id: Arc<str> = Arc::from(row.try_get::<String, _>(0)?);
            let revision: i64 = row.try_get(1)?;
            let fact = fact_at(row, 2)?;
            if let Some(old) = self.keys.insert(id.clone(), fact.submitted_at) {
                self.rows.remove(&(old, id.clone()));
            }
            self.rows.insert((fact.submitted_at, id), Arc::new(fact));
            self.revision = self.revision.max(revision);
        }
        Ok(())
    }
}

impl FactsMirror {
    /// Reads every row now, so that the first dashboard does not (`serve` calls it at
    /// start); returns how many rows are held.
    pub async fn warm(&self, db: &Db) -> Result<usize> {
        let mut held = self.held.lock().await;
        held.catch_up(db).await?;
        Ok(held.rows.len())
    }

    /// The facts of requests submitted in `[from, to)` within `scope`, and of requests
    /// submitted before `from` and synced in the period (DORA counts them), after reading
    /// what was written since the last call.
    pub async fn period(
        &self,
        db: &Db,
        scope: &Scope,
        from: i64,
        to: i64,
    ) -> Result<Vec<Arc<FactRow>>> {
        let mut held = self.held.lock().await;
        held.catch_up(db).await?;
        // Rows are replaced, not deleted, by Slipway; a row removed by other means (a
        // restored backup, a cascade) shows as fewer rows than held: read everything again.
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM request_facts")
            .fetch_one(db.pool())
            .await?;
        if usize::try_from(count).ok() != Some(held.rows.len()) {
            *held = Mirrored::default();
            held.catch_up(db).await?;
        }
        let in_scope = |fact: &FactRow| {
            scope
                .teams
                .as_ref()
                .is_none_or(|teams| teams.contains(&fact.team))
                && scope.offering.as_ref().is_none_or(|o| *o == fact.offering)
        };
        let lowest: Arc<str> = Arc::from("");
        let mut facts: Vec<Arc<FactRow>> = held
            .rows
            .range((from, lowest.clone())..(to, lowest.clone()))
            .map(|(_, fact)| fact)
            .filter(|fact| in_scope(fact))
            .cloned()
            .collect();
        facts.extend(
            held.rows
                .range(..(from, lowest))
                .map(|(_, fact)| fact)
                .filter(|fact| {
                    fact.facts.synced_at.is_some_and(|at| at >= from && at < to) && in_scope(fact)
                })
                .cloned(),
        );
        Ok(facts)
    }
}

/// The state of everything a dashboard is computed from: the revision of the facts (every
/// ledger append, with its incidents and approvals, and every rating takes the next one) and
/// the number of teams known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataVersion {
    revision: i64,
    teams: i64,
}

/// The data's [`DataVersion`] now.
pub async fn data_version(db: &Db) -> Result<DataVersion> {
    let (revision, teams): (i64, i64) =
        sqlx::query_as("SELECT (SELECT n FROM metrics_revision), (SELECT COUNT(*) FROM teams)")
            .fetch_one(db.pool())
            .await?;
    Ok(DataVersion { revision, teams })
}

/// A fact row whose `FACT_COLUMNS` start at column `at`.
fn fact_at(row: &sqlx::any::AnyRow, at: usize) -> Result<FactRow> {
    Ok(FactRow {
        team: row.try_get(at)?,
        offering: row.try_get(at + 1)?,
        environment: row.try_get(at + 2)?,
        requested_by: row.try_get(at + 3)?,
        submitted_at: row.try_get(at + 4)?,
        facts: facts_of(row, at + 5)?,
    })
}

/// Everything the measures of `[from, to)` need, within `scope`. Each query reads one index
/// range, and failures come back already counted; the facts come from the database's
/// [`FactsMirror`].
pub async fn inputs(db: &Db, scope: &Scope, from: i64, to: i64) -> Result<Inputs> {
    let period = (from, to);
    let (filter, binds) = scope_sql(scope, 3);
    let facts = db.facts().period(db, scope, from, to).await?;
    let reasons = period_rows(
        db,
        format!(
            "SELECT reason, COUNT(*), MAX(started_at) FROM request_incidents
             WHERE started_at >= $1 AND started_at < $2{filter} GROUP BY reason"
        ),
        period,
        &[],
        &binds,
        |row| {
            Ok(ReasonCount {
                reason: row.try_get(0)?,
                count: u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0),
                latest: row.try_get(2)?,
            })
        },
    )
    .await?;
    // Integer division on both backends: the week's number since Monday 1970-01-05.
    let (week_filter, week_binds) = scope_sql(scope, 5);
    let failures_per_week = period_rows(
        db,
        format!(
            "SELECT (started_at - $3) / $4, COUNT(*) FROM request_incidents
             WHERE started_at >= $1 AND started_at < $2{week_filter} GROUP BY (started_at - $3) / $4"
        ),
        period,
        &[MONDAY_OFFSET_MS, WEEK_MS],
        &week_binds,
        |row| {
            Ok((
                MONDAY_OFFSET_MS + row.try_get::<i64, _>(0)? * WEEK_MS,
                u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0),
            ))
        },
    )
    .await?;
    // Nearest-rank medians ranked by the database: rank ⌈n/2⌉ = (n + 1) / 2.
    let ranked = |partition: &str| {
        format!(
            "SELECT {partition} n, took FROM (
                SELECT {partition} restored_at - started_at AS took,
                    ROW_NUMBER() OVER (PARTITION BY {partition} 1 ORDER BY restored_at - started_at) AS rn,
                    COUNT(*) OVER (PARTITION BY {partition} 1) AS n
                FROM request_incidents
                WHERE restored_at >= $1 AND restored_at < $2 AND source = 'cluster'{filter}
            ) ranked WHERE rn = (n + 1) / 2"
        )
    };
    let summary = |row: &sqlx::any::AnyRow, at: usize| -> Result<Restores> {
        Ok(Restores {
            count: u64::try_from(row.try_get::<i64, _>(at)?).unwrap_or(0),
            p50_ms: Some(row.try_get(at + 1)?),
        })
    };
    let restores = period_rows(db, ranked(""), period, &[], &binds, |row| summary(row, 0))
        .await?
        .pop()
        .unwrap_or_default();
    let restores_by = period_rows(
        db,
        ranked("team, environment,"),
        period,
        &[],
        &binds,
        |row| Ok((row.try_get(0)?, row.try_get(1)?, summary(row, 2)?)),
    )
    .await?;
    let feedback = period_rows(
        db,
        format!(
            "SELECT request_id, team, offering, rating, comment, at FROM feedback
             WHERE at >= $1 AND at < $2{filter}"
        ),
        period,
        &[],
        &binds,
        |row| {
            Ok(app::metrics::FeedbackRow {
                request_id: row.try_get(0)?,
                team: row.try_get(1)?,
                offering: row.try_get(2)?,
                rating: u8::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0),
                comment: row.try_get(4)?,
                at: row.try_get(5)?,
            })
        },
    )
    .await?;
    let known_teams = match &scope.teams {
        Some(teams) => teams.len() as u64,
        None => {
            let row = sqlx::query("SELECT COUNT(*) FROM teams")
                .fetch_one(db.pool())
                .await?;
            u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0)
        }
    };
    // Requests a policy held for approval: when submitted, when the last approval released
    // them (none while waiting or when rejected), and whether they were rejected.
    let approvals = period_rows(
        db,
        format!(
            "SELECT created_at,
                (SELECT MAX(e.at) FROM request_events e WHERE e.request_id = requests.id AND e.kind = 'approved'),
                state
             FROM requests
             WHERE approvals IS NOT NULL AND created_at >= $1 AND created_at < $2{filter}"
        ),
        period,
        &[],
        &binds,
        |row| {
            let state: String = row.try_get(2)?;
            let released: Option<i64> = row.try_get(1)?;
            Ok(crate::metrics::measures::Held {
                submitted_at: row.try_get(0)?,
                released_at: released.filter(|_| state != "awaiting_approval" && state != "rejected"),
                rejected: state == "rejected",
            })
        },
    )
    .await?;
    // Promotions of the period, each with its chain's first Ready: the chain is walked up
    // through `promoted_from` to the request with none (the path's first environment).
    let promotions = period_rows(
        db,
        format!(
            "WITH RECURSIVE chain(start, id) AS (
                SELECT id, promoted_from FROM requests
                WHERE promoted_from IS NOT NULL AND created_at >= $1 AND created_at < $2{filter}
                UNION ALL
                SELECT c.start, s.promoted_from FROM chain c JOIN requests s ON s.id = c.id
                WHERE s.promoted_from IS NOT NULL
            )
            SELECT p.id, p.team, p.offering, p.environment, pf.ready_at,
                (SELECT f.ready_at FROM chain c JOIN requests s ON s.id = c.id
                    JOIN request_facts f ON f.request_id = s.id
                 WHERE c.start = p.id AND s.promoted_from IS NULL)
            FROM (SELECT id, team, offering, environment FROM requests
                  WHERE promoted_from IS NOT NULL AND created_at >= $1 AND created_at < $2{filter}) p
            LEFT JOIN request_facts pf ON pf.request_id = p.id"
        ),
        period,
        &[],
        &binds,
        |row| {
            Ok(crate::metrics::measures::Promoted {
                team: row.try_get(1)?,
                offering: row.try_get(2)?,
                environment: row.try_get(3)?,
                ready_at: row.try_get(4)?,
                root_ready_at: row.try_get(5)?,
            })
        },
    )
    .await?;
    let refused_attempts = period_rows(
        db,
        format!(
            "SELECT team, offering, COUNT(DISTINCT attempt) FROM promotion_refusals
             WHERE at >= $1 AND at < $2{filter} GROUP BY team, offering"
        ),
        period,
        &[],
        &binds,
        |row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                u64::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0),
            ))
        },
    )
    .await?;
    let refusals = period_rows(
        db,
        format!(
            "SELECT team, offering, gate, COUNT(*) FROM promotion_refusals
             WHERE at >= $1 AND at < $2{filter} GROUP BY team, offering, gate"
        ),
        period,
        &[],
        &binds,
        |row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                u64::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0),
            ))
        },
    )
    .await?;
    Ok(Inputs {
        facts,
        reasons,
        failures_per_week,
        restores,
        restores_by,
        feedback,
        known_teams,
        approvals,
        promotions,
        refusals,
        refused_attempts,
        last_stages: Vec::new(),
    })
}

/// Reads, for each failure row, its latest incident's request and message (within `scope`),
/// so that the period's incidents need not be read one by one.
pub async fn fill_examples(
    db: &Db,
    scope: &Scope,
    failures: &mut [app::metrics::FailureRow],
) -> Result<()> {
    let (filter, binds) = scope_sql(scope, 3);
    let sql = format!(
        "SELECT request_id, message FROM request_incidents
         WHERE reason = $1 AND started_at = $2{filter} ORDER BY request_id LIMIT 1"
    );
    for failure in failures.iter_mut() {
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&failure.reason)
            .bind(failure.started_at);
        for bind in &binds {
            query = query.bind(bind);
        }
        if let Some((request_id, message)) = query.fetch_optional(db.pool()).await? {
            failure.request_id = request_id;
            failure.example = message;
        }
    }
    Ok(())
}

/// Every team name, sorted.
pub async fn team_names(db: &Db) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM teams ORDER BY name")
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(|(name,)| name).collect())
}

/// The request a rating is about.
#[derive(Clone, Copy, Debug)]
pub struct Rated<'a> {
    /// Its id.
    pub request_id: &'a str,
    /// Its team.
    pub team: &'a str,
    /// Its offering.
    pub offering: &'a str,
}

/// Stores (or replaces) a rating of a request's offering, given at `at` (Unix ms).
pub async fn rate(
    db: &Db,
    request: Rated<'_>,
    user_id: &str,
    rating: u8,
    comment: &str,
    at: i64,
) -> Result<()> {
    let mut tx = db.pool().begin().await?;
    // Dashboards computed before this rating are no longer current.
    sqlx::query("UPDATE metrics_revision SET n = n + 1")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM feedback WHERE request_id = $1")
        .bind(request.request_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO feedback (request_id, user_id, team, offering, rating, comment, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(request.request_id)
    .bind(user_id)
    .bind(request.team)
    .bind(request.offering)
    .bind(i64::from(rating))
    .bind(comment)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The rating given for a request, if any.
pub async fn feedback_of(db: &Db, request_id: &str) -> Result<Option<(u8, String)>> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT rating, comment FROM feedback WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(rating, comment)| (u8::try_from(rating).unwrap_or(0), comment)))
}

/// Whether the ledger holds a `ready` for the request.
pub async fn was_ready(db: &Db, request_id: &str) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT request_id FROM request_events WHERE request_id = $1 AND kind = 'ready' LIMIT 1",
    )
    .bind(request_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// A request from elsewhere (another portal's history, a demo, a test), with its ledger.
#[derive(Clone, Debug)]
pub struct HistoricRequest {
    /// Id (must be new).
    pub id: String,
    /// `create` | `update` | `delete`.
    pub action: String,
    /// Offering id.
    pub offering: String,
    /// Team.
    pub team: String,
    /// Environment.
    pub environment: String,
    /// Claim name.
    pub name: String,
    /// User id (must exist).
    pub requested_by: String,
    /// The ledger, oldest first: (kind, Unix ms, message). The first is its submission.
    pub events: Vec<(String, i64, Option<String>)>,
}

/// Stores a rating given at `at` (Unix ms), replacing an earlier one of the request.
pub async fn import_feedback(
    db: &Db,
    request_id: &str,
    rating: u8,
    comment: &str,
    at: i64,
) -> Result<()> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT team, offering, requested_by FROM requests WHERE id = $1")
            .bind(request_id)
            .fetch_optional(db.pool())
            .await?;
    let (team, offering, requested_by) =
        row.ok_or_else(|| super::Error::Refused(format!("no request {request_id} to rate")))?;
    let rated = Rated {
        request_id,
        team: &team,
        offering: &offering,
    };
    rate(db, rated, &requested_by, rating, comment, at).await
}

/// Stores requests with their whole ledger as they happened, and their metrics rows, in
/// one transaction: all or nothing. The requests carry no file (their content lives in
/// whatever system they come from). Returns how many were stored.
pub async fn import(db: &Db, requests: &[HistoricRequest]) -> Result<usize> {
    let mut tx = db.pool().begin().await?;
    for request in requests {
        let created_at = request.events.first().map_or(0, |e| e.1);
        let updated_at = request.events.last().map_or(created_at, |e| e.1);
        let (facts, incidents) = fold_rows(&request.action, &request.events);
        // Every ledger kind names the stage it leads to, but a `failed` once the commit is
        // in the branch is the cluster's: the request is failing, not refused.
        let last = request.events.last().map_or("submitted", |e| e.0.as_str());
        let state = match Stage::parse(last) {
            Stage::Failed if facts.merged_at.is_some() => Stage::Failing,
            stage => stage,
        }
        .as_str();
        let inserted = sqlx::query(
            "INSERT INTO requests (id, action, offering, offering_version, api_version, kind, name, team,
                environment, requested_by, requester_name, requester_email, body, repository, path,
                content, write_mode, state, commit_sha, pr_number, pr_url, created_at, updated_at)
             SELECT $1, $2, $3, 'imported', '', '', $4, $5, $6, u.id, u.display_name, u.email, '{}',
                'imported', '', '', 'direct', $7, NULL, NULL, NULL, $8, $9
             FROM users u WHERE u.id = $10",
        )
        .bind(&request.id)
        .bind(&request.action)
        .bind(&request.offering)
        .bind(&request.name)
        .bind(&request.team)
        .bind(&request.environment)
        .bind(state)
        .bind(created_at)
        .bind(updated_at)
        .bind(&request.requested_by)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != 1 {
            return Err(super::Error::Refused(format!(
                "request {}: no user with id {}",
                request.id, request.requested_by
            )));
        }
        for (kind, at, message) in &request.events {
            sqlx::query(
                "INSERT INTO request_events (id, request_id, kind, at, actor, sha, url, message)
                 VALUES ($1, $2, $3, $4, NULL, NULL, NULL, $5)",
            )
            .bind(super::new_id())
            .bind(&request.id)
            .bind(kind)
            .bind(at)
            .bind(message)
            .execute(&mut *tx)
            .await?;
        }
        let key = RequestKey {
            id: request.id.clone(),
            team: request.team.clone(),
            offering: request.offering.clone(),
            environment: request.environment.clone(),
            action: request.action.clone(),
            requested_by: request.requested_by.clone(),
            created_at,
        };
        write(&mut tx, &key, &facts, &incidents).await?;
    }
    tx.commit().await?;
    Ok(requests.len())
}
