//! `slipway` binary: parse, set up logging, run. All behaviour lives in the library.

use std::process::ExitCode;

use clap::Parser as _;
use slipway::config::Cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    slipway::telemetry::init(cli.log_format);
    match slipway::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
