//! `kube-double`: the Kubernetes API test double as a process, for the browser tests (the
//! portal under test is a separate process there).
//!
//! ```text
//! kube-double --listen 127.0.0.1:PORT [--seed FILE.yaml]...
//! ```
//! Seeds are applied in order (CustomResourceDefinitions first serve their kinds). The
//! bearer token is [`kube_double::TOKEN`]; tests write the kubeconfig themselves. Runs until
//! killed.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool reports on its output"
)]

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut seeds = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address")?;
                listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "--seed" => seeds.push(args.next().ok_or("--seed needs a file")?),
            other => return Err(format!("unknown argument {other:?} (use --listen, --seed)")),
        }
    }
    let double = kube_double::KubeDouble::start_on(listen)
        .await
        .map_err(|e| format!("listening on {listen}: {e}"))?;
    for seed in &seeds {
        let text = std::fs::read_to_string(seed).map_err(|e| format!("{seed}: {e}"))?;
        let applied = double
            .seed_yaml(&text)
            .map_err(|e| format!("{seed}: {e}"))?;
        println!("seeded {} objects from {seed}", applied.len());
    }
    println!("kube-double serving on {}", double.url());
    std::future::pending::<()>().await;
    Ok(())
}
