//! Logging: `tracing` with human-readable or JSON lines, filtered by `RUST_LOG`
//! (default: info for Slipway and its HTTP layer, warnings for everything else).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,slipway=info,tower_http=info"));
    // Standard error: standard output is what the client's commands print for scripts (a
    // container runtime collects both).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
