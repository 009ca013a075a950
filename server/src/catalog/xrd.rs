//! Offerings from Crossplane CompositeResourceDefinitions (v1 and v2) and Kratix Promises.
//!
//! ```text
//!  XRD v1 with claimNames ─▶ the claim kind, namespaced; machinery: compositionRef,
//!                            compositionSelector, writeConnectionSecretToRef (advanced)
//!  XRD v1 without claims  ─▶ the XR kind, cluster-scoped; same machinery
//!  XRD v2 (scope Namespaced, the default, or Cluster) ─▶ the XR kind; machinery under
//!                            spec.crossplane (compositionRef, compositionSelector)
//!  Kratix Promise         ─▶ the kind of the CRD in spec.api
//! ```
//! The form is the `spec` schema of the served, referenceable version (Promise: served,
//! storage). Crossplane fills in the machinery fields itself when generating the CRD, so they
//! are not in the XRD's schema: they are added here, folded under "Advanced"; fields the
//! portal must never set (`resourceRef(s)`, `claimRef`) are removed if an XRD lists them.
//! Pure functions over the object's JSON: tested on every fixture.

use app::catalog::{OfferingSource, OfferingSummary, humanize};
use serde_json::{Value, json};

use super::offering::{Offering, Output, compile};
use super::{Error, Result, schema};

/// Fields Crossplane manages that a request must never set.
const FORBIDDEN: &[&str] = &["resourceRef", "resourceRefs", "claimRef"];

/// Builds the offering for an XRD or a Kratix Promise object.
pub fn from_object(object: &Value, environments: &[String]) -> Result<Offering> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_owned();
    let invalid = |problem: &str| Error::Invalid {
        source_name: name.clone(),
        problem: problem.to_owned(),
    };
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (source, spec) = match (api_version, kind) {
        (v, "CompositeResourceDefinition") if v.starts_with("apiextensions.crossplane.io/") => {
            (OfferingSource::Xrd, object.get("spec"))
        }
        (v, "Promise") if v.starts_with("platform.kratix.io/") => {
            (OfferingSource::Promise, object.pointer("/spec/api/spec"))
        }
        _ => {
            return Err(invalid(
                "neither a CompositeResourceDefinition nor a Kratix Promise",
            ));
        }
    };
    let spec = spec.ok_or_else(|| invalid("it has no spec (or no spec.api)"))?;
    let text = |pointer: &str| {
        spec.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let group = text("/group").ok_or_else(|| invalid("spec.group is missing"))?;
    let xr_kind = text("/names/kind").ok_or_else(|| invalid("spec.names.kind is missing"))?;
    let claim_kind = text("/claimNames/kind");
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("spec.versions is missing"))?;
    let flag = |v: &Value, key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
    let preferred = if source == OfferingSource::Promise {
        "storage"
    } else {
        "referenceable"
    };
    let version = versions
        .iter()
        .find(|v| flag(v, "served") && flag(v, preferred))
        .or_else(|| versions.iter().find(|v| flag(v, "served")))
        .ok_or_else(|| invalid("no served version"))?;
    let version_name = version
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a version has no name"))?;
    let root = version
        .pointer("/schema/openAPIV3Schema")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    let mut values_schema = root
        .pointer("/properties/spec")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    if !values_schema.is_object() {
        return Err(invalid("properties.spec is not a schema"));
    }

    let xrd_v2 = source == OfferingSource::Xrd && api_version.ends_with("/v2");
    let scope = text("/scope");
    // Crossplane 2 serves v1 XRDs at v2 too, with `scope: LegacyCluster`: they keep their
    // claims.
    // v2 scopes Namespaced and Cluster forbid claimNames: with claims and no scope, the
    // object is a legacy one too.
    let legacy = !xrd_v2
        || scope.as_deref() == Some("LegacyCluster")
        || (scope.is_none() && claim_kind.is_some());
    let (offered_kind, namespaced) = match (source, &claim_kind) {
        (OfferingSource::Xrd, Some(claim)) if legacy => (claim.clone(), true),
        (OfferingSource::Xrd, None) if !xrd_v2 => (xr_kind.clone(), false),
        // v2 XRDs are namespaced unless they say Cluster (or LegacyCluster).
        (OfferingSource::Xrd, _) => (
            xr_kind.clone(),
            !matches!(scope.as_deref(), Some("Cluster" | "LegacyCluster")),
        ),
        _ => (xr_kind.clone(), scope.as_deref() != Some("Cluster")),
    };

    if source == OfferingSource::Xrd {
        strip_forbidden(&mut values_schema);
        let enforced = spec.get("enforcedCompositionRef").is_some();
        add_machinery(
            &mut values_schema,
            legacy,
            claim_kind.is_some() && legacy,
            enforced,
        );
    }

    // Environment-specific fields, named by annotation: an XRD's schema keeps to the API
    // server's keywords. A path the schema lacks is logged, not refused.
    if let Some(list) = object
        .pointer(&format!(
            "/metadata/annotations/{}",
            super::promotion::KEEP_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
    {
        for missing in super::promotion::mark(&mut values_schema, list.split(',')) {
            tracing::warn!(xrd = %name, field = %missing, "{} names a field the schema does not have", super::promotion::KEEP_ANNOTATION);
        }
    }

    // A claim takes no reference, so nothing here is refused at load.
    let secrets = super::secrets::mark(&mut values_schema, false).unwrap_or_default();
    let form = schema::form_model(&values_schema);
    let annotation = |key: &str| {
        object
            .pointer(&format!("/metadata/annotations/{}", key.replace('/', "~1")))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut tags: Vec<String> = spec
        .pointer("/names/categories")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    tags.push(match source {
        OfferingSource::Promise => "kratix".to_owned(),
        _ => "crossplane".to_owned(),
    });
    tags.sort();
    tags.dedup();
    let description = annotation("slipway.dev/description")
        .or_else(|| {
            root.pointer("/description")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            values_schema
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            format!(
                "{offered_kind} ({group}), from the cluster's {}.",
                source.label()
            )
        });
    let teams: Vec<String> = annotation("slipway.dev/teams")
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let summary = OfferingSummary {
        id: name.clone(),
        title: annotation("slipway.dev/title").unwrap_or_else(|| humanize(&offered_kind)),
        description: description.trim().to_owned(),
        owner: annotation("slipway.dev/owner").unwrap_or_else(|| "platform".to_owned()),
        tags,
        icon: annotation("slipway.dev/icon").unwrap_or_default(),
        version: version_name.to_owned(),
        source,
        api_version: format!("{group}/{version_name}"),
        kind: offered_kind,
        environments: environments.to_vec(),
    };
    let object_rules = root
        .get("x-kubernetes-validations")
        .cloned()
        .unwrap_or(Value::Null);
    let mut notes = Vec::new();
    for rule in object_rules.as_array().into_iter().flatten() {
        if let Some(text) = rule.get("rule").and_then(Value::as_str)
            && !super::cel::can_check(text)
        {
            notes.push(format!("Checked by the cluster, not here: `{text}`"));
        }
    }
    compile(
        summary,
        teams,
        values_schema,
        namespaced,
        Output::Claim,
        notes,
        form,
        object_rules,
        secrets,
        &name,
    )
}

fn strip_forbidden(schema: &mut Value) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for key in FORBIDDEN {
            props.shift_remove(*key);
        }
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| !FORBIDDEN.iter().any(|f| r == f));
    }
}

/// Adds the composition-selection (and, for v1, connection-secret) fields Crossplane puts in
/// the generated CRD, as advanced fields, unless the XRD's schema already has them.
fn add_machinery(schema: &mut Value, legacy: bool, claim: bool, enforced: bool) {
    let name_ref = |what: &str| {
        json!({
            "type": "object",
            "x-ui-advanced": true,
            "description": what,
            "required": ["name"],
            "properties": {"name": {"type": "string"}}
        })
    };
    let selector = json!({
        "type": "object",
        "x-ui-advanced": true,
        "description": "Pick the composition by its labels instead of by name.",
        "required": ["matchLabels"],
        "properties": {"matchLabels": {
            "type": "object",
            "additionalProperties": {"type": "string"}
        }}
    });
    let mut extra = serde_json::Map::new();
    if !enforced {
        extra.insert(
            "compositionRef".into(),
            name_ref("The composition to use, by name (else the platform's default)."),
        );
        extra.insert("compositionSelector".into(), selector);
    }
    if legacy {
        let mut secret = name_ref("Write the connection details to a Secret of this name.");
        if !claim {
            secret["properties"]["namespace"] = json!({"type": "string"});
            secret["required"] = json!(["name", "namespace"]);
        }
        extra.insert("writeConnectionSecretToRef".into(), secret);
    }
    if extra.is_empty() {
        return;
    }
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    obj.entry("type").or_insert_with(|| json!("object"));
    let props = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(props) = props else { return };
    if legacy {
        for (key, value) in extra {
            props.entry(key).or_insert(value);
        }
    } else {
        let crossplane = props.entry("crossplane").or_insert_with(|| {
            json!({
                "type": "object",
                "x-ui-advanced": true,
                "description": "How Crossplane composes this resource.",
                "properties": {}
            })
        });
        if let Some(inner) = crossplane
            .get_mut("properties")
            .and_then(Value::as_object_mut)
        {
            for (key, mut value) in extra {
                // Inside the advanced group, the fields themselves need no second fold.
                if let Some(o) = value.as_object_mut() {
                    o.remove("x-ui-advanced");
                }
                inner.entry(key).or_insert(value);
            }
        }
    }
}
