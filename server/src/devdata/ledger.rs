//! `slipway import-ledger FILE`: users, requests with their ledger, and ratings from YAML, or
//! from JSON Lines read line by line (one `{"user"|"request"|"feedback": …}` record per
//! line, the same fields) for a history of any size. Times are "how long ago" (`3d 4h 10m`),
//! so a demo file stays current.
//!
//! ```yaml
//! users:
//!   - {subject: "dev|alice", name: Alice, email: alice@example.com, teams: [team-a]}
//! requests:
//!   - id: 0193…            # optional; a new UUID v7 otherwise
//!     offering: postgresql
//!     team: team-a
//!     environment: dev
//!     name: orders-db
//!     action: create       # default
//!     requested_by: "dev|alice"
//!     events:
//!       - {kind: submitted, ago: 3d 2h}
//!       - {kind: failed, ago: 3d 1h, message: "DBInstance/orders: ReconcileError: quota"}
//! feedback:
//!   - {request: 0193…, rating: 4, comment: "quick", ago: 2d}
//! ```

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::config::ImportLedgerArgs;
use crate::db::metrics::{HistoricRequest, import, import_feedback};
use crate::db::users::{NewLogin, upsert_login};
use crate::db::{Db, new_id, now_ms};

/// The file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFile {
    /// People (created or updated by subject).
    #[serde(default)]
    pub users: Vec<UserEntry>,
    /// Requests.
    #[serde(default)]
    pub requests: Vec<RequestEntry>,
    /// Ratings.
    #[serde(default)]
    pub feedback: Vec<FeedbackEntry>,
}

/// A person.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// `dev|<handle>` or `<issuer>|<sub>`.
    pub subject: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Teams.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Administrator.
    #[serde(default)]
    pub admin: bool,
}

/// A request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestEntry {
    /// Id; generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Offering id.
    pub offering: String,
    /// Team.
    pub team: String,
    /// Environment.
    pub environment: String,
    /// Claim name.
    pub name: String,
    /// `create` (default), `update` or `delete`.
    #[serde(default = "create")]
    pub action: String,
    /// The requester's subject (a user of the file or already known).
    pub requested_by: String,
    /// The ledger, oldest first.
    pub events: Vec<EventEntry>,
}

fn create() -> String {
    "create".to_owned()
}

/// A ledger event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventEntry {
    /// Kind.
    pub kind: String,
    /// How long ago.
    pub ago: String,
    /// Words.
    #[serde(default)]
    pub message: Option<String>,
}

/// A rating.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackEntry {
    /// The request's id.
    pub request: String,
    /// 1–5.
    pub rating: u8,
    /// Words.
    #[serde(default)]
    pub comment: String,
    /// How long ago.
    pub ago: String,
}

/// `3d 4h 10m 5s` → milliseconds.
pub fn parse_ago(text: &str) -> anyhow::Result<i64> {
    let mut total = 0i64;
    for part in text.split_whitespace() {
        let (number, unit) = part.split_at(part.len().saturating_sub(1));
        let n: i64 = number
            .parse()
            .with_context(|| format!("{text:?}: {part:?} is not <number><d|h|m|s>"))?;
        total += n * match unit {
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            _ => bail!("{text:?}: unit of {part:?} is not d, h, m or s"),
        };
    }
    Ok(total)
}

/// Stores the file's content, relative to `now` (Unix ms). Returns the requests stored.
pub async fn import_ledger(db: &Db, file: &LedgerFile, now: i64) -> anyhow::Result<usize> {
    let mut importer = Importer::new(db, now);
    for user in &file.users {
        importer.user(user).await?;
    }
    for entry in &file.requests {
        importer.request(entry).await?;
    }
    for rating in &file.feedback {
        importer.feedback(rating);
    }
    importer.finish().await
}

/// One record of a ledger in JSON Lines (`.jsonl`): each line is `{"user": …}`,
/// `{"request": …}` or `{"feedback": …}`, with the fields of the YAML file's entries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum LedgerLine {
    /// A person.
    User(UserEntry),
    /// A request.
    Request(RequestEntry),
    /// A rating.
    Feedback(FeedbackEntry),
}

/// Requests stored per transaction while importing.
const BATCH: usize = 2_000;

/// Imports records one at a time: people at once, requests in transactions of [`BATCH`],
/// ratings at the end (they may name a request of a later line). Memory stays one batch
/// (and the ratings) whatever the history's size.
struct Importer<'a> {
    db: &'a Db,
    now: i64,
    people: std::collections::HashMap<String, String>,
    batch: Vec<HistoricRequest>,
    feedback: Vec<FeedbackEntry>,
    stored: usize,
    started: std::time::Instant,
}

impl<'a> Importer<'a> {
    fn new(db: &'a Db, now: i64) -> Self {
        Importer {
            db,
            now,
            people: std::collections::HashMap::new(),
            batch: Vec::with_capacity(BATCH),
            feedback: Vec::new(),
            stored: 0,
            started: std::time::Instant::now(),
        }
    }

    async fn user(&mut self, user: &UserEntry) -> anyhow::Result<()> {
        let stored = upsert_login(
            self.db,
            &NewLogin {
                subject: user.subject.clone(),
                display_name: user.name.clone(),
                email: user.email.clone(),
                is_admin: user.admin,
                teams: user.teams.clone(),
            },
        )
        .await?
        .with_context(|| format!("user {} is deactivated", user.subject))?;
        self.people.insert(user.subject.clone(), stored.id);
        Ok(())
    }

    async fn request(&mut self, entry: &RequestEntry) -> anyhow::Result<()> {
        let requested_by = match self.people.get(&entry.requested_by) {
            Some(id) => id.clone(),
            None => {
                let (id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE subject = $1")
                    .bind(&entry.requested_by)
                    .fetch_optional(self.db.pool())
                    .await?
                    .with_context(|| format!("no user {:?}", entry.requested_by))?;
                self.people.insert(entry.requested_by.clone(), id.clone());
                id
            }
        };
        if entry.events.first().is_none_or(|e| e.kind != "submitted") {
            bail!("{}: the first event must be `submitted`", entry.name);
        }
        let mut events = Vec::with_capacity(entry.events.len());
        for event in &entry.events {
            events.push((
                event.kind.clone(),
                self.now - parse_ago(&event.ago)?,
                event.message.clone(),
            ));
        }
        if events.windows(2).any(|w| w[1].1 < w[0].1) {
            bail!("{}: events must be oldest first", entry.name);
        }
        self.batch.push(HistoricRequest {
            id: entry.id.clone().unwrap_or_else(new_id),
            action: entry.action.clone(),
            offering: entry.offering.clone(),
            team: entry.team.clone(),
            environment: entry.environment.clone(),
            name: entry.name.clone(),
            requested_by,
            events,
        });
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    fn feedback(&mut self, rating: &FeedbackEntry) {
        self.feedback.push(FeedbackEntry {
            request: rating.request.clone(),
            rating: rating.rating,
            comment: rating.comment.clone(),
            ago: rating.ago.clone(),
        });
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.stored += import(self.db, &self.batch).await?;
        self.batch.clear();
        let seconds = self.started.elapsed().as_secs_f64();
        tracing::info!(
            requests = self.stored,
            per_second = (self.stored as f64 / seconds.max(1e-3)).round(),
            "importing the ledger"
        );
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<usize> {
        self.flush().await?;
        for rating in &self.feedback {
            if !(1..=5).contains(&rating.rating) {
                bail!("rating of {} must be 1 to 5", rating.request);
            }
            import_feedback(
                self.db,
                &rating.request,
                rating.rating,
                &rating.comment,
                self.now - parse_ago(&rating.ago)?,
            )
            .await?;
        }
        Ok(self.stored)
    }
}

/// Stores a JSON Lines ledger read line by line (see [`LedgerLine`]). A line that is not a
/// record stops the import with its number; the batches before it stay stored.
pub async fn import_lines(
    db: &Db,
    input: impl std::io::BufRead,
    now: i64,
) -> anyhow::Result<usize> {
    let mut importer = Importer::new(db, now);
    for (number, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", number + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: LedgerLine = serde_json::from_str(&line)
            .with_context(|| format!("line {} is not a ledger record", number + 1))?;
        match &record {
            LedgerLine::User(user) => importer.user(user).await?,
            LedgerLine::Request(entry) => importer
                .request(entry)
                .await
                .with_context(|| format!("line {}", number + 1))?,
            LedgerLine::Feedback(rating) => importer.feedback(rating),
        }
    }
    importer.finish().await
}

/// Runs `slipway import-ledger`: a `.jsonl` file (or `-`, standard input) is read line by
/// line, anything else as one YAML document.
pub async fn import_file(args: ImportLedgerArgs) -> anyhow::Result<()> {
    let lines = args.file.as_os_str() == "-"
        || args
            .file
            .extension()
            .is_some_and(|e| e == "jsonl" || e == "ndjson");
    let yaml = if lines {
        None
    } else {
        let text = std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?;
        let file: LedgerFile = serde_saphyr::from_str(&text).with_context(|| {
            format!(
                "{} is not a ledger file (for a long history, write one record per line \
                 in a .jsonl file)",
                args.file.display()
            )
        })?;
        Some(file)
    };
    let db = Db::open_migrated(
        &args.database.database_url,
        args.database.db_max_connections,
    )
    .await
    .context("opening the database named by DATABASE_URL")?;
    let stored = match yaml {
        Some(file) => import_ledger(&db, &file, now_ms()).await,
        None if args.file.as_os_str() == "-" => {
            import_lines(&db, std::io::stdin().lock(), now_ms()).await
        }
        None => {
            let file = std::fs::File::open(&args.file)
                .with_context(|| format!("reading {}", args.file.display()))?;
            import_lines(&db, std::io::BufReader::new(file), now_ms()).await
        }
    };
    db.close().await;
    tracing::info!(requests = stored?, "ledger imported");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_add_their_units() {
        assert_eq!(parse_ago("3d 4h 10m 5s").unwrap(), 274_205_000);
        assert_eq!(parse_ago("90m").unwrap(), 5_400_000);
        assert!(parse_ago("3 days").is_err());
        assert!(parse_ago("3w").is_err());
    }
}
