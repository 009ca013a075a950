//! Storage: one pool over sqlx's `Any` driver, so the same queries run on SQLite (default,
//! a file under `./data`) and PostgreSQL (production). The backend is picked at run time
//! from `DATABASE_URL`; migrations are embedded per backend with the same numbering.
//!
//! Portability rules for queries in this module tree: `$1`-style placeholders (both
//! backends accept them), integers as `BIGINT` (decoded as `i64` on both), times as Unix
//! milliseconds, ids as text, booleans as 0/1 `BIGINT`.

pub mod approvals;
pub mod audit;
pub mod drafts;
pub mod idempotency;
pub mod leases;
pub mod ledger;
pub mod metrics;
pub mod outbox;
pub mod requests;
pub mod sessions;
pub mod tokens;
pub mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL names no supported backend.
    #[error("unsupported database URL scheme `{0}` (use sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    /// A query or connection failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data cannot be stored as asked; the message says why.
    #[error("{0}")]
    Refused(String),
    /// A submission's idempotency key is no longer its own (taken over as stale).
    #[error("the idempotency key was taken over by another submission")]
    KeyTakenOver,
    /// Another pending request (its id) already writes the same file.
    #[error("request {0} already changes this file and is still on its way to Git")]
    Conflict(String),
    /// The name of a cluster-scoped object is held by another live request (its id and team).
    #[error("the name is held by request {request} of the team {team}")]
    Taken {
        /// The holding request.
        request: String,
        /// Its team.
        team: String,
    },
    /// The lease the write was made under is no longer held: another replica took over.
    #[error("the lease {0} is no longer held by this process; its writes were refused")]
    Fenced(String),
    /// Preparing the SQLite file's folder, or its migration lock, failed.
    #[error("cannot prepare the database file {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Result of storage operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database engine is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn from_url(url: &str) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(Error::UnsupportedUrl(other.to_owned())),
        }
    }
}

/// The database: a connection pool, the backend it talks to, and the dashboards' facts kept
/// in memory ([`metrics::FactsMirror`], one per connected database). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file, when the database is one: migrations lock a file beside it.
    sqlite_file: Option<std::path::PathBuf>,
    facts: std::sync::Arc<metrics::FactsMirror>,
}

impl Db {
    /// Connects (creating a SQLite file and its folder if missing). Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let (url, sqlite_file) = match backend {
            Backend::Sqlite => prepare_sqlite(url)?,
            Backend::Postgres => (url.to_owned(), None),
        };
        // Statements are logged at debug level only: at info they would flood the log and
        // could carry request values.
        let options = AnyConnectOptions::from_str(&url)?
            .log_statements(tracing::log::LevelFilter::Debug)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings a connection each time it leaves the pool, by default. A SQLite
            // connection is a file opened by a thread of this process: nothing can cut it, and
            // the ping (a message to that thread and back, before every query of every page)
            // was 4 % of the CPU of serving the platform's year dashboard. A PostgreSQL
            // connection can die with the server or a proxy between, so its ping stays.
            .test_before_acquire(backend == Backend::Postgres)
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while the single writer commits; the mode is stored
            // in the file, so setting it once per start is enough.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Db {
            pool,
            backend,
            sqlite_file,
            facts: std::sync::Arc::default(),
        })
    }

    /// Connects and applies pending migrations.
    pub async fn open_migrated(url: &str, max_connections: u32) -> Result<Self> {
        let db = Db::connect(url, max_connections).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies pending migrations of this backend. Safe when several processes start at
    /// once on one database: one applies them while the others wait, then find none pending.
    /// On PostgreSQL sqlx's migrator holds an advisory lock; its SQLite migrator takes none,
    /// so a lock on a file beside the database's does that here.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                let _lock = match &self.sqlite_file {
                    Some(file) => Some(lock_beside(file).await?),
                    None => None,
                };
                SQLITE_MIGRATIONS.run(&self.pool).await?;
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Number of applied migrations.
    pub async fn migrations_applied(&self) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    /// Number of migrations this build knows for its backend.
    pub fn migrations_known(&self) -> usize {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.iter().count(),
            Backend::Postgres => POSTGRES_MIGRATIONS.iter().count(),
        }
    }

    /// Round trip to the database (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The backend behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The facts of every request as the dashboards read them, kept in memory.
    pub fn facts(&self) -> &metrics::FactsMirror {
        &self.facts
    }

    /// The pool, for the query modules.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool: later queries fail (used on shutdown and by tests of outages).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` (create if missing) and creates the file's folder. The URL to connect
/// with, and the database's file (`None` in memory).
fn prepare_sqlite(url: &str) -> Result<(String, Option<std::path::PathBuf>)> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let file = (path != ":memory:" && !path.is_empty() && !query.contains("mode=memory"))
        .then(|| std::path::PathBuf::from(path));
    if let Some(folder) = file
        .as_deref()
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder).map_err(|source| Error::Folder {
            path: folder.display().to_string(),
            source,
        })?;
    }
    let url = if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    Ok((url, file))
}

/// An exclusive lock on `<file>.migrate-lock`, held until the returned file is dropped;
/// waits (off the runtime's threads) while another process holds it.
async fn lock_beside(file: &Path) -> Result<std::fs::File> {
    let mut name = file.as_os_str().to_owned();
    name.push(".migrate-lock");
    let path = std::path::PathBuf::from(name);
    tokio::task::spawn_blocking(move || {
        let locked = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .and_then(|lock| lock.lock().map(|()| lock));
        locked.map_err(|source| Error::Folder {
            path: path.display().to_string(),
            source,
        })
    })
    .await
    .map_err(|join| Error::Folder {
        path: file.display().to_string(),
        source: std::io::Error::other(join),
    })?
}

/// Milliseconds since the Unix epoch: the portable time representation in the schema.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A new time-ordered id (UUID v7) as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_from_the_url_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://data/x.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(
            matches!(Backend::from_url("mysql://h/db"), Err(Error::UnsupportedUrl(s)) if s == "mysql")
        );
    }

    /// `.cargo/config.toml` builds the bundled SQLite without memory statistics (their mutex
    /// serialised every value sqlx's workers copy); a build that loses the flag fails here.
    #[tokio::test]
    async fn the_bundled_sqlite_keeps_no_memory_statistics() {
        let db = Db::connect("sqlite::memory:", 1).await.unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "compiled with {options:?}"
        );
    }

    #[test]
    fn sqlite_urls_get_create_mode_unless_they_choose_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/x.db", dir.path().display());
        let (prepared, file) = prepare_sqlite(&url).unwrap();
        assert_eq!(prepared, format!("{url}?mode=rwc"));
        assert_eq!(
            file,
            Some(dir.path().join("nested/x.db")),
            "its file, for the lock"
        );
        assert!(dir.path().join("nested").is_dir(), "the folder is created");
        assert_eq!(
            prepare_sqlite("sqlite://x.db?mode=ro").unwrap().0,
            "sqlite://x.db?mode=ro"
        );
        assert_eq!(prepare_sqlite("sqlite::memory:").unwrap().1, None);
        assert_eq!(prepare_sqlite("sqlite://db?mode=memory").unwrap().1, None);
    }
}
