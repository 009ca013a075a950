//! What the Kubernetes API server enforces of a structural schema beyond JSON Schema, and how
//! it defaults: one implementation on the form model, run by the browser as the person types
//! and by the server before anything reaches Git, so the two cannot disagree.
//!
//! - `x-kubernetes-list-type: set` — no two items equal; `map` — no two items with the same
//!   values of `x-kubernetes-list-map-keys` (composite keys compare all of them). As in the
//!   API server, the later item is reported: `Duplicate value`.
//! - `minProperties` / `maxProperties` on objects and maps.
//! - Fields an object's schema does not name are refused (the API server would drop them,
//!   or refuse them under strict field validation), unless it preserves unknown fields.
//! - `x-kubernetes-embedded-resource` — `apiVersion` (a group/version) and `kind` (a DNS-1035
//!   label once lower-cased) must be set, and `metadata.name` must be a valid path segment
//!   (reported at the object); the three are always known fields.
//! - Defaulting: a missing property with a `default` gets it (and the default's own nested
//!   defaults), in objects, list items and map values; a `null` where the schema does not
//!   allow one is dropped first, then defaulted — the API server prunes it the same way.
//!
//! `x-kubernetes-map-type` constrains no value (it tells server-side apply how to merge), and
//! `uniqueItems: true` is refused by the API server in any CRD, so an offering using it does
//! not load (see the catalog's structural checks).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{Field, FieldError, FieldKind, FormModel, pointer_child};

/// `x-kubernetes-list-type` of a list that forbids duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ListType {
    /// No two items equal.
    Set,
    /// No two items with the same values of these keys.
    Map {
        /// `x-kubernetes-list-map-keys`.
        keys: Vec<String>,
    },
}

/// The structural constraints of one field beyond its type and JSON Schema keywords.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Structure {
    /// A list that forbids duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_type: Option<ListType>,
    /// Fewest properties of an object or map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_properties: Option<u64>,
    /// Most properties of an object or map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_properties: Option<u64>,
    /// An embedded Kubernetes object (`apiVersion`, `kind`, `metadata`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embedded_resource: bool,
    /// An object that keeps fields its schema does not name
    /// (`x-kubernetes-preserve-unknown-fields`, or `additionalProperties` beside
    /// `properties`); any other object with named fields refuses the rest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
}

impl Structure {
    /// Whether there is nothing to check (so it is left out of serialized form models).
    pub fn is_plain(&self) -> bool {
        *self == Structure::default()
    }
}

/// Reports what the API server would refuse in a form's `values` beyond JSON Schema.
pub fn check_form(form: &FormModel, values: &Value, errors: &mut Vec<FieldError>) {
    if let Value::Object(map) = values
        && !form.open
    {
        unknown_fields(&form.fields, map, false, "", errors);
    }
    check(&form.fields, values, "", errors);
}

/// Reports the keys of `map` that no field names; `embedded` also knows an embedded object's
/// `apiVersion`, `kind` and `metadata`.
fn unknown_fields(
    fields: &[Field],
    map: &serde_json::Map<String, Value>,
    embedded: bool,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let known = |k: &str| {
        fields.iter().any(|f| f.key == k)
            || (embedded && matches!(k, "apiVersion" | "kind" | "metadata"))
    };
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !known(k))
        .collect();
    if !unknown.is_empty() {
        errors.push(FieldError {
            path: path.to_owned(),
            message: format!("Unknown field(s): {}.", unknown.join(", ")),
        });
    }
}

/// Reports what the API server would refuse in `values` (the fields of one object, at `path`)
/// beyond JSON Schema.
pub fn check(fields: &[Field], values: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(map) = values.as_object() else {
        return;
    };
    for field in fields {
        if let Some(value) = map.get(&field.key) {
            check_field(field, value, &pointer_child(path, &field.key), errors);
        }
    }
}

/// [`check`] for one field's value.
pub fn check_field(field: &Field, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let at = |message: String| FieldError {
        path: path.to_owned(),
        message,
    };
    let structure = &field.structure;
    if let Value::Object(map) = value {
        let count = map.len() as u64;
        if let Some(min) = structure.min_properties
            && count < min
        {
            errors.push(at(format!("Needs at least {min} entries (has {count}).")));
        }
        if let Some(max) = structure.max_properties
            && count > max
        {
            errors.push(at(format!("At most {max} entries (has {count}).")));
        }
        if structure.embedded_resource {
            embedded(map, path, errors);
        }
    }
    if let (Some(list_type), Value::Array(items)) = (&structure.list_type, value) {
        duplicates(list_type, items, path, errors);
    }
    match (&field.kind, value) {
        (FieldKind::Object { fields }, Value::Object(map)) => {
            if !structure.open {
                unknown_fields(fields, map, structure.embedded_resource, path, errors);
            }
            check(fields, value, path, errors);
        }
        (FieldKind::List { item, .. }, Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                check_field(item, v, &format!("{path}/{i}"), errors);
            }
        }
        (FieldKind::Map { value: inner }, Value::Object(map)) => {
            for (key, v) in map {
                check_field(inner, v, &pointer_child(path, key), errors);
            }
        }
        _ => {}
    }
}

/// The message for item `later` repeating item `first` (both 0-based).
fn duplicates(list_type: &ListType, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    let key_of = |item: &Value| -> Option<Value> {
        match list_type {
            ListType::Set => Some(item.clone()),
            ListType::Map { keys } => {
                let object = item.as_object()?;
                Some(Value::Array(
                    keys.iter()
                        .map(|k| object.get(k).cloned().unwrap_or(Value::Null))
                        .collect(),
                ))
            }
        }
    };
    // Keys by a canonical text (objects with their keys sorted), so the check stays linear in
    // the number of items: each value is seen once.
    let mut seen: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(key) = key_of(item) else { continue };
        match seen.entry(canonical(&key)) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let first = *first.get();
                let what = match list_type {
                    ListType::Set => format!("the same value as item {}", first + 1),
                    ListType::Map { keys } => format!(
                        "the same {} as item {}",
                        describe_key(keys, &key),
                        first + 1
                    ),
                };
                errors.push(FieldError {
                    path: format!("{path}/{i}"),
                    message: format!("Duplicate value: {what}; each item must be unique."),
                });
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
}

/// JSON text of a value with object keys in sorted order: equal values, equal text.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        // Numbers compare by value: 1 and 1.0 are one number to the API server.
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string()),
        other => other.to_string(),
    }
}

fn describe_key(keys: &[String], values: &Value) -> String {
    let values = values.as_array().map(Vec::as_slice).unwrap_or_default();
    keys.iter()
        .zip(values)
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k} \"{s}\""),
            other => format!("{k} {other}"),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// An embedded object's problems as the API server finds them, reported at the object (its
/// parts often have no field of their own in the form: the schema may leave them open):
/// `apiVersion` and `kind` set, `apiVersion` a group/version, `kind` a DNS-1035 label once
/// lower-cased, `metadata.name` a valid path segment.
fn embedded(map: &serde_json::Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    let mut problem = |message: String| {
        errors.push(FieldError {
            path: path.to_owned(),
            message,
        });
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match text("apiVersion") {
        None => problem("Required: an embedded object needs its apiVersion.".into()),
        Some(v) => {
            let parts: Vec<&str> = v.split('/').collect();
            if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
                problem(format!(
                    "apiVersion {v:?} must be a version or group/version."
                ));
            }
        }
    }
    match text("kind") {
        None => problem("Required: an embedded object needs its kind.".into()),
        Some(kind) => {
            let lower = kind.to_ascii_lowercase();
            let bytes = lower.as_bytes();
            let label = bytes.len() <= 63
                && bytes[0].is_ascii_lowercase()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
            if !label {
                problem(format!(
                    "kind {kind:?} must be letters, digits and '-', starting with a letter."
                ));
            }
        }
    }
    if let Some(name) = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        && (name == "." || name == ".." || name.contains(['/', '%']))
    {
        problem(format!(
            "metadata.name {name:?} may not be '.' or '..' nor contain '/' or '%'."
        ));
    }
}

/// One change defaulting made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Defaulted {
    /// Where (JSON Pointer into the values).
    pub path: String,
    /// The value the cluster will store there; `None`: a `null` dropped.
    pub value: Option<Value>,
}

/// Applies the schema's defaults to `values` (the fields of one object at `path`) as the API
/// server does, dropping `null`s the schema does not allow first; returns what changed.
pub fn apply_defaults(fields: &[Field], values: &mut Value, path: &str) -> Vec<Defaulted> {
    let mut changes = Vec::new();
    default_object(fields, values, path, &mut changes);
    changes
}

fn default_object(fields: &[Field], values: &mut Value, path: &str, changes: &mut Vec<Defaulted>) {
    let Value::Object(map) = values else {
        return;
    };
    for field in fields {
        let child = pointer_child(path, &field.key);
        if map.get(&field.key).is_some_and(Value::is_null) && !field.nullable {
            map.shift_remove(&field.key);
            changes.push(Defaulted {
                path: child.clone(),
                value: None,
            });
        }
        if !map.contains_key(&field.key)
            && let Some(default) = &field.default
        {
            map.insert(field.key.clone(), default.clone());
            changes.push(Defaulted {
                path: child.clone(),
                value: Some(default.clone()),
            });
        }
        if let Some(value) = map.get_mut(&field.key) {
            default_value(field, value, &child, changes);
        }
    }
}

fn default_value(field: &Field, value: &mut Value, path: &str, changes: &mut Vec<Defaulted>) {
    match (&field.kind, value) {
        (FieldKind::Object { fields }, value @ Value::Object(_)) => {
            default_object(fields, value, path, changes);
        }
        (FieldKind::List { item, .. }, Value::Array(items)) => {
            for (i, v) in items.iter_mut().enumerate() {
                default_value(item, v, &format!("{path}/{i}"), changes);
            }
        }
        (FieldKind::Map { value: inner }, Value::Object(map)) => {
            for (key, v) in map.iter_mut() {
                default_value(inner, v, &pointer_child(path, key), changes);
            }
        }
        _ => {}
    }
}
