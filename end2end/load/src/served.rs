//! The release binary as a separate process, for the benches that load it from outside: its
//! data folder, its start, a development sign-in, and its resident memory from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The workspace's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("this crate sits in end2end/ of the workspace")
        .to_path_buf()
}

/// `SLIPWAY_BENCH_BIN`, else the release binary `make bench-pages` builds.
pub fn binary() -> PathBuf {
    let bin = std::env::var_os("SLIPWAY_BENCH_BIN")
        .map_or_else(|| workspace().join("target/release/slipway"), PathBuf::from);
    assert!(
        bin.exists(),
        "{} is missing: run the bench through make (it builds the release binary)",
        bin.display()
    );
    bin
}

/// `name` from the environment, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The database the bench's server uses: `SLIPWAY_BENCH_DATABASE_URL` (an empty PostgreSQL
/// database, as `make bench-pages-postgres` makes), else a SQLite file in `dir`.
pub fn database_url(dir: &Path) -> String {
    std::env::var("SLIPWAY_BENCH_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| format!("sqlite://{}/slipway.db", dir.display()))
}

/// `slipway` with its database (see [`database_url`]) and data folder in `dir`, logging
/// warnings only.
pub fn slipway(bin: &Path, dir: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .env("DATABASE_URL", database_url(dir))
        .env("SLIPWAY_DATA_DIR", dir)
        .env("RUST_LOG", "warn,slipway=info")
        // As the image runs it (deploy/image/build.sh): freed memory goes back after 10 ms.
        .env(
            "MIMALLOC_PURGE_DELAY",
            std::env::var("MIMALLOC_PURGE_DELAY").unwrap_or_else(|_| "10".into()),
        )
        .env_remove("SLIPWAY_CLUSTERS");
    command
}

/// A running `slipway serve`, killed when dropped.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    /// The port.
    pub port: u16,
    client: reqwest::Client,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts `command` (a `slipway` command without its subcommand) as `serve --dev-login`
    /// on a free port with the front end of `target/site`, limits raised for load, its log
    /// in `dir/serve.log`; returns once `/readyz` answers.
    pub async fn start(mut command: Command, dir: &Path) -> Served {
        let port = free_port();
        let log = std::fs::File::create(dir.join("serve.log")).expect("a log file");
        let child = command
            .args(["serve", "--dev-login"])
            .env("SLIPWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("SLIPWAY_SITE_ROOT", workspace().join("target/site"))
            .env("SLIPWAY_API_PER_MINUTE", "100000000")
            .env("SLIPWAY_USER_PER_MINUTE", "100000000")
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .expect("slipway serve starts");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let served = Served {
            child,
            origin: format!("http://127.0.0.1:{port}"),
            port,
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while served
            .client
            .get(format!("{}/readyz", served.origin))
            .send()
            .await
            .map_or(true, |r| !r.status().is_success())
        {
            assert!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        served
    }

    /// Signs in as a development persona; the `Cookie` header's value.
    pub async fn sign_in(&self, handle: &str) -> String {
        let response = self
            .client
            .post(format!("{}/auth/dev-login", self.origin))
            .header("origin", &self.origin)
            .form(&[("handle", handle), ("next", "/catalog")])
            .send()
            .await
            .expect("the development login answers");
        response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned()
    }

    /// The body of `url` fetched once with `cookie` (a page's weight, before any compression).
    pub async fn body(&self, url: &str, cookie: &str) -> String {
        self.client
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("the page answers")
            .text()
            .await
            .expect("the page's body")
    }

    /// Resident memory of the server process (VmRSS), in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}
