//! Secret fields: Slipway never writes a secret to Git, the database, a draft, a log, a
//! commit message or a page. A field is secret when its schema says `format: password`,
//! `x-ui-widget: password` or `x-slipway-secret: true`.
//!
//! - In an offering file (its manifests are the platform team's templates) a secret field
//!   takes a **reference** instead of the secret: `secret-name/key`, a key of a Kubernetes
//!   Secret the team already has in its namespace. The form asks for exactly that (the
//!   field's schema is replaced by the reference's), and templates see the value as
//!   `{name, key}`, ready for a `secretKeyRef` or a `…SecretRef`.
//! - Or, when the field says `x-slipway-secret: {externalSecret: {store: <name>}}`, a **key in
//!   the platform's secret store**: the form asks for the key (below the team's prefix, by
//!   default `<team>/`, with `#property` to pick one), Slipway adds an External Secrets
//!   Operator `ExternalSecret` to the file that brings it into a Secret of the team's
//!   namespace, and templates see that Secret as `{name, key}`.
//! - A claim offering (an XRD) puts the values into the claim as they are, so a secret field
//!   there would be written in plaintext: any value is refused at the field, with the reason
//!   and what to ask the platform team for.

use std::sync::LazyLock;

use app::catalog::FieldError;
use regex::Regex;
use serde_json::{Map, Value, json};

/// What a reference looks like: a Secret's name (a DNS subdomain), `/`, a key of it.
pub const REFERENCE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[-._a-zA-Z0-9]{1,253}$";

/// What a key in a secret store looks like: path segments, then `#property` optionally.
pub const STORE_KEY_PATTERN: &str =
    r"^[A-Za-z0-9_][-A-Za-z0-9._]*(/[A-Za-z0-9_][-A-Za-z0-9._]*)*(#[-A-Za-z0-9._]+)?$";

static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(REFERENCE_PATTERN).expect("the reference pattern"));
static STORE_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(STORE_KEY_PATTERN).expect("the store key pattern"));

/// The secret fields of an offering, and how they are given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretFields {
    /// JSON Pointers of the secret fields in the values.
    pub pointers: Vec<String>,
    /// References (offering files) rather than refused plaintext (claims).
    pub by_reference: bool,
    /// The fields brought from a secret store, by pointer.
    pub external: Vec<(String, Store)>,
}

/// A secret store of the platform (External Secrets Operator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// `SecretStore` or `ClusterSecretStore`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The prefix of every key a team may read, with `{team}` for the team's name.
    pub key_prefix: String,
}

fn is_secret(node: &Value) -> bool {
    let text = |key: &str| node.get(key).and_then(Value::as_str);
    text("format") == Some("password")
        || text("x-ui-widget") == Some("password")
        || node.get("x-slipway-secret").and_then(Value::as_bool) == Some(true)
        || store_of(node).is_some()
}

fn store_of(node: &Value) -> Option<Store> {
    let external = node.get("x-slipway-secret")?.get("externalSecret")?;
    let text = |key: &str| external.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(Store {
        kind: text("storeKind").unwrap_or_else(|| "ClusterSecretStore".into()),
        name: text("store")?,
        key_prefix: text("keyPrefix").unwrap_or_else(|| "{team}/".into()),
    })
}

/// Finds the secret fields of a structural schema (object properties, at any depth; not
/// inside lists or maps). With `by_reference`, each one's schema becomes the reference's.
///
/// Secret fields inside lists and maps are found too (their pointers hold `*` for any item
/// or key). In an offering file such a field is refused: a reference is given per field,
/// not per item. A store's key prefix must keep teams apart (`{team}/` in it).
pub fn mark(schema: &mut Value, by_reference: bool) -> Result<SecretFields, String> {
    let mut fields = SecretFields {
        by_reference,
        ..SecretFields::default()
    };
    walk(schema, "", &mut fields)?;
    Ok(fields)
}

const PER_ITEM: &str =
    "a secret field inside a list or a map cannot take a reference; make it a field of an object";

fn walk(schema: &mut Value, path: &str, fields: &mut SecretFields) -> Result<(), String> {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (key, node) in properties.iter_mut() {
            let pointer = app::catalog::pointer_child(path, key);
            if is_secret(node) {
                if fields.by_reference {
                    if pointer.contains("/*") {
                        return Err(format!("{pointer}: {PER_ITEM}"));
                    }
                    match store_of(node) {
                        Some(store) if !store.key_prefix.contains("{team}/") => {
                            return Err(format!(
                                "{pointer}: the secret store's keyPrefix {:?} must contain \"{{team}}/\" so that each team reads only its own keys",
                                store.key_prefix
                            ));
                        }
                        Some(store) => {
                            *node = store_key_schema(node, &store);
                            fields.external.push((pointer.clone(), store));
                        }
                        None => *node = reference_schema(node),
                    }
                }
                fields.pointers.push(pointer);
            } else {
                walk(node, &pointer, fields)?;
            }
        }
    }
    for part in ["items", "additionalProperties"] {
        if let Some(node) = schema.get_mut(part).filter(|n| n.is_object()) {
            let pointer = format!("{path}/*");
            if is_secret(node) {
                if fields.by_reference {
                    return Err(format!("{pointer}: {PER_ITEM}"));
                }
                fields.pointers.push(pointer);
            } else {
                walk(node, &pointer, fields)?;
            }
        }
    }
    Ok(())
}

/// The pointers of the values present at `pattern` (`*` standing for any item or key).
pub(crate) fn present(values: &Value, pattern: &str) -> Vec<String> {
    fn go(value: &Value, segments: &[&str], at: String, out: &mut Vec<String>) {
        let Some((first, rest)) = segments.split_first() else {
            if !value.is_null() {
                out.push(at);
            }
            return;
        };
        match (value, *first) {
            (Value::Object(map), "*") => {
                for (key, child) in map {
                    go(child, rest, app::catalog::pointer_child(&at, key), out);
                }
            }
            (Value::Array(items), "*") => {
                for (i, child) in items.iter().enumerate() {
                    go(child, rest, format!("{at}/{i}"), out);
                }
            }
            (Value::Object(map), key) => {
                let key = key.replace("~1", "/").replace("~0", "~");
                if let Some(child) = map.get(&key) {
                    go(child, rest, app::catalog::pointer_child(&at, &key), out);
                }
            }
            _ => {}
        }
    }
    let segments: Vec<&str> = pattern.split('/').skip(1).collect();
    let mut out = Vec::new();
    go(values, &segments, String::new(), &mut out);
    out
}

/// The schema of a key in a secret store.
fn store_key_schema(node: &Value, store: &Store) -> Value {
    let mut schema = reference_schema(node);
    let description = node
        .get("description")
        .and_then(Value::as_str)
        .map(|d| format!("{} ", d.trim_end()))
        .unwrap_or_default();
    schema["pattern"] = json!(STORE_KEY_PATTERN);
    schema["description"] = json!(format!(
        "{description}A secret: give its key in the secret store {} (below {}), with #property to pick one. Slipway never takes the secret itself.",
        store.name, store.key_prefix
    ));
    schema["x-ui-placeholder"] = json!("path/in/store#property");
    schema
}

/// The schema of a reference, keeping the field's place and words in the form.
fn reference_schema(node: &Value) -> Value {
    let mut out = Map::new();
    for key in [
        "x-ui-order",
        "x-ui-advanced",
        "x-ui-hidden",
        "title",
        app::promotions::KEEP_HINT,
    ] {
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
    /// The pointers of the secret values present in `values`.
    pub fn present_in(&self, values: &Value) -> Vec<String> {
        self.pointers
            .iter()
            .flat_map(|p| present(values, p))
            .collect()
    }

    /// Refuses a value of a secret field a claim would carry in plaintext. The message never
    /// repeats the value.
    pub fn check(&self, values: &Value, errors: &mut Vec<FieldError>) {
        if self.by_reference {
            return;
        }
        for path in self.pointers.iter().flat_map(|p| present(values, p)) {
            errors.push(FieldError {
                path,
                message: "This is a secret, and this offering would write it into Git in plaintext: leave it empty and ask the platform team to take a reference to a Secret instead.".into(),
            });
        }
    }

    /// Values as templates see them: each reference `name/key` as `{name, key}`, each key
    /// of a secret store as the Secret its `ExternalSecret` makes (named after the claim
    /// `name` and the field).
    pub fn for_templates(&self, values: &Value, name: &str) -> Value {
        let mut values = values.clone();
        if !self.by_reference {
            return values;
        }
        for pointer in &self.pointers {
            let external = self.external.iter().any(|(p, _)| p == pointer);
            let Some(slot) = values.pointer_mut(pointer) else {
                continue;
            };
            if external {
                if slot.is_string() {
                    *slot = json!({"name": secret_name(name, pointer), "key": field_key(pointer)});
                }
            } else if let Some((name, key)) = slot.as_str().and_then(|s| s.split_once('/')) {
                *slot = json!({"name": name, "key": key});
            }
        }
        values
    }

    /// The `ExternalSecret`s of the fields brought from a secret store: each reads the key
    /// below the team's prefix into a Secret of the team's namespace.
    pub fn external_secrets(
        &self,
        values: &Value,
        name: &str,
        team: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, String> {
        let mut manifests = Vec::new();
        for (pointer, store) in &self.external {
            let Some(given) = values.pointer(pointer).and_then(Value::as_str) else {
                continue;
            };
            let (path, property) = match given.split_once('#') {
                Some((path, property)) => (path, Some(property)),
                None => (given, None),
            };
            if path.split('/').any(|s| s == "." || s == "..") {
                return Err(format!(
                    "{pointer}: a key in the store may not climb out of the team's part"
                ));
            }
            let key = format!("{}{path}", store.key_prefix.replace("{team}", team));
            let target = secret_name(name, pointer);
            let mut remote = json!({"key": key});
            if let Some(property) = property {
                remote["property"] = json!(property);
            }
            manifests.push(json!({
                "apiVersion": "external-secrets.io/v1",
                "kind": "ExternalSecret",
                "metadata": {"name": target, "namespace": namespace},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"kind": store.kind, "name": store.name},
                    "target": {"name": target, "creationPolicy": "Owner"},
                    "data": [{"secretKey": field_key(pointer), "remoteRef": remote}],
                },
            }));
        }
        Ok(manifests)
    }

    /// Removes from a draft's values whatever at a secret field is not a well-formed
    /// reference: a secret typed into the form is never stored, not even as a draft.
    pub fn scrub(&self, values: &mut Value) {
        let concrete: Vec<(String, bool)> = self
            .pointers
            .iter()
            .flat_map(|p| {
                let external = self.external.iter().any(|(e, _)| e == p);
                present(values, p).into_iter().map(move |c| (c, external))
            })
            .collect();
        // Deepest and last first, so that removing a list item keeps the others' indexes.
        for (pointer, external) in concrete.iter().rev() {
            let pattern: &Regex = if *external { &STORE_KEY } else { &REFERENCE };
            let keep = self.by_reference
                && values
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .is_some_and(|v| pattern.is_match(v));
            if keep {
                continue;
            }
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            let key = key.replace("~1", "/").replace("~0", "~");
            match values.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < items.len()
                    {
                        items[i] = Value::Null;
                    }
                }
                _ => {}
            }
        }
    }
}

/// The Secret an `ExternalSecret` makes for a field: `<claim>-<field>`, a DNS label.
fn secret_name(name: &str, pointer: &str) -> String {
    let field: String = field_key(pointer)
        .chars()
        .flat_map(|c| {
            if c.is_ascii_uppercase() {
                vec!['-', c.to_ascii_lowercase()]
            } else if c.is_ascii_alphanumeric() {
                vec![c]
            } else {
                vec!['-']
            }
        })
        .collect();
    let full = format!("{name}-{}", field.trim_matches('-'));
    full.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// The field's own key: the last segment of its pointer.
fn field_key(pointer: &str) -> String {
    pointer
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .replace("~1", "/")
        .replace("~0", "~")
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
        let fields = mark(&mut schema, true).unwrap();
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
            fields.for_templates(&values, "db")["admin"]["password"],
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
        let fields = mark(&mut schema, false).unwrap();
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

    #[test]
    fn secrets_inside_lists_and_maps_are_found() {
        let mut schema = json!({"type": "object", "properties": {
            "users": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "password": {"type": "string", "format": "password"}}}},
            "tokens": {"type": "object", "additionalProperties": {"type": "string", "x-ui-widget": "password"}}}});
        let fields = mark(&mut schema.clone(), false).unwrap();
        assert_eq!(fields.pointers, ["/users/*/password", "/tokens/*"]);
        let values = json!({"users": [{"name": "a"}, {"name": "b", "password": "x"}],
                            "tokens": {"ci": "y"}});
        let mut errors = Vec::new();
        fields.check(&values, &mut errors);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/users/1/password", "/tokens/ci"]);
        let mut draft = values.clone();
        fields.scrub(&mut draft);
        assert_eq!(
            draft,
            json!({"users": [{"name": "a"}, {"name": "b"}], "tokens": {}})
        );
        // An offering file cannot take references per item, nor a store without the team.
        assert!(
            mark(&mut schema, true)
                .unwrap_err()
                .contains("/users/*/password")
        );
        let mut shared = json!({"type": "object", "properties": {"t": {"type": "string",
            "x-slipway-secret": {"externalSecret": {"store": "vault", "keyPrefix": "apps/"}}}}});
        assert!(mark(&mut shared, true).unwrap_err().contains("keyPrefix"));
    }
}
