//! The `slipway` command line: dispatches subcommands. Parsing and options live in
//! [`crate::config`].

use crate::config::{Cli, Command};

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::http::serve(*args).await,
        Command::Migrate(args) => {
            let db = args.open_migrated().await?;
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
