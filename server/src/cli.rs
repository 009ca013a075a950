//! The `slipway` command line: dispatches subcommands. Parsing and options live in
//! [`crate::config`].

use anyhow::Context as _;

use crate::config::{Cli, Command};
use crate::db::Db;

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::http::serve(*args).await,
        Command::Migrate(args) => {
            let db = Db::connect(&args.database_url, args.db_max_connections)
                .await
                .context("connecting to the database named by DATABASE_URL")?;
            db.migrate().await.context("applying database migrations")?;
            tracing::info!(
                backend = db.backend().name(),
                applied = db.migrations_applied().await?,
                "migrations applied"
            );
            db.close().await;
            Ok(())
        }
        Command::Init(args) => crate::devdata::init(args).await,
    }
}
