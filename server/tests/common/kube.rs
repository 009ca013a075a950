//! Clusters for tests: Kubernetes API doubles serving the sample catalog's claim kinds, and
//! one kubeconfig with a context per cluster, as a platform team would mount it.

use kube_double::{Kind, KubeDouble};

/// Serves the sample PostgreSQL claim, its composite, an RDS managed resource and Argo CD
/// Applications (no Flux).
pub fn register_kinds(double: &KubeDouble) {
    double.register(Kind::new(
        "database.example.org",
        "v1alpha1",
        "PostgreSQLInstance",
        true,
    ));
    double.register(Kind::new(
        "database.example.org",
        "v1alpha1",
        "XPostgreSQLInstance",
        false,
    ));
    double.register(Kind::new(
        "rds.aws.crossplane.io",
        "v1alpha1",
        "DBInstance",
        false,
    ));
    double.register(Kind::new("argoproj.io", "v1alpha1", "Application", true));
}

/// A kubeconfig file with one context per `(name, server URL)`, the first current, all
/// authenticating with the doubles' token.
pub fn kubeconfig(contexts: &[(&str, String)]) -> tempfile::NamedTempFile {
    let current = contexts.first().map_or("", |(name, _)| name);
    let mut text = format!("apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n");
    for (name, url) in contexts {
        text.push_str(&format!("- name: {name}\n  cluster:\n    server: {url}\n"));
    }
    text.push_str("contexts:\n");
    for (name, _) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: double\n"
        ));
    }
    text.push_str(&format!(
        "users:\n- name: double\n  user:\n    token: {}\n",
        kube_double::TOKEN
    ));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}
