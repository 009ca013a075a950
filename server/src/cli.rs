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
        Command::Login(args) => crate::client::commands::login(args).await,
        Command::Catalog(args) => crate::client::commands::catalog(args).await,
        Command::Request(args) => crate::client::commands::request(args).await,
        Command::Status(args) => crate::client::commands::status(args).await,
        Command::Promote(args) => crate::client::commands::promote(args).await,
        Command::Approve(args) => crate::client::commands::approve(args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "slipway",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}
