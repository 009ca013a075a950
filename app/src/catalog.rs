//! The catalog as the UI sees it: offerings, the form model derived from their JSON Schema,
//! and the checks the browser runs while a person types.
//!
//! ```text
//!  offering file / XRD ──server: schema → FormModel──▶ form renderer (browser)
//!                                                        │ checks below, per keystroke
//!                                                        ▼
//!  preview / submit ──server: the same JSON Schema, authoritative──▶ FieldError per path
//! ```
//!
//! The browser checks are a convenience drawn from the same schema; the server validates
//! everything again with a JSON Schema validator and never trusts the browser.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an offering comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OfferingSource {
    /// An offering file in the catalog directory.
    Template,
    /// A Crossplane CompositeResourceDefinition discovered in a cluster.
    Xrd,
    /// A Kratix Promise discovered in a cluster (its `spec.api` CRD is the form).
    Promise,
}

impl OfferingSource {
    /// The word shown in filters and badges.
    pub fn label(self) -> &'static str {
        match self {
            OfferingSource::Template => "Template",
            OfferingSource::Xrd => "Crossplane XRD",
            OfferingSource::Promise => "Kratix Promise",
        }
    }

    /// Parses the filter value (`template`, `xrd`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "template" => Some(OfferingSource::Template),
            "xrd" => Some(OfferingSource::Xrd),
            "promise" => Some(OfferingSource::Promise),
            _ => None,
        }
    }

    /// The filter value.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferingSource::Template => "template",
            OfferingSource::Xrd => "xrd",
            OfferingSource::Promise => "promise",
        }
    }
}

/// One catalog entry, as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OfferingSummary {
    /// Unique id in the catalog (the offering's name, or the XRD's name).
    pub id: String,
    /// Human title.
    pub title: String,
    /// One or two sentences.
    pub description: String,
    /// Owning team.
    pub owner: String,
    /// Free tags, lower case.
    pub tags: Vec<String>,
    /// Icon name (see the UI's icon set); unknown names fall back to a generic one.
    pub icon: String,
    /// The offering's version (semver for files; the served API version for XRDs).
    pub version: String,
    /// Where it comes from.
    pub source: OfferingSource,
    /// `apiVersion` of the main manifest it produces.
    pub api_version: String,
    /// `kind` of the main manifest it produces.
    pub kind: String,
    /// Environments it may be requested in.
    pub environments: Vec<String>,
}

/// The catalog page's query. Every field may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct CatalogFilter {
    /// Free text, matched against id, title, description, kind and tags.
    pub q: String,
    /// Only offerings with this tag.
    pub tag: String,
    /// `template`, `xrd` or `promise`.
    pub source: String,
    /// Only offerings available in this environment.
    pub environment: String,
    /// 1-based page number; 0 means 1.
    pub page: u32,
}

/// A page of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CatalogPage {
    /// The offerings on this page.
    pub items: Vec<OfferingSummary>,
    /// How many offerings match the filter in all.
    pub total: usize,
    /// This page (1-based).
    pub page: u32,
    /// Offerings per page.
    pub page_size: u32,
    /// Every tag of the offerings this user may see (for the tag filter).
    pub tags: Vec<String>,
    /// Every configured environment.
    pub environments: Vec<String>,
    /// What the catalog could not load (offering files, XRDs, clusters); admins only.
    #[serde(default)]
    pub problems: Vec<String>,
}

impl CatalogPage {
    /// Number of pages (at least 1).
    pub fn pages(&self) -> u32 {
        let size = self.page_size.max(1) as usize;
        u32::try_from(self.total.div_ceil(size).max(1)).unwrap_or(u32::MAX)
    }
}

/// One offering with everything its form and documentation need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OfferingDetail {
    /// The listing facts.
    pub summary: OfferingSummary,
    /// The form.
    pub form: FormModel,
    /// Whether the produced manifest lives in a namespace.
    pub namespaced: bool,
    /// Teams the offering is restricted to (empty: every team).
    pub teams: Vec<String>,
    /// The teams this user may request it for.
    pub my_teams: Vec<String>,
    /// Things a requester should know that the form cannot show (unchecked rules, …).
    pub notes: Vec<String>,
    /// The platform's policies that apply to this offering: what each asks, where.
    #[serde(default)]
    pub policies: Vec<PolicyNote>,
}

/// A policy as a requester reads it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PolicyNote {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Where it applies (empty: every environment).
    pub environments: Vec<String>,
    /// Teams it applies to (empty: every team).
    pub teams: Vec<String>,
    /// What it asks, one line each.
    pub asks: Vec<String>,
}

/// The form of an offering: its fields, in display order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FormModel {
    /// Top-level fields.
    pub fields: Vec<Field>,
    /// Rules over the whole set of values (`x-kubernetes-validations` at the root).
    pub rules: Vec<Rule>,
    /// Whether values the fields do not name are kept (else refused).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
}

/// One field of a form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(no_recursion))]
pub struct Field {
    /// Property name in its parent object.
    pub key: String,
    /// Label shown to people (the schema's `title`, else the key in words).
    pub label: String,
    /// Help text (the schema's `description`, or the `x-ui-help` hint).
    pub description: String,
    /// Must be present.
    pub required: bool,
    /// `null` is an allowed value.
    pub nullable: bool,
    /// The schema's default, filled in when the form opens.
    pub default: Option<Value>,
    /// Presentation hints.
    pub ui: UiHints,
    /// Validation rules (`x-kubernetes-validations`) of this field.
    pub rules: Vec<Rule>,
    /// Constraints the API server adds to JSON Schema (list types, property counts, embedded
    /// objects).
    #[serde(default, skip_serializing_if = "crate::structure::Structure::is_plain")]
    pub structure: crate::structure::Structure,
    /// What the value is.
    pub kind: FieldKind,
}

/// Presentation hints from `x-ui-*` schema keywords (or an offering file's `ui` section).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UiHints {
    /// Position among siblings (lower first); fields without come after, in schema order.
    pub order: Option<i64>,
    /// Not shown; its default (if any) is still submitted.
    pub hidden: bool,
    /// Shown folded under "Advanced".
    pub advanced: bool,
    /// A widget name (`textarea`, `password`, `radio`, `yaml`, `slider`).
    pub widget: Option<String>,
    /// Placeholder text for inputs.
    pub placeholder: Option<String>,
}

/// A CEL rule attached to a schema node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Rule {
    /// The CEL expression.
    pub rule: String,
    /// The message shown when it fails.
    pub message: String,
    /// Whether the portal evaluates it (else the cluster will, at apply time).
    pub checked: bool,
}

/// The type of a field and its constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(no_recursion))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    /// A string.
    Text {
        /// Minimum length in characters.
        min_length: Option<u64>,
        /// Maximum length in characters.
        max_length: Option<u64>,
        /// ECMA-262 regular expression the value must match.
        pattern: Option<String>,
        /// JSON Schema `format` (`date-time`, `email`, `uri`, …).
        format: Option<String>,
        /// Allowed values, when the schema lists them.
        choices: Vec<String>,
    },
    /// A whole number.
    Integer {
        /// Inclusive lower bound (exclusive if `exclusive_minimum`).
        minimum: Option<f64>,
        /// Inclusive upper bound (exclusive if `exclusive_maximum`).
        maximum: Option<f64>,
        /// The lower bound is exclusive.
        exclusive_minimum: bool,
        /// The upper bound is exclusive.
        exclusive_maximum: bool,
        /// Allowed values, when the schema lists them.
        choices: Vec<i64>,
        /// The value must be a multiple of this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        multiple_of: Option<f64>,
    },
    /// A number.
    Number {
        /// Inclusive lower bound (exclusive if `exclusive_minimum`).
        minimum: Option<f64>,
        /// Inclusive upper bound (exclusive if `exclusive_maximum`).
        maximum: Option<f64>,
        /// The lower bound is exclusive.
        exclusive_minimum: bool,
        /// The upper bound is exclusive.
        exclusive_maximum: bool,
        /// The value must be a multiple of this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        multiple_of: Option<f64>,
        /// Allowed values, when the schema lists them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        choices: Vec<f64>,
    },
    /// `true` or `false`.
    Boolean,
    /// Kubernetes `int-or-string` (ports, quantities, percentages).
    IntOrString {
        /// Pattern a string value must match.
        pattern: Option<String>,
    },
    /// A group of named fields.
    Object {
        /// The fields, in display order.
        fields: Vec<Field>,
    },
    /// A list; `item` describes each element.
    List {
        /// The element's field (its key is unused).
        item: Box<Field>,
        /// Minimum number of elements.
        min_items: Option<u64>,
        /// Maximum number of elements.
        max_items: Option<u64>,
    },
    /// A map with free keys; `value` describes each value.
    Map {
        /// The value's field (its key is unused).
        value: Box<Field>,
    },
    /// Anything (`x-kubernetes-preserve-unknown-fields`, no type): edited as YAML.
    Any,
}

/// A problem with one value, at its JSON Pointer (`/storageGB`, `/tags/2`; `` for the whole).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON Pointer into the values, or `@name` / `@team` / `@environment`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

/// Where the resource name's error is reported. Errors about the request rather than the
/// values start with `@` (JSON Pointers never do): `@name`, `@team`, `@environment`.
pub const NAME_PATH: &str = "@name";
/// Where an error about the chosen team is reported.
pub const TEAM_PATH: &str = "@team";
/// Where an error about the chosen environment is reported.
pub const ENVIRONMENT_PATH: &str = "@environment";

/// What a person asks for: an offering, where, for whom, and the values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RequestDraft {
    /// Offering id.
    pub offering: String,
    /// Environment name.
    pub environment: String,
    /// Team the request is for.
    pub team: String,
    /// The resource's name (`metadata.name`).
    pub name: String,
    /// The form's values (the manifest's `spec`, for XRD offerings).
    pub values: Value,
}

/// A saved draft.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SavedDraft {
    /// The draft.
    pub draft: RequestDraft,
    /// When it was saved (RFC 3339).
    pub saved_at: String,
}

/// How a file of the preview compares to the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FileChange {
    /// No file at that path yet.
    New,
    /// The file exists and would change.
    Changed,
    /// The file exists with exactly this content.
    Unchanged,
}

/// One line of a diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DiffLine {
    /// `+`, `-` or ` `.
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub sign: char,
    /// The line, without its newline.
    pub text: String,
}

/// One file the request would write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PreviewFile {
    /// Path in the repository.
    pub path: String,
    /// The full new content.
    pub content: String,
    /// How it compares to the repository's branch head.
    pub change: FileChange,
    /// The diff against the repository (empty when unchanged).
    pub diff: Vec<DiffLine>,
}

/// What a request would commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Preview {
    /// The files.
    pub files: Vec<PreviewFile>,
    /// The commit the comparison was made against (short).
    pub base: String,
    /// What the API server will add or drop when it stores the claim: defaults for fields
    /// left out, `null`s the schema does not allow.
    #[serde(default)]
    pub cluster_fills: Vec<crate::structure::Defaulted>,
}

/// Checks a Kubernetes object name: an RFC 1123 label (lower-case letters, digits and `-`,
/// starting and ending with a letter or digit, at most 63 characters). Names of claims become
/// parts of composed resources' names and of file paths, so the stricter label rule applies.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("A name is required.".into());
    }
    if name.len() > 63 {
        return Err(format!(
            "At most 63 characters (this one has {}).",
            name.len()
        ));
    }
    let bytes = name.as_bytes();
    let valid_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    if !bytes.iter().all(valid_char) {
        return Err("Use only lower-case letters, digits and '-'.".into());
    }
    if !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return Err("Start and end with a letter or digit.".into());
    }
    Ok(())
}

/// Turns `storageGB` / `node_count` / `flux-sync` into "Storage GB" / "Node count" / "Flux sync".
pub fn humanize(key: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c == '.' || c == ' ' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let all_caps = word.chars().all(|c| !c.is_lowercase());
        if i == 0 {
            let mut cs = word.chars();
            if let Some(first) = cs.next() {
                out.extend(first.to_uppercase());
                out.push_str(cs.as_str());
            }
        } else if all_caps {
            out.push_str(word);
        } else {
            out.push_str(&word.to_lowercase());
        }
    }
    out
}

/// The browser-side check of one value against its field, without descending into children
/// (each child is checked where it is rendered). `None` is an absent value. Returns the first
/// problem. Patterns are checked by `pattern_matches`, which the caller supplies (the browser
/// uses JavaScript's own ECMA-262 engine, the dialect JSON Schema specifies).
pub fn check_value(
    field: &Field,
    value: Option<&Value>,
    pattern_matches: &dyn Fn(&str, &str) -> Option<bool>,
) -> Option<String> {
    let value = match value {
        None => {
            return field.required.then(|| "This field is required.".to_owned());
        }
        Some(Value::Null) if field.nullable => return None,
        Some(Value::String(s)) if s.is_empty() && field.required => {
            return Some("This field is required.".to_owned());
        }
        Some(value) => value,
    };
    match (&field.kind, value) {
        (FieldKind::Any, _) => None,
        (
            FieldKind::Text {
                min_length,
                max_length,
                pattern,
                format,
                choices,
            },
            Value::String(s),
        ) => {
            let len = s.chars().count() as u64;
            if !choices.is_empty() && !choices.iter().any(|c| c == s) {
                return Some(format!("Choose one of: {}.", choices.join(", ")));
            }
            if let Some(min) = min_length
                && len < *min
            {
                return Some(format!("At least {min} characters."));
            }
            if let Some(max) = max_length
                && len > *max
            {
                return Some(format!("At most {max} characters (now {len})."));
            }
            if let Some(pattern) = pattern
                && pattern_matches(pattern, s) == Some(false)
            {
                return Some(format!("Must match the pattern {pattern}."));
            }
            format
                .as_deref()
                .and_then(|format| crate::formats::check(format, s))
        }
        (FieldKind::Integer { .. }, Value::Number(n)) if !n.is_i64() && !n.is_u64() => {
            Some("Enter a whole number.".into())
        }
        (
            FieldKind::Integer {
                minimum,
                maximum,
                exclusive_minimum,
                exclusive_maximum,
                choices,
                multiple_of,
            },
            Value::Number(n),
        ) => {
            let x = n.as_f64().unwrap_or_default();
            if !choices.is_empty() && !choices.iter().any(|c| *c as f64 == x) {
                let list: Vec<String> = choices.iter().map(i64::to_string).collect();
                return Some(format!("Choose one of: {}.", list.join(", ")));
            }
            check_bounds(
                x,
                *minimum,
                *maximum,
                *exclusive_minimum,
                *exclusive_maximum,
            )
            .or_else(|| check_multiple(x, *multiple_of))
        }
        (
            FieldKind::Number {
                minimum,
                maximum,
                exclusive_minimum,
                exclusive_maximum,
                multiple_of,
                choices,
            },
            Value::Number(n),
        ) => {
            let x = n.as_f64().unwrap_or_default();
            if !choices.is_empty() && !choices.contains(&x) {
                let list: Vec<String> = choices.iter().map(f64::to_string).collect();
                return Some(format!("Choose one of: {}.", list.join(", ")));
            }
            check_bounds(
                x,
                *minimum,
                *maximum,
                *exclusive_minimum,
                *exclusive_maximum,
            )
            .or_else(|| check_multiple(x, *multiple_of))
        }
        (FieldKind::Boolean, Value::Bool(_)) => None,
        (FieldKind::IntOrString { .. }, Value::Number(n)) if n.is_i64() || n.is_u64() => None,
        (FieldKind::IntOrString { pattern }, Value::String(s)) => match pattern {
            Some(p) if pattern_matches(p, s) == Some(false) => {
                Some(format!("Must match the pattern {p}."))
            }
            _ => None,
        },
        (FieldKind::Object { .. } | FieldKind::Map { .. }, Value::Object(_)) => None,
        (
            FieldKind::List {
                min_items,
                max_items,
                ..
            },
            Value::Array(items),
        ) => {
            let n = items.len() as u64;
            if let Some(min) = min_items
                && n < *min
            {
                return Some(format!("Add at least {min}."));
            }
            if let Some(max) = max_items
                && n > *max
            {
                return Some(format!("At most {max} entries."));
            }
            None
        }
        (FieldKind::Integer { .. } | FieldKind::Number { .. }, _) => Some("Enter a number.".into()),
        (FieldKind::Text { .. }, _) => Some("Enter text.".into()),
        (FieldKind::Boolean, _) => Some("Choose yes or no.".into()),
        (FieldKind::IntOrString { .. }, _) => Some("Enter a whole number or text.".into()),
        (FieldKind::List { .. }, _) => Some("Expected a list.".into()),
        (FieldKind::Object { .. } | FieldKind::Map { .. }, _) => {
            Some("Expected a group of values.".into())
        }
    }
}

/// `multipleOf` as JSON Schema validators check it: the quotient is a whole number (within
/// floating-point noise, so `0.3` is a multiple of `0.1`).
fn check_multiple(x: f64, multiple_of: Option<f64>) -> Option<String> {
    let m = multiple_of.filter(|m| *m > 0.0)?;
    let q = x / m;
    ((q - q.round()).abs() > 1e-9 * q.abs().max(1.0)).then(|| format!("Must be a multiple of {m}."))
}

fn check_bounds(
    x: f64,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
) -> Option<String> {
    if let Some(min) = minimum {
        if exclusive_minimum && x <= min {
            return Some(format!("Must be greater than {min}."));
        }
        if x < min {
            return Some(format!("At least {min}."));
        }
    }
    if let Some(max) = maximum {
        if exclusive_maximum && x >= max {
            return Some(format!("Must be less than {max}."));
        }
        if x > max {
            return Some(format!("At most {max}."));
        }
    }
    None
}

/// Every problem the browser shows for `values`, by field: [`check_value`] on each present
/// node (and each missing required one), then [`crate::structure::check`] — on the values as
/// the API server will see them (defaults applied, disallowed `null`s dropped), like the
/// server's own check. The form shows these as the person types; the conformance tests run
/// every case through this and through the server and compare.
pub fn client_errors(
    form: &FormModel,
    values: &Value,
    pattern_matches: &dyn Fn(&str, &str) -> Option<bool>,
) -> Vec<FieldError> {
    let mut stored = values.clone();
    crate::structure::apply_defaults(&form.fields, &mut stored, "");
    let mut errors = Vec::new();
    walk_fields(&form.fields, &stored, "", pattern_matches, &mut errors);
    crate::structure::check_form(form, &stored, &mut errors);
    errors
}

fn walk_fields(
    fields: &[Field],
    object: &Value,
    path: &str,
    pattern_matches: &dyn Fn(&str, &str) -> Option<bool>,
    errors: &mut Vec<FieldError>,
) {
    for field in fields {
        let child = pointer_child(path, &field.key);
        walk_value(
            field,
            object.get(&field.key),
            &child,
            pattern_matches,
            errors,
        );
    }
}

fn walk_value(
    field: &Field,
    value: Option<&Value>,
    path: &str,
    pattern_matches: &dyn Fn(&str, &str) -> Option<bool>,
    errors: &mut Vec<FieldError>,
) {
    if let Some(message) = check_value(field, value, pattern_matches) {
        errors.push(FieldError {
            path: path.to_owned(),
            message,
        });
    }
    match (&field.kind, value) {
        (FieldKind::Object { fields }, Some(object @ Value::Object(_))) => {
            walk_fields(fields, object, path, pattern_matches, errors);
        }
        (FieldKind::List { item, .. }, Some(Value::Array(items))) => {
            for (i, v) in items.iter().enumerate() {
                walk_value(
                    item,
                    Some(v),
                    &format!("{path}/{i}"),
                    pattern_matches,
                    errors,
                );
            }
        }
        (FieldKind::Map { value: inner }, Some(Value::Object(map))) => {
            for (key, v) in map {
                walk_value(
                    inner,
                    Some(v),
                    &pointer_child(path, key),
                    pattern_matches,
                    errors,
                );
            }
        }
        _ => {}
    }
}

/// The values a fresh form starts with: every default, nested objects included.
pub fn initial_values(fields: &[Field]) -> Value {
    let mut map = serde_json::Map::new();
    for field in fields {
        if let Some(default) = &field.default {
            map.insert(field.key.clone(), default.clone());
        } else if let FieldKind::Object { fields } = &field.kind {
            let inner = initial_values(fields);
            if inner.as_object().is_some_and(|o| !o.is_empty()) {
                map.insert(field.key.clone(), inner);
            }
        }
    }
    Value::Object(map)
}

/// Groups field errors by path for display.
pub fn errors_by_path(errors: &[FieldError]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for error in errors {
        map.entry(error.path.clone())
            .or_default()
            .push(error.message.clone());
    }
    map
}

/// Appends one step to a JSON Pointer, escaping `~` and `/` (RFC 6901).
pub fn pointer_child(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(required: bool, max: Option<u64>) -> Field {
        Field {
            key: "name".into(),
            label: "Name".into(),
            description: String::new(),
            required,
            nullable: false,
            default: None,
            ui: UiHints::default(),
            rules: vec![],
            structure: Default::default(),
            kind: FieldKind::Text {
                min_length: None,
                max_length: max,
                pattern: Some("^[a-z]+$".into()),
                format: None,
                choices: vec![],
            },
        }
    }

    fn no_regex(_: &str, _: &str) -> Option<bool> {
        None
    }

    #[test]
    fn kubernetes_names_follow_the_rfc_1123_label_rule() {
        assert!(check_name("orders-db").is_ok());
        assert!(check_name("a").is_ok());
        assert!(check_name(&"a".repeat(63)).is_ok());
        for bad in [
            "",
            "Orders",
            "../../etc",
            "a/b",
            "-a",
            "a-",
            "a_b",
            "a.b",
            "é",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(check_name(&"a".repeat(64)).unwrap_err().contains("63"));
    }

    #[test]
    fn keys_read_as_words() {
        assert_eq!(humanize("storageGB"), "Storage GB");
        assert_eq!(humanize("node_count"), "Node count");
        assert_eq!(humanize("flux-sync"), "Flux sync");
        assert_eq!(humanize("enableHTTPProxy"), "Enable HTTP proxy");
        assert_eq!(humanize("id"), "Id");
    }

    #[test]
    fn a_required_field_left_empty_is_reported() {
        let field = text(true, None);
        assert_eq!(
            check_value(&field, None, &no_regex).as_deref(),
            Some("This field is required.")
        );
        assert!(check_value(&field, Some(&json!("")), &no_regex).is_some());
        assert!(check_value(&text(false, None), None, &no_regex).is_none());
    }

    #[test]
    fn lengths_bounds_and_patterns_are_checked_while_typing() {
        let field = text(true, Some(3));
        assert!(
            check_value(&field, Some(&json!("abcd")), &no_regex)
                .unwrap()
                .contains("At most 3")
        );
        let says_no = |_: &str, _: &str| Some(false);
        assert!(
            check_value(&field, Some(&json!("ab")), &says_no)
                .unwrap()
                .contains("pattern")
        );
        let int = Field {
            kind: FieldKind::Integer {
                minimum: Some(10.0),
                maximum: Some(500.0),
                exclusive_minimum: false,
                exclusive_maximum: false,
                choices: vec![],
                multiple_of: None,
            },
            ..text(true, None)
        };
        assert_eq!(
            check_value(&int, Some(&json!(5)), &no_regex).as_deref(),
            Some("At least 10.")
        );
        assert!(check_value(&int, Some(&json!(10)), &no_regex).is_none());
        assert_eq!(
            check_value(&int, Some(&json!(1.5)), &no_regex).as_deref(),
            Some("Enter a whole number.")
        );
    }

    #[test]
    fn initial_values_take_nested_defaults() {
        let inner = Field {
            key: "size".into(),
            default: Some(json!(3)),
            ..text(false, None)
        };
        let outer = Field {
            key: "nodes".into(),
            kind: FieldKind::Object {
                fields: vec![inner],
            },
            ..text(false, None)
        };
        assert_eq!(initial_values(&[outer]), json!({"nodes": {"size": 3}}));
    }

    #[test]
    fn pointers_escape_slashes_and_tildes() {
        assert_eq!(pointer_child("", "a/b~c"), "/a~1b~0c");
    }
}
