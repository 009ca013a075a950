//! The real `slipway` binary as a separate process — a replica, or the same portal after a
//! restart — so a crash is what a crash is: `kill -9`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `slipway serve`.
pub struct Replica {
    child: Child,
    /// Its address.
    pub origin: String,
    /// Its holder name prefix in leases (`HOSTNAME`).
    pub name: String,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Replica {
    /// Starts `slipway serve` named `name` over `database_url` with its own data folder under
    /// `dir`, and `args` (the remote, timings …). Returns once it answers `/readyz`.
    pub async fn start(dir: &Path, name: &str, database_url: &str, args: &[&str]) -> Self {
        let port = free_port();
        let origin = format!("http://127.0.0.1:{port}");
        let data = dir.join(format!("replica-{name}"));
        std::fs::create_dir_all(&data).unwrap();
        let log = dir.join(format!("replica-{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--site-root", dir.join("no-site").to_str().unwrap()])
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("HOSTNAME", name)
            .env("RUST_LOG", "warn,slipway=info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("the slipway binary starts");
        let replica = Replica {
            child,
            origin,
            name: name.to_owned(),
            log,
        };
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(res) = client
                .get(format!("{}/readyz", replica.origin))
                .send()
                .await
                && res.status().is_success()
            {
                return replica;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "replica {name} never became ready:\n{}",
                replica.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, as Kubernetes stops a pod: the orderly shutdown. Returns at once.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered");
    }

    /// Waits up to `within` for the process to exit; its status, `None` when still running.
    pub async fn exited(
        &mut self,
        within: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`: no shutdown, no lease released, nothing flushed.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL delivered");
        self.child.wait().expect("reaped");
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `kill -9` of another process by pid (a hook the test holds in place).
pub fn kill_pid(pid: &str) {
    let _ = Command::new("kill").args(["-9", pid.trim()]).status();
}

/// Waits until `path` exists (a hook's signal); its content.
pub async fn wait_for_file(path: &Path, what: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never happened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
