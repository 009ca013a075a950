//! A remote that stops answering: a TCP front for a real Git server that forwards every
//! connection, or — once told to stall — accepts connections and never says a word, as a
//! hung server or a black-holing proxy does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};

pub struct Stall {
    addr: SocketAddr,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stall {
    /// A front for `backend`, forwarding until [`Stall::set`] says otherwise.
    pub async fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if flag.load(Ordering::SeqCst) {
                    // Accepted, read from never, answered never: kept open until dropped.
                    held.push(client);
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Stall {
            addr,
            stalled,
            task,
        }
    }

    /// Stall (`true`) or forward (`false`) new connections.
    pub fn set(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }

    /// The URL of repository `name` through the front.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }
}
