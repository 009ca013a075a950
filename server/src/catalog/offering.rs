//! Offerings: the compiled form of an offering file or of a Crossplane XRD, ready to list,
//! render as a form, validate values against and turn into manifests.
//!
//! The offering file format (`apiVersion: slipway.dev/v1alpha1`, `kind: Offering`) is
//! documented in the README with a complete example; [`OfferingFile`] is its parser.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use app::catalog::{FieldError, FormModel, OfferingSource, OfferingSummary, check_name};
use serde::Deserialize;
use serde_json::Value;

use super::secrets::SecretFields;
use super::{Error, Result, cel, schema};

/// The layout path used when an offering does not set one.
pub const DEFAULT_PATH: &str = "{{ env }}/{{ team }}/{{ kind | lower }}/{{ name }}.yaml";

/// An offering, compiled. Cheap to clone (shared parts are behind `Arc`).
#[derive(Clone)]
pub struct Offering {
    /// The listing facts.
    pub summary: OfferingSummary,
    /// Teams that may request it (empty: every team).
    pub teams: Vec<String>,
    /// The values' schema in the Kubernetes dialect (for CEL rules and the docs).
    pub structural: Arc<Value>,
    /// A schema node holding the `x-kubernetes-validations` of the whole object (XRD root),
    /// evaluated with `self` = `{metadata: {name}, spec: values}`; `Null` when none.
    pub object_rules: Arc<Value>,
    /// The values' JSON Schema validator, compiled when the offering is first validated.
    /// Compiled validators are about half of an offering's memory, and most offerings of a
    /// large catalog are never opened; the schema was compiled once at load to prove it can be.
    pub validator: Arc<OnceLock<jsonschema::Validator>>,
    /// The form.
    pub form: Arc<FormModel>,
    /// Whether the main manifest is namespaced.
    pub namespaced: bool,
    /// How manifests are produced.
    pub output: Output,
    /// Notes shown with the form.
    pub notes: Vec<String>,
    /// Lower-case text the catalog search matches against.
    pub haystack: String,
    /// Its secret fields (see [`super::secrets`]).
    pub secrets: Arc<SecretFields>,
}

/// How an offering's manifests are produced.
#[derive(Clone, Debug)]
pub enum Output {
    /// Manifests from an offering file, with `{{ }}` expressions in string values.
    Template {
        /// Path template (Jinja syntax), or the layout default.
        path: String,
        /// Manifest trees with expressions.
        manifests: Vec<Value>,
    },
    /// One claim (or namespaced XR) whose `spec` is the form's values.
    Claim,
}

impl Offering {
    /// Validates `values` and the resource `name`: JSON Schema errors and failing CEL rules,
    /// each at its path. Empty means valid.
    pub fn validate(&self, name: &str, values: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(message) = check_name(name) {
            errors.push(FieldError {
                path: app::catalog::NAME_PATH.into(),
                message,
            });
        }
        // The API server checks the object as it will store it: nulls the schema does not
        // allow dropped, defaults applied. So are the checks here.
        let (values, _) = self.as_stored(values);
        let values = &values;
        let schema_errors: Vec<FieldError> = self
            .validator
            .get_or_init(|| {
                build_validator(&self.structural).expect("the schema compiled when loaded")
            })
            .iter_errors(values)
            .map(|e| field_error(&e))
            .collect();
        // CEL rules assume a schema-valid object (in Kubernetes they run after the schema).
        if schema_errors.is_empty() {
            cel::check_rules(&self.structural, values, "", &mut errors);
            if !self.object_rules.is_null() {
                let object = serde_json::json!({
                    "metadata": {"name": name},
                    "spec": values,
                });
                let mut found = Vec::new();
                cel::check_rules(&self.object_rules, &object, "", &mut found);
                // Rules on the object mostly speak of its name: show them there.
                errors.extend(found.into_iter().map(|e| FieldError {
                    path: app::catalog::NAME_PATH.into(),
                    ..e
                }));
            }
        }
        errors.extend(schema_errors);
        formats(&self.structural, values, "", &mut errors);
        app::structure::check_form(&self.form, values, &mut errors);
        control_characters_in_keys(values, "", &mut errors);
        self.secrets.check(values, &mut errors);
        // A schema that says `additionalProperties: false` itself has unknown fields reported
        // by both checks, in the same words: once is enough.
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert((e.path.clone(), e.message.clone())));
        errors
    }

    /// `values` as the API server will store them — nulls the schema does not allow dropped,
    /// defaults applied — and what that changed.
    pub fn as_stored(&self, values: &Value) -> (Value, Vec<app::structure::Defaulted>) {
        let mut stored = values.clone();
        let changes = app::structure::apply_defaults(&self.form.fields, &mut stored, "");
        (stored, changes)
    }

    /// Whether `team` may request this offering.
    pub fn allows_team(&self, team: &str) -> bool {
        self.teams.is_empty() || self.teams.iter().any(|t| t == team)
    }
}

fn field_error(error: &jsonschema::ValidationError<'_>) -> FieldError {
    use jsonschema::error::ValidationErrorKind as Kind;
    let path = error.instance_path().as_str().to_owned();
    let limit = |v: &Value| v.to_string();
    let (path, message) = match error.kind() {
        Kind::Required { property } => (
            app::catalog::pointer_child(&path, property.as_str().unwrap_or_default()),
            "This field is required.".to_owned(),
        ),
        Kind::MinLength { limit } => (path, format!("At least {limit} characters.")),
        Kind::MaxLength { limit } => (path, format!("At most {limit} characters.")),
        Kind::Pattern { pattern } => (path, format!("Must match the pattern {pattern}.")),
        Kind::Minimum { limit: l } => (path, format!("At least {}.", limit(l))),
        Kind::Maximum { limit: l } => (path, format!("At most {}.", limit(l))),
        Kind::ExclusiveMinimum { limit: l } => {
            (path, format!("Must be greater than {}.", limit(l)))
        }
        Kind::ExclusiveMaximum { limit: l } => (path, format!("Must be less than {}.", limit(l))),
        Kind::MinItems { limit } => (path, format!("Add at least {limit}.")),
        Kind::MaxItems { limit } => (path, format!("At most {limit} entries.")),
        Kind::Enum { options } => (path, format!("Choose one of: {}.", enum_list(options))),
        Kind::AdditionalProperties { unexpected } => (
            path,
            format!("Unknown field(s): {}.", unexpected.join(", ")),
        ),
        Kind::Type { .. } => (
            path,
            format!("Wrong type: {}.", shorten(&error.to_string())),
        ),
        _ => (path, shorten(&error.to_string())),
    };
    FieldError { path, message }
}

fn enum_list(options: &Value) -> String {
    options
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Validator messages quote the value; a pasted megabyte must not come back in an error.
fn shorten(message: &str) -> String {
    const MAX: usize = 200;
    if message.chars().count() <= MAX {
        return message.to_owned();
    }
    let cut: String = message.chars().take(MAX).collect();
    format!("{cut}…")
}

/// The JSON Schema validator of a structural schema. Deterministic: a schema that compiled
/// once compiles again.
fn build_validator(
    structural: &Value,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&schema::to_json_schema(structural))
}

/// Compiles the parts both sources share.
#[expect(
    clippy::too_many_arguments,
    reason = "one constructor for both sources"
)]
pub(super) fn compile(
    summary: OfferingSummary,
    teams: Vec<String>,
    structural: Value,
    namespaced: bool,
    output: Output,
    mut notes: Vec<String>,
    form: FormModel,
    object_rules: Value,
    secrets: SecretFields,
    source_name: &str,
) -> Result<Offering> {
    build_validator(&structural).map_err(|e| Error::Invalid {
        source_name: source_name.to_owned(),
        problem: format!("the parameter schema is not valid: {e}"),
    })?;
    let mut problems = Vec::new();
    schema::structural_problems(&structural, "", &mut problems);
    if !problems.is_empty() {
        return Err(Error::Invalid {
            source_name: source_name.to_owned(),
            problem: format!(
                "the parameter schema is not one the Kubernetes API server accepts: {}",
                problems.join("; ")
            ),
        });
    }
    collect_rule_notes(&form.rules, "", &mut notes);
    for field in &form.fields {
        collect_field_notes(field, &mut notes);
    }
    let haystack = [
        summary.id.as_str(),
        &summary.title,
        &summary.description,
        &summary.kind,
        &summary.tags.join(" "),
    ]
    .join(" ")
    .to_lowercase();
    Ok(Offering {
        summary,
        teams,
        structural: Arc::new(structural),
        object_rules: Arc::new(match object_rules {
            Value::Array(rules) if !rules.is_empty() => {
                serde_json::json!({ "x-kubernetes-validations": rules })
            }
            _ => Value::Null,
        }),
        validator: Arc::new(OnceLock::new()),
        form: Arc::new(form),
        namespaced,
        output,
        notes,
        haystack,
        secrets: Arc::new(secrets),
    })
}

fn collect_field_notes(field: &app::catalog::Field, notes: &mut Vec<String>) {
    collect_rule_notes(&field.rules, &field.label, notes);
    match &field.kind {
        app::catalog::FieldKind::Object { fields } => {
            for f in fields {
                collect_field_notes(f, notes);
            }
        }
        app::catalog::FieldKind::List { item, .. } => collect_field_notes(item, notes),
        app::catalog::FieldKind::Map { value } => collect_field_notes(value, notes),
        _ => {}
    }
}

fn collect_rule_notes(rules: &[app::catalog::Rule], label: &str, notes: &mut Vec<String>) {
    for rule in rules.iter().filter(|r| !r.checked) {
        let at = if label.is_empty() {
            String::new()
        } else {
            format!(" ({label})")
        };
        notes.push(format!(
            "Checked by the cluster, not here{at}: {} — `{}`",
            rule.message, rule.rule
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Offering files

/// An offering file as written (`apiVersion: slipway.dev/v1alpha1`, `kind: Offering`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OfferingFile {
    /// Must be `slipway.dev/v1alpha1`.
    pub api_version: String,
    /// Must be `Offering`.
    pub kind: String,
    /// Listing facts.
    pub metadata: FileMetadata,
    /// What it asks and produces.
    pub spec: FileSpec,
}

/// `metadata` of an offering file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMetadata {
    /// Unique id: an RFC 1123 label.
    pub name: String,
    /// Human title.
    pub title: String,
    /// One or two sentences.
    #[serde(default)]
    pub description: String,
    /// Owning team.
    #[serde(default)]
    pub owner: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Icon name.
    #[serde(default)]
    pub icon: String,
    /// Version (semver).
    pub version: String,
}

/// `spec` of an offering file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Environments offering it (empty: all).
    #[serde(default)]
    pub environments: Vec<String>,
    /// Teams that may use it (empty: all).
    #[serde(default)]
    pub teams: Vec<String>,
    /// Whether the manifest is namespaced (default true).
    #[serde(default = "yes")]
    pub namespaced: bool,
    /// The parameters' schema (Kubernetes structural schema dialect, `type: object`).
    pub parameters: Value,
    /// UI hints by dotted field path.
    #[serde(default)]
    pub ui: FileUi,
    /// What is produced.
    pub output: FileOutput,
}

fn yes() -> bool {
    true
}

/// `spec.ui` of an offering file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUi {
    /// Top-level field order.
    #[serde(default)]
    pub order: Vec<String>,
    /// Hints per dotted path (`backup.window`).
    #[serde(default)]
    pub fields: BTreeMap<String, FileFieldHints>,
}

/// Hints for one field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFieldHints {
    /// Not shown.
    #[serde(default)]
    pub hidden: bool,
    /// Folded under "Advanced".
    #[serde(default)]
    pub advanced: bool,
    /// Widget name.
    pub widget: Option<String>,
    /// Placeholder text.
    pub placeholder: Option<String>,
    /// Help text (replaces the description).
    pub help: Option<String>,
    /// `keep`: the field is the environment's own; promotions leave it as the target has it.
    pub promotion: Option<PromotionHint>,
}

/// What a promotion does with a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromotionHint {
    /// Keep the target's value (or the default on a new claim).
    Keep,
}

/// `spec.output` of an offering file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutput {
    /// Path template; the layout default when absent.
    pub path: Option<String>,
    /// Manifests, with `{{ }}` expressions in string values.
    pub manifests: Vec<Value>,
}

/// Parses and compiles one offering file. `source_name` names it in errors.
pub fn from_file(text: &str, source_name: &str, environments: &[String]) -> Result<Offering> {
    let invalid = |problem: String| Error::Invalid {
        source_name: source_name.to_owned(),
        problem,
    };
    let file: OfferingFile = serde_saphyr::from_str(text)
        .map_err(|e| invalid(format!("not a valid offering file: {e}")))?;
    if file.api_version != "slipway.dev/v1alpha1" || file.kind != "Offering" {
        return Err(invalid(format!(
            "expected apiVersion slipway.dev/v1alpha1 and kind Offering, found {} {}",
            file.api_version, file.kind
        )));
    }
    check_name(&file.metadata.name).map_err(|e| invalid(format!("metadata.name: {e}")))?;
    if file.spec.parameters.get("type").and_then(Value::as_str) != Some("object") {
        return Err(invalid(
            "spec.parameters must be a schema of type object".into(),
        ));
    }
    if file.spec.output.manifests.is_empty() {
        return Err(invalid("spec.output.manifests lists no manifest".into()));
    }
    for env in &file.spec.environments {
        if !environments.contains(env) {
            return Err(invalid(format!(
                "spec.environments names an unknown environment {env:?}"
            )));
        }
    }
    let first = &file.spec.output.manifests[0];
    let text_of = |key: &str| {
        first
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (text_of("apiVersion"), text_of("kind"));
    if api_version.is_empty() || kind.is_empty() || kind.contains("{{") {
        return Err(invalid(
            "the first manifest needs a literal apiVersion and kind".into(),
        ));
    }
    let path = file
        .spec
        .output
        .path
        .clone()
        .unwrap_or_else(|| DEFAULT_PATH.to_owned());
    super::render::check_templates(&path, &file.spec.output.manifests)
        .map_err(|e| invalid(format!("spec.output: {e}")))?;
    let offered = if file.spec.environments.is_empty() {
        environments
    } else {
        &file.spec.environments
    };
    super::render::check_path_template(&path, &kind, offered)
        .map_err(|e| invalid(format!("spec.output.path: {e}")))?;

    let mut structural = file.spec.parameters;
    apply_hints(&mut structural, &file.spec.ui);
    let secrets = super::secrets::mark(&mut structural, true)
        .map_err(|e| invalid(format!("spec.parameters: {e}")))?;
    let form = schema::form_model(&structural);
    let meta = file.metadata;
    let summary = OfferingSummary {
        id: meta.name,
        title: meta.title,
        description: meta.description.trim().to_owned(),
        owner: meta.owner,
        tags: meta.tags.iter().map(|t| t.to_lowercase()).collect(),
        icon: meta.icon,
        version: meta.version,
        source: OfferingSource::Template,
        api_version,
        kind,
        environments: if file.spec.environments.is_empty() {
            environments.to_vec()
        } else {
            file.spec.environments
        },
    };
    compile(
        summary,
        file.spec.teams,
        structural,
        file.spec.namespaced,
        Output::Template {
            path,
            manifests: file.spec.output.manifests,
        },
        vec![],
        form,
        Value::Null,
        secrets,
        source_name,
    )
}

/// Writes the file's `ui` section into the schema as `x-ui-*` keywords, so both sources take
/// one road to the form.
fn apply_hints(schema: &mut Value, ui: &FileUi) {
    for (i, key) in ui.order.iter().enumerate() {
        if let Some(prop) = schema.pointer_mut(&format!("/properties/{key}"))
            && let Some(obj) = prop.as_object_mut()
        {
            obj.insert("x-ui-order".into(), Value::from(i as i64));
        }
    }
    for (path, hints) in &ui.fields {
        let pointer: String = path
            .split('.')
            .map(|k| format!("/properties/{k}"))
            .collect();
        let Some(Value::Object(obj)) = schema.pointer_mut(&pointer) else {
            continue;
        };
        let mut set = |k: &str, v: Value| {
            obj.insert(k.into(), v);
        };
        if hints.hidden {
            set("x-ui-hidden", Value::Bool(true));
        }
        if hints.advanced {
            set("x-ui-advanced", Value::Bool(true));
        }
        if let Some(w) = &hints.widget {
            set("x-ui-widget", Value::from(w.as_str()));
        }
        if let Some(p) = &hints.placeholder {
            set("x-ui-placeholder", Value::from(p.as_str()));
        }
        if let Some(h) = &hints.help {
            set("description", Value::from(h.as_str()));
        }
        if hints.promotion == Some(PromotionHint::Keep) {
            set(app::promotions::KEEP_HINT, Value::from("keep"));
        }
    }
}
/// Strings checked against their schema's `format` as the API server checks them, with the
/// same rules the browser applies while the form is filled ([`app::formats`]).
fn formats(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(text) => {
            if let Some(problem) = schema
                .get("format")
                .and_then(Value::as_str)
                .and_then(|format| app::formats::check(format, text))
            {
                errors.push(FieldError {
                    path: path.to_owned(),
                    message: problem,
                });
            }
        }
        Value::Object(map) => {
            for (key, child) in map {
                let child_schema = schema
                    .get("properties")
                    .and_then(|p| p.get(key))
                    .or_else(|| schema.get("additionalProperties").filter(|s| s.is_object()));
                if let Some(child_schema) = child_schema {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    formats(child_schema, child, &format!("{path}/{escaped}"), errors);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    formats(item_schema, item, &format!("{path}/{i}"), errors);
                }
            }
        }
        _ => {}
    }
}

/// Keys of free-form maps (`additionalProperties`, preserved unknown fields) are the
/// requester's text like values, but a key with a line break or another control character
/// has no use in a manifest and every use in forging the text around it: refused at its path.
fn control_characters_in_keys(value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                let child_path = format!("{path}/{escaped}");
                if key.chars().any(char::is_control) {
                    errors.push(FieldError {
                        path: child_path.clone(),
                        message:
                            "Keys may not contain line breaks, tabs or other control characters."
                                .into(),
                    });
                }
                control_characters_in_keys(child, &child_path, errors);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                control_characters_in_keys(child, &format!("{path}/{i}"), errors);
            }
        }
        _ => {}
    }
}
