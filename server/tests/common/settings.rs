//! Settings for tests and benches, checked exactly as `slipway serve` checks its arguments.
//! (Benches include this file by path.)

/// The origin tests pretend the portal is served at.
pub const ORIGIN: &str = "http://127.0.0.1:3000";

/// Settings as `slipway serve` checks them from `args` (plus a fresh data folder and this
/// origin), with the timings tests need: short retries, leases and polls.
pub fn settings(args: &[&str]) -> slipway::config::Settings {
    settings_at(ORIGIN, args)
}

/// [`settings`] for a portal served at `origin`.
pub fn settings_at(origin: &str, args: &[&str]) -> slipway::config::Settings {
    use clap::Parser as _;
    let data = std::env::temp_dir().join(format!("slipway-test-{}", uuid::Uuid::now_v7().simple()));
    let data = data.to_str().expect("UTF-8 temp folder").to_owned();
    let mut argv = vec![
        "slipway",
        "serve",
        "--data-dir",
        &data,
        "--public-url",
        origin,
    ];
    argv.extend_from_slice(args);
    let slipway::config::Command::Serve(serve) = slipway::config::Cli::try_parse_from(argv)
        .expect("test arguments parse")
        .command
    else {
        unreachable!("serve was asked for");
    };
    let mut settings = serve.settings().expect("test settings are valid");
    // Tests sign in and call the API far faster than a person; the limits have their own test.
    settings.limits.sign_in_per_minute = 1_000_000;
    settings.limits.api_per_minute = 1_000_000;
    settings.limits.user_per_minute = 1_000_000;
    settings.git.retry_base = std::time::Duration::from_millis(200);
    settings.git.retry_max = std::time::Duration::from_secs(2);
    settings.git.lease_ttl = std::time::Duration::from_secs(5);
    settings.git.poll = std::time::Duration::from_millis(500);
    settings.session_ttl = std::time::Duration::from_secs(3600);
    settings.session_idle = std::time::Duration::from_secs(1800);
    settings
}
