//! Environment-specific fields: the parts of a claim a promotion does not carry (a replica
//! count, a region, a size per environment). Marked in the values' schema with
//! `x-slipway-promotion: keep` — written there directly in an offering file's parameters, by
//! its `ui.fields.<path>.promotion: keep`, or, for an XRD (whose schema the API server holds
//! to its own keywords), by the annotation `slipway.dev/promotion-keep: "replicas,region"`.
//! Secret fields are always the environment's own (see [`super::secrets`]): a reference to
//! dev's credentials never reaches prod.

use app::promotions::KEEP_HINT;
use serde_json::{Map, Value};

/// The XRD annotation listing kept fields (dotted paths, comma-separated).
pub const KEEP_ANNOTATION: &str = "slipway.dev/promotion-keep";

/// The schema node of a dotted path (`backup.window`) in an object schema.
fn node_mut<'a>(schema: &'a mut Value, path: &str) -> Option<&'a mut Map<String, Value>> {
    let pointer: String = path
        .split('.')
        .map(|k| format!("/properties/{}", k.replace('~', "~0").replace('/', "~1")))
        .collect();
    schema.pointer_mut(&pointer)?.as_object_mut()
}

/// Marks the fields at `paths` as kept. Paths the schema does not have are returned.
pub fn mark<'a>(schema: &mut Value, paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut missing = Vec::new();
    for path in paths.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        match node_mut(schema, path) {
            Some(node) => {
                node.insert(KEEP_HINT.into(), Value::from("keep"));
            }
            None => missing.push(path.to_owned()),
        }
    }
    missing
}

/// Every kept field: its path (keys from the root) and its schema default.
pub fn kept(schema: &Value) -> Vec<(Vec<String>, Option<Value>)> {
    fn walk(schema: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, Option<Value>)>) {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (key, prop) in props {
            at.push(key.clone());
            if prop.get(KEEP_HINT).and_then(Value::as_str) == Some("keep") {
                out.push((at.clone(), prop.get("default").cloned()));
            } else {
                walk(prop, at, out);
            }
            at.pop();
        }
    }
    let mut out = Vec::new();
    walk(schema, &mut Vec::new(), &mut out);
    out
}

/// The value at `path` in `values`.
pub fn get<'a>(values: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(values, |v, key| v.get(key))
}

/// Sets (`Some`) or removes (`None`) the value at `path`, making parent objects as needed
/// (list items are reached by their index, never made).
pub fn set(values: &mut Value, path: &[String], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if !values.is_object() && !values.is_array() {
        *values = Value::Object(Map::new());
    }
    let mut at = values;
    for key in parents {
        at = match at {
            Value::Object(object) => {
                let next = object
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if value.is_none() && !(next.is_object() || next.is_array()) {
                    return;
                }
                next
            }
            Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    match (at, value) {
        (Value::Object(object), Some(value)) => {
            object.insert(last.clone(), value);
        }
        (Value::Object(object), None) => {
            object.shift_remove(last);
        }
        (Value::Array(items), value) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = value.unwrap_or(Value::Null);
            }
        }
        _ => {}
    }
}

/// A JSON Pointer's keys (`/backup/window` → `backup`, `window`).
pub fn path_of(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|k| k.replace("~1", "/").replace("~0", "~"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kept_fields_are_found_at_any_depth_with_their_defaults_and_set_or_cleared() {
        let mut schema = json!({"type": "object", "properties": {
            "size": {"type": "string"},
            "replicas": {"type": "integer", "default": 1},
            "backup": {"type": "object", "properties": {"window": {"type": "string"}}},
        }});
        assert_eq!(
            mark(&mut schema, ["replicas", " backup.window", "nope.x"]),
            ["nope.x"]
        );
        let kept = kept(&schema);
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kept,
            [
                (path(&["replicas"]), Some(json!(1))),
                (path(&["backup", "window"]), None)
            ]
        );
        let mut values = json!({"size": "large", "replicas": 5});
        set(&mut values, &kept[1].0, Some(json!("02:00")));
        set(&mut values, &kept[0].0, None);
        assert_eq!(
            values,
            json!({"size": "large", "backup": {"window": "02:00"}})
        );
        assert_eq!(get(&values, &kept[1].0), Some(&json!("02:00")));
    }

    #[test]
    fn values_in_lists_are_reached_by_index_and_a_secret_reference_keeps_the_hint() {
        let mut values = json!({"users": [{"name": "a", "password": "a-secret/pw"}]});
        set(&mut values, &path_of("/users/0/password"), None);
        assert_eq!(values, json!({"users": [{"name": "a"}]}));
        set(&mut values, &path_of("/users/3/password"), Some(json!("x")));
        assert_eq!(values, json!({"users": [{"name": "a"}]}), "no item is made");

        // A secret field marked keep stays marked once it becomes a reference.
        let mut schema = json!({"type": "object", "properties": {
            "password": {"type": "string", "x-ui-widget": "password", "x-slipway-promotion": "keep"}}});
        let secrets = crate::catalog::secrets::mark(&mut schema, true).unwrap();
        assert_eq!(secrets.pointers, ["/password"]);
        assert_eq!(kept(&schema).len(), 1, "{schema}");
    }
}
