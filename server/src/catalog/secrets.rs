//! Secret fields: Slipway never writes a secret to Git, the database, a draft, a log, a
//! commit message or a page. A field is secret when its schema says `format: password`,
//! `x-ui-widget: password` or `x-slipway-secret: true`.
//!
//! - In an offering file (its manifests are the platform team's templates) a secret field
//!   takes a **reference** instead of the secret: `secret-name/key`, a key of a Kubernetes
//!   Secret the team already has in its namespace. The form asks for exactly that (the
//!   field's schema is replaced by the reference's), and templates see the value as
//!   `{name, key}`, ready for a `secretKeyRef` or a `…SecretRef`.
//! - A claim offering (an XRD) puts the values into the claim as they are, so a secret field
//!   there would be written in plaintext: any value is refused at the field, with the reason
//!   and what to ask the platform team for.

use app::catalog::FieldError;
use serde_json::{Map, Value, json};

/// What a reference looks like: a Secret's name (a DNS subdomain), `/`, a key of it.
pub const REFERENCE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[-._a-zA-Z0-9]{1,253}$";

/// The secret fields of an offering, and how they are given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretFields {
    /// JSON Pointers of the secret fields in the values.
    pub pointers: Vec<String>,
    /// References (offering files) rather than refused plaintext (claims).
    pub by_reference: bool,
}

fn is_secret(node: &Value) -> bool {
    let text = |key: &str| node.get(key).and_then(Value::as_str);
    text("format") == Some("password")
        || text("x-ui-widget") == Some("password")
        || node.get("x-slipway-secret").and_then(Value::as_bool) == Some(true)
}

/// Finds the secret fields of a structural schema (object properties, at any depth; not
/// inside lists or maps). With `by_reference`, each one's schema becomes the reference's.
pub fn mark(schema: &mut Value, by_reference: bool) -> SecretFields {
    let mut pointers = Vec::new();
    walk(schema, "", by_reference, &mut pointers);
    SecretFields {
        pointers,
        by_reference,
    }
}

fn walk(schema: &mut Value, path: &str, by_reference: bool, pointers: &mut Vec<String>) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for (key, node) in properties.iter_mut() {
        let pointer = app::catalog::pointer_child(path, key);
        if is_secret(node) {
            if by_reference {
                *node = reference_schema(node);
            }
            pointers.push(pointer);
        } else {
            walk(node, &pointer, by_reference, pointers);
        }
    }
}

/// The schema of a reference, keeping the field's place and words in the form.
fn reference_schema(node: &Value) -> Value {
    let mut out = Map::new();
    for key in ["x-ui-order", "x-ui-advanced", "x-ui-hidden", "title"] {
        if let Some(v) = node.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let description = node
        .get("description")
        .and_then(Value::as_str)
        .map(|d| format!("{} ", d.trim_end()))
        .unwrap_or_default();
    out.insert("type".into(), json!("string"));
    out.insert("pattern".into(), json!(REFERENCE_PATTERN));
    out.insert(
        "description".into(),
        json!(format!(
            "{description}A secret: give the Secret in your team's namespace that holds it, as secret-name/key. Slipway never takes the secret itself."
        )),
    );
    out.insert("x-ui-placeholder".into(), json!("secret-name/key"));
    out.insert("x-slipway-secret".into(), json!(true));
    Value::Object(out)
}

impl SecretFields {
    /// Refuses a value of a secret field a claim would carry in plaintext. The message never
    /// repeats the value.
    pub fn check(&self, values: &Value, errors: &mut Vec<FieldError>) {
        if self.by_reference {
            return;
        }
        for pointer in &self.pointers {
            if values.pointer(pointer).is_some_and(|v| !v.is_null()) {
                errors.push(FieldError {
                    path: pointer.clone(),
                    message: "This is a secret, and this offering would write it into Git in plaintext: leave it empty and ask the platform team to take a reference to a Secret instead.".into(),
                });
            }
        }
    }

    /// Values as templates see them: each reference `name/key` as `{name, key}`.
    pub fn for_templates(&self, values: &Value) -> Value {
        let mut values = values.clone();
        if !self.by_reference {
            return values;
        }
        for pointer in &self.pointers {
            if let Some(slot) = values.pointer_mut(pointer)
                && let Some((name, key)) = slot.as_str().and_then(|s| s.split_once('/'))
            {
                *slot = json!({"name": name, "key": key});
            }
        }
        values
    }

    /// Removes from a draft's values whatever at a secret field is not a well-formed
    /// reference: a secret typed into the form is never stored, not even as a draft.
    pub fn scrub(&self, values: &mut Value) {
        let reference = regex::Regex::new(REFERENCE_PATTERN).expect("the reference pattern");
        for pointer in &self.pointers {
            let keep = self.by_reference
                && values
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .is_some_and(|v| reference.is_match(v));
            if keep {
                continue;
            }
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            let key = key.replace("~1", "/").replace("~0", "~");
            if let Some(Value::Object(map)) = values.pointer_mut(parent) {
                map.remove(&key);
            } else if parent.is_empty()
                && let Value::Object(map) = values
            {
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_fields_become_references_and_drafts_keep_no_secret() {
        let mut schema = json!({"type": "object", "properties": {
            "admin": {"type": "object", "properties": {
                "password": {"type": "string", "format": "password", "minLength": 12,
                             "description": "The admin password."}}},
            "token": {"type": "string", "x-ui-widget": "password"},
            "size": {"type": "integer"}}});
        let fields = mark(&mut schema, true);
        assert_eq!(fields.pointers, ["/admin/password", "/token"]);
        let password = &schema["properties"]["admin"]["properties"]["password"];
        assert_eq!(password["pattern"], REFERENCE_PATTERN);
        assert!(password.get("minLength").is_none() && password.get("format").is_none());
        assert!(
            password["description"]
                .as_str()
                .unwrap()
                .starts_with("The admin password. A secret")
        );

        let values =
            json!({"admin": {"password": "db-admin/password"}, "token": "hunter2", "size": 3});
        assert_eq!(
            fields.for_templates(&values)["admin"]["password"],
            json!({"name": "db-admin", "key": "password"})
        );
        let mut draft = values.clone();
        fields.scrub(&mut draft);
        assert_eq!(
            draft,
            json!({"admin": {"password": "db-admin/password"}, "size": 3})
        );
    }

    #[test]
    fn a_claim_takes_no_secret_at_all() {
        let mut schema = json!({"type": "object", "properties": {
            "password": {"type": "string", "format": "password"}}});
        let fields = mark(&mut schema, false);
        assert_eq!(
            schema["properties"]["password"]["format"], "password",
            "left as it is"
        );
        let mut errors = Vec::new();
        fields.check(&json!({"password": "hunter2"}), &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].message.contains("hunter2"));
        let mut draft = json!({"password": "db/password"});
        fields.scrub(&mut draft);
        assert_eq!(draft, json!({}));
    }
}
