//! The Kubernetes manifests under `deploy/kubernetes/`: each overlay rendered by `kubectl
//! kustomize` as Argo CD or Flux would, every object checked against the Kubernetes API's
//! types (read into k8s-openapi's type and written back: a misspelt or unknown field, or a
//! value of the wrong type, comes back different), and the Deployment's probes, security
//! context, volumes and the settings that tie it to the binary asserted.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The objects of `deploy/kubernetes/overlays/<overlay>`, rendered.
fn render(overlay: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/kubernetes/overlays")
        .join(overlay);
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("kubectl (with its built-in kustomize) is on the machine");
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_saphyr::from_multiple(&String::from_utf8(output.stdout).unwrap()).unwrap()
}

/// The first path at which `a` and `b` differ.
fn difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => difference(&format!("{path}.{k}"), p, q),
                    (Some(p), None) => Some(format!("{path}.{k}: {p} is not a field of the type")),
                    (None, Some(q)) => Some(format!("{path}.{k}: {q} added by the type")),
                    (None, None) => None,
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| difference(&format!("{path}[{i}]"), p, q)),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} came back as {b}")),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    difference("", object, &back).map_or(Ok(()), Err)
}

/// Every object is of a known kind and survives the round trip through its API type.
fn validate(objects: &[Value]) {
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let checked = match kind {
            "Deployment" => round_trip::<Deployment>(object),
            "Service" => round_trip::<Service>(object),
            "ServiceAccount" => round_trip::<ServiceAccount>(object),
            "ConfigMap" => round_trip::<ConfigMap>(object),
            "PersistentVolumeClaim" => round_trip::<PersistentVolumeClaim>(object),
            "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(object),
            "NetworkPolicy" => round_trip::<NetworkPolicy>(object),
            "ClusterRole" => round_trip::<ClusterRole>(object),
            "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(object),
            other => Err(format!("a kind the test does not know: {other:?}")),
        };
        if let Err(error) = checked {
            panic!("{kind} {}: {error}", object["metadata"]["name"]);
        }
    }
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let mut found = objects.iter().filter(|o| o["kind"] == kind);
    let first = found.next().unwrap_or_else(|| panic!("a {kind}"));
    assert!(found.next().is_none(), "one {kind}");
    first
}

/// The Deployment's container's environment: literal values and those of its ConfigMap.
fn environment(objects: &[Value]) -> BTreeMap<String, Value> {
    let container = &one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let config = one(objects, "ConfigMap");
    assert_eq!(
        container["envFrom"][0]["configMapRef"]["name"], config["metadata"]["name"],
        "the settings come from the generated ConfigMap"
    );
    let mut env: BTreeMap<String, Value> = config["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for entry in container["env"].as_array().unwrap() {
        let value = entry
            .get("value")
            .or_else(|| entry.get("valueFrom"))
            .cloned()
            .unwrap();
        env.insert(entry["name"].as_str().unwrap().to_owned(), value);
    }
    env
}

/// What every overlay must have: probes on the health endpoints, non-root with a read-only
/// root filesystem, writable data and temporary folders, secrets from mounted files.
fn common_checks(objects: &[Value]) {
    let deployment = one(objects, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["args"], serde_json::json!(["serve"]));
    let port = |name: &str| {
        container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_i64())
    };
    let env = environment(objects);
    assert_eq!(
        env["SLIPWAY_LISTEN"],
        format!("0.0.0.0:{}", port("http").unwrap())
    );
    for (probe, path) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["securityContext"]["runAsUser"].as_i64().unwrap() > 0);
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(
        container["resources"]["requests"]["memory"].is_string()
            && container["resources"]["limits"]["memory"].is_string()
    );

    let mounts: BTreeMap<&str, &str> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap(),
                m["name"].as_str().unwrap(),
            )
        })
        .collect();
    let volumes: BTreeMap<&str, &Value> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    for name in mounts.values() {
        assert!(
            volumes.contains_key(name),
            "volume {name} mounted and defined"
        );
    }
    let data_dir = env["SLIPWAY_DATA_DIR"].as_str().unwrap();
    assert!(
        mounts.contains_key(data_dir),
        "SLIPWAY_DATA_DIR is a volume"
    );
    assert!(
        mounts.contains_key("/tmp"),
        "/tmp is writable (git's temporary files)"
    );
    // Every *_FILE setting points into a mounted Secret.
    for (name, value) in &env {
        if let Some(path) = name.strip_suffix("_FILE").and(value.as_str()) {
            let (folder, _) = path.rsplit_once('/').unwrap();
            let volume = mounts
                .get(folder)
                .unwrap_or_else(|| panic!("{name}={path}: its folder is mounted"));
            assert!(
                volumes[volume]["secret"]["secretName"].is_string(),
                "{name}: a Secret"
            );
        }
        assert!(
            !name.ends_with("SECRET") && !name.ends_with("TOKEN"),
            "{name}: secrets come from files, not the environment"
        );
    }
    assert_eq!(
        pod["serviceAccountName"],
        one(objects, "ServiceAccount")["metadata"]["name"]
    );
    let binding = one(objects, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], pod["serviceAccountName"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        deployment["metadata"]["namespace"]
    );
    // The Service and the policies select the Deployment's pods.
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for selector in [
        &one(objects, "Service")["spec"]["selector"],
        &one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        &one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
    ] {
        for (key, value) in selector.as_object().unwrap() {
            assert_eq!(&labels[key], value, "selects the pods by {key}");
        }
    }
}

#[test]
fn the_single_overlay_renders_valid_objects_one_replica_on_sqlite_on_a_volume() {
    let objects = render("single");
    validate(&objects);
    common_checks(&objects);
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let env = environment(&objects);
    let data_dir = env["SLIPWAY_DATA_DIR"].as_str().unwrap();
    let database = env["DATABASE_URL"].as_str().unwrap();
    assert!(
        database.starts_with(&format!("sqlite://{data_dir}/")),
        "the SQLite file is on the data volume: {database}"
    );
    let data = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "data")
        .unwrap();
    assert_eq!(
        data["persistentVolumeClaim"]["claimName"],
        one(&objects, "PersistentVolumeClaim")["metadata"]["name"]
    );
    assert!(data.get("emptyDir").is_none(), "{data}");
}

#[test]
fn the_ha_overlay_renders_valid_objects_replicas_on_postgresql_spread_and_scraped() {
    let objects = render("ha");
    validate(&objects);
    common_checks(&objects);
    assert!(
        objects.iter().all(|o| o["kind"] != "PersistentVolumeClaim"),
        "no shared volume: each replica's Git cache is its own"
    );
    let deployment = one(&objects, "Deployment");
    assert!(deployment["spec"]["replicas"].as_i64().unwrap() >= 2);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    let env = environment(&objects);
    assert_eq!(
        env["DATABASE_URL"]["secretKeyRef"]["name"],
        "slipway-database"
    );
    let metrics = env["SLIPWAY_METRICS_LISTEN"].as_str().unwrap();
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(
        metrics.rsplit_once(':').unwrap().1,
        annotations["prometheus.io/port"].as_str().unwrap(),
        "Prometheus scrapes the admin listener"
    );
    assert_eq!(
        one(&objects, "PodDisruptionBudget")["spec"]["minAvailable"],
        1
    );
    assert!(
        one(&objects, "NetworkPolicy")
            .to_string()
            .contains("\"metrics\""),
        "the metrics port is open to the scraper"
    );
}

/// The check itself: a misspelt field and a value of the wrong type are caught.
#[test]
fn the_round_trip_catches_a_misspelt_field_and_a_wrong_type() {
    let mut objects = render("single");
    let deployment = objects
        .iter_mut()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    let container = &mut deployment["spec"]["template"]["spec"]["containers"][0];
    container["readinessProbe"]["httpGet"]["paht"] = "/readyz".into();
    let error = round_trip::<Deployment>(deployment).unwrap_err();
    assert!(error.contains("paht"), "{error}");
    let container = &mut deployment["spec"]["template"]["spec"]["containers"][0];
    container["readinessProbe"]["httpGet"]
        .as_object_mut()
        .unwrap()
        .remove("paht");
    container["securityContext"]["runAsNonRoot"] = "yes".into();
    assert!(round_trip::<Deployment>(deployment).is_err());
}
