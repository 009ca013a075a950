//! `slipway` binary: parse, set up logging, run. All behaviour lives in the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;
use slipway::config::Cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long work still running when the command is done may hold the exit up: a `git push`
/// started before SIGTERM and not finished within the grace period, say, which would
/// otherwise keep the process (and a Kubernetes pod's termination) waiting for its own
/// timeout.
const EXIT_WAIT: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let cli = Cli::parse();
    slipway::telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(slipway::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // A client command's chosen end (`--wait`: failed, timed out) with its own code.
        Err(error) if error.downcast_ref::<slipway::client::Exit>().is_some() => {
            let exit = error.downcast_ref::<slipway::client::Exit>();
            let (code, message) = exit.map_or((1, String::new()), |e| (e.code, e.message.clone()));
            eprintln!("{message}");
            ExitCode::from(code)
        }
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    };
    runtime.shutdown_timeout(EXIT_WAIT);
    code
}
