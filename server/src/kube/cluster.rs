//! Connections to the configured clusters.

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};

use crate::config::{ClusterAccess, ControlPlaneSettings};

/// A named cluster and a client for it.
#[derive(Clone)]
pub struct Cluster {
    /// The configured name.
    pub name: String,
    /// The client (cheap to clone).
    pub client: Client,
}

/// Builds a client for every configured cluster. Reads the kubeconfig (or the pod's service
/// account) but does not contact the clusters: an unreachable cluster is a run-time state the
/// watchers report, a missing context is a configuration error reported here.
pub async fn connect(settings: &ControlPlaneSettings) -> anyhow::Result<Vec<Cluster>> {
    let mut kubeconfig: Option<Kubeconfig> = None;
    let mut clusters = Vec::new();
    for cluster in &settings.clusters {
        let mut config = match &cluster.access {
            ClusterAccess::InCluster => Config::incluster().map_err(|e| {
                anyhow::anyhow!(
                    "cluster {}: the in-cluster configuration is not available ({e}); is Slipway running in a pod with a service account?",
                    cluster.name
                )
            })?,
            ClusterAccess::Context(context) => {
                if kubeconfig.is_none() {
                    kubeconfig = Some(read_kubeconfig(settings)?);
                }
                let file = kubeconfig.clone().expect("read above");
                if !file.contexts.iter().any(|c| &c.name == context) {
                    anyhow::bail!(
                        "cluster {}: the kubeconfig has no context {context:?} (it has: {})",
                        cluster.name,
                        file.contexts
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                let options = KubeConfigOptions {
                    context: Some(context.clone()),
                    ..KubeConfigOptions::default()
                };
                Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| anyhow::anyhow!("cluster {}: {e}", cluster.name))?
            }
        };
        // kube retries 429/503/504 up to 15 times with delays growing to 1000 s by default:
        // a page would hang for minutes. The watchers back off on their own; one-off calls
        // fail at once and say so.
        config.default_retry = false;
        let client = Client::try_from(config)
            .map_err(|e| anyhow::anyhow!("cluster {}: {e}", cluster.name))?;
        clusters.push(Cluster {
            name: cluster.name.clone(),
            client,
        });
    }
    Ok(clusters)
}

fn read_kubeconfig(settings: &ControlPlaneSettings) -> anyhow::Result<Kubeconfig> {
    match &settings.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|e| {
            anyhow::anyhow!(
                "reading the kubeconfig {} (SLIPWAY_KUBECONFIG): {e}",
                path.display()
            )
        }),
        None => Kubeconfig::read().map_err(|e| {
            anyhow::anyhow!("reading the kubeconfig ($KUBECONFIG or ~/.kube/config): {e}")
        }),
    }
}
