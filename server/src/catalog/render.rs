//! From validated values to the file a request writes: manifests as data, stamped with the
//! request's labels and annotations, serialized as YAML.
//!
//! Templates work on the parsed tree, never on text: an offering's manifests are YAML data
//! whose string values may hold `{{ expression }}`s (Jinja syntax, minijinja). A string that
//! is one expression becomes the expression's value with its type (number, list, object …);
//! an expression that yields nothing (undefined or none) removes its key; a string with text
//! around expressions becomes a string. User values are data to the engine — never parsed as
//! template or as YAML — so quotes, newlines, `{{ }}` or YAML anchors in a value stay that
//! value. The result is serialized by a YAML library.

use std::sync::LazyLock;

use app::catalog::RequestDraft;
use app::domain::CurrentUser;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value, json};

use super::offering::{DEFAULT_PATH, Offering, Output};

/// The largest file a request may produce.
pub const MAX_FILE_BYTES: usize = 512 * 1024;

static ENGINE: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    // Templates come from the platform team; values from anyone. Fuel bounds what a value
    // can make a template do (a loop over a user-given number, say).
    env.set_fuel(Some(50_000));
    env.set_recursion_limit(32);
    env
});

/// A rendering failure: the offering's template is at fault, or the result is unusable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// The file a request would write.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Path in the repository (below the environment's prefix).
    pub path: String,
    /// The manifests.
    pub manifests: Vec<Value>,
    /// The YAML text (documents separated by `---`).
    pub content: String,
}

/// Who asks, and under which id the request will travel.
pub struct Stamp<'a> {
    /// The request id (UUID v7).
    pub request_id: &'a str,
    /// The requesting user.
    pub user: &'a CurrentUser,
    /// The namespace for namespaced manifests.
    pub namespace: &'a str,
}

/// Compiles every expression of an offering's output once, so a broken template is reported
/// when the catalog loads, not when someone submits.
pub fn check_templates(path: &str, manifests: &[Value]) -> Result<(), RenderError> {
    let mut problems = Vec::new();
    check_string(path, &mut problems);
    for manifest in manifests {
        if !manifest.is_object() {
            problems.push("every manifest must be a mapping".to_owned());
        }
        walk_strings(manifest, &mut |s| check_string(s, &mut problems));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RenderError(problems.join("; ")))
    }
}

fn check_string(s: &str, problems: &mut Vec<String>) {
    if let Some(expr) = whole_expression(s) {
        if let Err(e) = ENGINE.compile_expression(expr) {
            problems.push(format!("expression {s:?}: {e}"));
        }
    } else if (s.contains("{{") || s.contains("{%"))
        && let Err(e) = ENGINE.template_from_str(s)
    {
        problems.push(format!("template {s:?}: {e}"));
    }
}

fn walk_strings(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

/// `{{ expr }}` with nothing around it and no second expression inside.
fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Renders a request's file. The values must already be valid for the offering.
pub fn render(
    offering: &Offering,
    draft: &RequestDraft,
    stamp: &Stamp<'_>,
) -> Result<Rendered, RenderError> {
    let summary = &offering.summary;
    let context = json!({
        "name": draft.name,
        "team": draft.team,
        "env": draft.environment,
        "namespace": stamp.namespace,
        "values": offering.secrets.for_templates(&draft.values, &draft.name),
        "kind": summary.kind,
        "offering": {"id": summary.id, "version": summary.version},
        "request_id": stamp.request_id,
        "user": {"name": stamp.user.name, "email": stamp.user.email},
    });
    let ctx = minijinja::Value::from(minijinja::value::Serde(&context));
    let (path_template, mut manifests) = match &offering.output {
        Output::Template { path, manifests } => (
            path.as_str(),
            manifests
                .iter()
                .map(|m| expand(m, &ctx))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
        ),
        Output::Claim => {
            let mut metadata = Map::new();
            metadata.insert("name".into(), json!(draft.name));
            if offering.namespaced {
                metadata.insert("namespace".into(), json!(stamp.namespace));
            }
            let manifest = json!({
                "apiVersion": summary.api_version,
                "kind": summary.kind,
                "metadata": metadata,
                "spec": draft.values,
            });
            (DEFAULT_PATH, vec![manifest])
        }
    };
    manifests.extend(
        offering
            .secrets
            .external_secrets(&draft.values, &draft.name, &draft.team, stamp.namespace)
            .map_err(RenderError)?,
    );
    for manifest in &mut manifests {
        stamp_manifest(manifest, offering, draft, stamp)?;
    }
    let path = ENGINE
        .render_str(path_template, &ctx)
        .map_err(|e| RenderError(format!("the path template failed: {e}")))?;
    check_path(&path)?;
    let content = to_yaml(&manifests)?;
    Ok(Rendered {
        path,
        manifests,
        content,
    })
}

/// Expands expressions in a tree. `None`: the node yields nothing and is dropped.
/// Manifests as one YAML file (documents separated by `---`), within [`MAX_FILE_BYTES`].
pub fn to_yaml(manifests: &[Value]) -> Result<String, RenderError> {
    let mut content = String::new();
    for (i, manifest) in manifests.iter().enumerate() {
        if i > 0 {
            content.push_str("---\n");
        }
        content.push_str(
            &serde_saphyr::to_string(manifest).map_err(|e| {
                RenderError(format!("the manifest could not be written as YAML: {e}"))
            })?,
        );
    }
    if content.len() > MAX_FILE_BYTES {
        return Err(RenderError(format!(
            "the file would be {} KiB; the limit is {} KiB",
            content.len() / 1024,
            MAX_FILE_BYTES / 1024
        )));
    }
    Ok(content)
}

fn expand(node: &Value, context: &minijinja::Value) -> Result<Option<Value>, RenderError> {
    Ok(match node {
        Value::String(s) => {
            if let Some(expr) = whole_expression(s) {
                let value = ENGINE
                    .compile_expression(expr)
                    .and_then(|e| e.eval(context.clone()))
                    .map_err(|e| RenderError(format!("expression {s:?} failed: {e}")))?;
                if value.is_undefined() || value.is_none() {
                    None
                } else {
                    Some(
                        <Value as serde::Deserialize>::deserialize(value)
                            .map_err(|e| RenderError(format!("expression {s:?}: {e}")))?,
                    )
                }
            } else if s.contains("{{") || s.contains("{%") {
                Some(Value::String(
                    ENGINE
                        .render_str(s, context.clone())
                        .map_err(|e| RenderError(format!("template {s:?} failed: {e}")))?,
                ))
            } else {
                Some(node.clone())
            }
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(v) = expand(item, context)? {
                    out.push(v);
                }
            }
            Some(Value::Array(out))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                if let Some(v) = expand(value, context)? {
                    out.insert(key.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

/// Adds Slipway's labels and annotations, and checks the manifest is a Kubernetes object.
fn stamp_manifest(
    manifest: &mut Value,
    offering: &Offering,
    draft: &RequestDraft,
    stamp: &Stamp<'_>,
) -> Result<(), RenderError> {
    for key in ["apiVersion", "kind"] {
        if manifest
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(RenderError(format!("a manifest has no {key}")));
        }
    }
    let metadata = manifest
        .as_object_mut()
        .and_then(|m| {
            m.entry("metadata")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        })
        .ok_or_else(|| RenderError("a manifest's metadata is not a mapping".into()))?;
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    app::catalog::check_name(name).map_err(|e| {
        RenderError(format!(
            "a manifest's metadata.name {name:?} is not valid: {e}"
        ))
    })?;
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| RenderError("metadata.labels is not a mapping".into()))?;
    labels.insert("slipway.dev/team".into(), json!(draft.team));
    labels.insert("slipway.dev/environment".into(), json!(draft.environment));
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| RenderError("metadata.annotations is not a mapping".into()))?;
    annotations.insert("slipway.dev/request-id".into(), json!(stamp.request_id));
    annotations.insert(
        "slipway.dev/offering".into(),
        json!(format!(
            "{}@{}",
            offering.summary.id, offering.summary.version
        )),
    );
    annotations.insert("slipway.dev/requested-by".into(), json!(stamp.user.email));
    Ok(())
}

/// Checks at load that a path template puts every team's file in that team's folder of the
/// environment (`<env>/<team>/…`, the layout default's start), rendered for each environment
/// with a probe team and name. The same rule is enforced on every rendered path; this tells
/// the platform team at load instead of a requester at submission.
pub fn check_path_template(
    path: &str,
    kind: &str,
    environments: &[String],
) -> Result<(), RenderError> {
    const TEAM: &str = "slipway-probe-team";
    for env in environments {
        let context = json!({
            "name": "slipway-probe-name", "team": TEAM, "env": env, "namespace": TEAM,
            "values": {}, "kind": kind, "offering": {"id": "", "version": ""},
            "request_id": "", "user": {"name": "", "email": ""},
        });
        let rendered = ENGINE
            .render_str(
                path,
                minijinja::Value::from(minijinja::value::Serde(&context)),
            )
            .map_err(|e| RenderError(format!("the path template failed: {e}")))?;
        if !rendered.starts_with(&format!("{env}/{TEAM}/")) {
            return Err(RenderError(format!(
                "the path template {path:?} must start with \"{{{{ env }}}}/{{{{ team }}}}/\" so each team writes only into its own folder (it renders {rendered:?})"
            )));
        }
    }
    Ok(())
}

/// Every rendered manifest that names a namespace names the team's, or one the offering file
/// writes literally (the platform's choice, such as `argocd` for an Application): a value
/// cannot steer a manifest into another team's namespace.
pub fn check_namespaces(
    offering: &Offering,
    manifests: &[Value],
    namespace: &str,
) -> Result<(), RenderError> {
    let text = |m: &Value, pointer: &str| {
        m.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    // (apiVersion, kind, namespace) written literally in the offering file.
    let literal: Vec<(Option<String>, Option<String>, String)> = match &offering.output {
        Output::Template { manifests, .. } => manifests
            .iter()
            .filter_map(|m| {
                let ns = text(m, "/metadata/namespace")?;
                (!ns.contains("{{") && !ns.contains("{%"))
                    .then(|| (text(m, "/apiVersion"), text(m, "/kind"), ns))
            })
            .collect(),
        Output::Claim => Vec::new(),
    };
    for manifest in manifests {
        let Some(found) = manifest.pointer("/metadata/namespace") else {
            continue;
        };
        let allowed = found.as_str().is_some_and(|ns| {
            ns == namespace
                || literal.iter().any(|(api_version, kind, literal_ns)| {
                    literal_ns == ns
                        && *api_version == text(manifest, "/apiVersion")
                        && *kind == text(manifest, "/kind")
                })
        });
        if !allowed {
            return Err(RenderError(format!(
                "a manifest names the namespace {found}; the team's is {namespace:?}"
            )));
        }
    }
    Ok(())
}

/// A repository path: relative, no `.`/`..` segments, plain characters, a YAML file.
pub fn check_path(path: &str) -> Result<(), RenderError> {
    let bad = |why: &str| {
        Err(RenderError(format!(
            "the path {path:?} is not allowed: {why}"
        )))
    };
    if path.is_empty() || path.starts_with('/') || path.contains("//") {
        return bad("it must be a relative path");
    }
    if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return bad("it must end in .yaml");
    }
    for segment in path.split('/') {
        if segment == "." || segment == ".." || segment.starts_with('.') {
            return bad("no hidden, . or .. segments");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return bad("use letters, digits, '-', '_' and '.'");
        }
    }
    Ok(())
}
