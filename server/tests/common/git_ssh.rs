//! Git over SSH for tests: Debian's OpenSSH server on a loopback port with its own host key
//! and configuration (never the machine's), accepting one client key, serving the bare
//! repositories on disk as `ssh://<user>@127.0.0.1:<port>/<absolute path>`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sshd; killed when dropped.
pub struct GitSsh {
    child: Child,
    port: u16,
    user: String,
    /// The client key sshd accepts.
    pub client_key: PathBuf,
    /// A known-hosts file naming this server's host key.
    pub known_hosts: PathBuf,
    /// A client key sshd does not accept.
    pub stranger_key: PathBuf,
    /// A known-hosts file naming another host key for this address.
    pub wrong_known_hosts: PathBuf,
}

impl Drop for GitSsh {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (openssh-client, installed by .ci/bootstrap.sh)")
        .success();
    assert!(ok, "ssh-keygen {}", path.display());
}

impl GitSsh {
    /// Starts sshd with its files in `dir`.
    pub fn start(dir: &Path) -> Self {
        let host_key = dir.join("host_key");
        let other_host_key = dir.join("other_host_key");
        let client_key = dir.join("client_key");
        let stranger_key = dir.join("stranger_key");
        for key in [&host_key, &other_host_key, &client_key, &stranger_key] {
            keygen(key);
        }
        let authorized = dir.join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        // sshd needs its privilege-separation folder even when started by hand.
        std::fs::create_dir_all("/run/sshd").ok();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nPidFile {}\n\
                 SetEnv PATH={}\nLogLevel ERROR\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display(),
                std::env::var("PATH").unwrap_or_default(),
            ),
        )
        .unwrap();
        let line = |key: &Path| {
            let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
            let mut parts = public.split_whitespace();
            format!(
                "[127.0.0.1]:{port} {} {}\n",
                parts.next().unwrap(),
                parts.next().unwrap()
            )
        };
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, line(&host_key)).unwrap();
        let wrong_known_hosts = dir.join("wrong_known_hosts");
        std::fs::write(&wrong_known_hosts, line(&other_host_key)).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts (openssh-server, installed by .ci/bootstrap.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        GitSsh {
            child,
            port,
            user,
            client_key,
            known_hosts,
            stranger_key,
            wrong_known_hosts,
        }
    }

    /// The SSH URL of the bare repository at `path`.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }
}
