//! The `slipway` command line: dispatches subcommands. Parsing and options live in
//! [`crate::config`].

use anyhow::Context as _;

use crate::config::{Cli, Command};

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::http::serve::serve(*args).await,
        Command::Migrate(args) => {
            let db = crate::db::Db::open_migrated(&args.database_url, args.db_max_connections)
                .await
                .context("opening the database named by DATABASE_URL")?;
            tracing::info!(
                backend = db.backend().name(),
                applied = db.migrations_applied().await?,
                "migrations applied"
            );
            db.close().await;
            Ok(())
        }
        Command::Init(args) => crate::devdata::init(args).await,
        Command::ImportLedger(args) => crate::devdata::ledger::import_file(args).await,
    }
}
