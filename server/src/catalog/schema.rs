//! From a Kubernetes structural schema (the OpenAPI v3 dialect of CRDs and XRDs, which offering
//! files use too) to the two things the portal needs: a [`FormModel`] to render, and a plain
//! JSON Schema (draft 4) to validate against.
//!
//! The Kubernetes dialect differs from JSON Schema in a few keywords, translated here:
//! - `nullable: true` → `null` added to `type` (and to `enum`);
//! - `x-kubernetes-int-or-string: true` → `anyOf: [integer, string]`;
//! - fields an object's `properties` do not name are refused by [`app::structure`] on the
//!   form model (unless the object preserves unknown fields) — the API server would drop
//!   them, or refuse them under strict field validation.
//! - `format`, `x-kubernetes-*` list types, property counts and embedded objects are checked
//!   by [`app::formats`] and [`app::structure`] on the form model (one implementation for the
//!   browser and the server), not by the JSON Schema validator.
//!
//! Both functions are pure: no IO, tested on every fixture XRD.

use app::catalog::{Field, FieldKind, FormModel, Rule, UiHints, humanize};
use app::structure::{ListType, Structure};
use serde_json::{Map, Value, json};

use super::cel;

/// The JSON Schema (draft 4) equivalent of a structural schema.
pub fn to_json_schema(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        let translated = match key.as_str() {
            "properties" | "patternProperties" | "definitions" => match value.as_object() {
                Some(props) => Value::Object(
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), to_json_schema(v)))
                        .collect(),
                ),
                None => value.clone(),
            },
            "items" | "additionalProperties" | "not" if value.is_object() => to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => match value.as_array() {
                Some(list) => Value::Array(list.iter().map(to_json_schema).collect()),
                None => value.clone(),
            },
            // Annotations and Kubernetes extensions mean nothing to a JSON Schema validator.
            "format" | "nullable" | "example" | "externalDocs" => continue,
            k if k.starts_with("x-") => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), translated);
    }
    let flag = |name: &str| object.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("x-kubernetes-int-or-string") {
        out.remove("type");
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if flag("nullable") {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
        if let Some(Value::Array(any_of)) = out.get_mut("anyOf") {
            any_of.push(json!({"type": "null"}));
        }
    }
    Value::Object(out)
}

/// The form for an object schema's properties.
pub fn form_model(schema: &Value) -> FormModel {
    FormModel {
        fields: object_fields(schema),
        rules: rules_of(schema),
        open: is_open(schema),
    }
}

/// Whether an object keeps fields its `properties` do not name.
fn is_open(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || schema
            .get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false))
        || schema.get("properties").is_none()
}

fn object_fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<Field> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(key, prop)| field(key, prop, required.contains(&key.as_str())))
                .collect()
        })
        .unwrap_or_default();
    // Stable: fields without an order keep the schema's order, after the ordered ones.
    fields.sort_by_key(|f| f.ui.order.unwrap_or(i64::MAX));
    fields
}

/// One field from a property schema.
pub fn field(key: &str, schema: &Value, required: bool) -> Field {
    let text = |name: &str| schema.get(name).and_then(Value::as_str).map(str::to_owned);
    let flag = |name: &str| schema.get(name).and_then(Value::as_bool).unwrap_or(false);
    let description = text("description")
        .or_else(|| text("x-ui-help"))
        .unwrap_or_default();
    let types = type_names(schema);
    Field {
        key: key.to_owned(),
        label: text("title").unwrap_or_else(|| humanize(key)),
        description: description.trim().to_owned(),
        required,
        nullable: flag("nullable") || types.iter().any(|t| t == "null"),
        default: schema.get("default").cloned(),
        ui: UiHints {
            order: schema.get("x-ui-order").and_then(Value::as_i64),
            hidden: flag("x-ui-hidden"),
            advanced: flag("x-ui-advanced"),
            widget: text("x-ui-widget"),
            placeholder: text("x-ui-placeholder"),
        },
        rules: rules_of(schema),
        structure: structure(schema),
        kind: kind(schema, &types),
    }
}

fn structure(schema: &Value) -> Structure {
    let count = |name: &str| schema.get(name).and_then(Value::as_u64);
    let list_type = match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => Some(ListType::Set),
        Some("map") => Some(ListType::Map {
            keys: schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        _ => None,
    };
    Structure {
        list_type,
        min_properties: count("minProperties"),
        max_properties: count("maxProperties"),
        embedded_resource: schema
            .get("x-kubernetes-embedded-resource")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        open: is_open(schema),
    }
}

/// What the API server refuses in a structural schema itself (a CRD using it is not
/// accepted, so no claim could ever be applied): each problem with the path of its node.
pub fn structural_problems(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        return;
    };
    let at = |what: &str| {
        if path.is_empty() {
            format!("the schema: {what}")
        } else {
            format!("{path}: {what}")
        }
    };
    if object.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
        problems.push(at(
            "uniqueItems cannot be true in a Kubernetes schema; use x-kubernetes-list-type: set or map",
        ));
    }
    let items = object.get("items");
    match object.get("x-kubernetes-list-type") {
        None => {}
        Some(Value::String(t)) if t == "atomic" => {}
        Some(Value::String(t)) if t == "set" => {
            let item_type = items.and_then(|i| i.get("type")).and_then(Value::as_str);
            let atomic = items
                .and_then(|i| {
                    i.get("x-kubernetes-map-type")
                        .or(i.get("x-kubernetes-list-type"))
                })
                .and_then(Value::as_str)
                == Some("atomic");
            if matches!(item_type, Some("object" | "array")) && !atomic {
                problems.push(at(
                    "the items of an x-kubernetes-list-type: set must be scalars or atomic",
                ));
            }
        }
        Some(Value::String(t)) if t == "map" => {
            let keys: Vec<&str> = object
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                problems.push(at(
                    "x-kubernetes-list-type: map needs x-kubernetes-list-map-keys",
                ));
            }
            let properties = items.and_then(|i| i.get("properties"));
            let required: Vec<&str> = items
                .and_then(|i| i.get("required"))
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for key in keys {
                match properties.and_then(|p| p.get(key)) {
                    None => problems.push(at(&format!(
                        "the list-map key {key:?} is not a property of the items"
                    ))),
                    Some(property)
                        if !required.contains(&key) && property.get("default").is_none() =>
                    {
                        problems.push(at(&format!(
                            "the list-map key {key:?} must be required or have a default"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Some(other) => problems.push(at(&format!(
            "x-kubernetes-list-type must be atomic, set or map, not {other}"
        ))),
    }
    if let Some(map_type) = object.get("x-kubernetes-map-type")
        && !matches!(map_type.as_str(), Some("granular" | "atomic"))
    {
        problems.push(at(&format!(
            "x-kubernetes-map-type must be granular or atomic, not {map_type}"
        )));
    }
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (key, child) in properties {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            structural_problems(child, &child_path, problems);
        }
    }
    if let Some(item) = items {
        structural_problems(item, &format!("{path}[*]"), problems);
    }
    if let Some(value @ Value::Object(_)) = object.get("additionalProperties") {
        structural_problems(value, &format!("{path}.*"), problems);
    }
}

fn type_names(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => vec![],
    }
}

fn kind(schema: &Value, types: &[String]) -> FieldKind {
    let flag = |name: &str| schema.get(name).and_then(Value::as_bool).unwrap_or(false);
    let number = |name: &str| schema.get(name).and_then(Value::as_f64);
    let count = |name: &str| schema.get(name).and_then(Value::as_u64);
    let pattern = schema
        .get("pattern")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if flag("x-kubernetes-int-or-string") {
        return FieldKind::IntOrString { pattern };
    }
    let main = types.iter().find(|t| *t != "null").map(String::as_str);
    let enum_values = schema.get("enum").and_then(Value::as_array);
    match main {
        Some("string") => FieldKind::Text {
            min_length: count("minLength"),
            max_length: count("maxLength"),
            pattern,
            format: schema
                .get("format")
                .and_then(Value::as_str)
                .map(str::to_owned),
            choices: enum_values
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        },
        Some("integer") => FieldKind::Integer {
            minimum: number("minimum"),
            maximum: number("maximum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            choices: enum_values
                .map(|l| l.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default(),
            multiple_of: number("multipleOf"),
        },
        Some("number") => FieldKind::Number {
            minimum: number("minimum"),
            maximum: number("maximum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            multiple_of: number("multipleOf"),
            choices: enum_values
                .map(|l| l.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
        },
        Some("boolean") => FieldKind::Boolean,
        Some("array") => FieldKind::List {
            item: Box::new(field(
                "item",
                schema.get("items").unwrap_or(&Value::Null),
                false,
            )),
            min_items: count("minItems"),
            max_items: count("maxItems"),
        },
        Some("object") | None => {
            let has_properties = schema
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            if has_properties {
                return FieldKind::Object {
                    fields: object_fields(schema),
                };
            }
            match schema.get("additionalProperties") {
                Some(value @ Value::Object(_)) => FieldKind::Map {
                    value: Box::new(field("value", value, false)),
                },
                _ => FieldKind::Any,
            }
        }
        Some(_) => FieldKind::Any,
    }
}

fn rules_of(schema: &Value) -> Vec<Rule> {
    schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|rule| {
                    let text = rule.get("rule")?.as_str()?.to_owned();
                    let message = rule
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("Failed rule: {text}"));
                    Some(Rule {
                        checked: cel::can_check(&text),
                        rule: text,
                        message,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_int_or_string_become_json_schema() {
        let k8s = json!({
            "type": "object",
            "properties": {
                "size": {"type": "string", "nullable": true, "enum": ["s", "m"]},
                "port": {"x-kubernetes-int-or-string": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        });
        let json = to_json_schema(&k8s);
        assert_eq!(
            json["properties"]["size"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(json["properties"]["size"]["enum"], json!(["s", "m", null]));
        assert_eq!(
            json["properties"]["port"]["anyOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        // Unknown fields are refused by app::structure on the form model, not here.
        assert!(json.get("additionalProperties").is_none());
        assert!(json["properties"]["labels"].get("properties").is_none());
        assert!(
            json["properties"]["extra"]
                .get("additionalProperties")
                .is_none()
        );
    }

    #[test]
    fn ui_order_puts_fields_first_and_keeps_schema_order_for_the_rest() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "string", "x-ui-order": 2},
                "c": {"type": "string", "x-ui-order": 1},
                "d": {"type": "string"}
            }
        });
        let keys: Vec<String> = form_model(&schema)
            .fields
            .into_iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(keys, ["c", "b", "a", "d"]);
    }
}
