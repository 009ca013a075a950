//! Every fixture XRD (and Kratix Promise) in tests/fixtures/xrd becomes an offering with a
//! usable form. The form model of each is snapshotted (tests/snapshots/), so any change to
//! how schemas become forms shows up in review; a fixture without a snapshot fails.

use std::fmt::Write as _;
use std::path::PathBuf;

use app::catalog::{Field, FieldKind, FormModel, initial_values};
use serde_json::Value;
use slipway::catalog::xrd;

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/xrd");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture reads");
            let value: Value = serde_saphyr::from_str(&text).expect("fixture is YAML");
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, value)
        })
        .collect()
}

fn envs() -> Vec<String> {
    vec!["dev".into(), "prod".into()]
}

/// A compact, reviewable text form of a form model.
fn describe(form: &FormModel) -> String {
    let mut out = String::new();
    for rule in &form.rules {
        let _ = writeln!(out, "rule{}: {}", checked(rule.checked), rule.rule);
    }
    for field in &form.fields {
        describe_field(field, 0, &mut out);
    }
    out
}

fn checked(yes: bool) -> &'static str {
    if yes { " (checked)" } else { " (cluster)" }
}

fn describe_field(field: &Field, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let mut line = format!("{pad}- {}", field.key);
    if field.required {
        line.push('*');
    }
    let _ = write!(line, " {}", kind_text(&field.kind));
    if field.nullable {
        line.push_str(" nullable");
    }
    if let Some(d) = &field.default {
        let _ = write!(line, " default={d}");
    }
    if field.ui.advanced {
        line.push_str(" [advanced]");
    }
    if field.ui.hidden {
        line.push_str(" [hidden]");
    }
    if let Some(o) = field.ui.order {
        let _ = write!(line, " [order {o}]");
    }
    let structure = &field.structure;
    match &structure.list_type {
        Some(app::structure::ListType::Set) => line.push_str(" list-type=set"),
        Some(app::structure::ListType::Map { keys }) => {
            let _ = write!(line, " list-type=map[{}]", keys.join(","));
        }
        None => {}
    }
    if let Some(n) = structure.min_properties {
        let _ = write!(line, " minProperties={n}");
    }
    if let Some(n) = structure.max_properties {
        let _ = write!(line, " maxProperties={n}");
    }
    if structure.embedded_resource {
        line.push_str(" embedded-resource");
    }
    let _ = writeln!(out, "{line}");
    for rule in &field.rules {
        let _ = writeln!(out, "{pad}  rule{}: {}", checked(rule.checked), rule.rule);
    }
    match &field.kind {
        FieldKind::Object { fields } => {
            for f in fields {
                describe_field(f, depth + 1, out);
            }
        }
        FieldKind::List { item, .. } => describe_field(item, depth + 1, out),
        FieldKind::Map { value } => describe_field(value, depth + 1, out),
        _ => {}
    }
}

fn kind_text(kind: &FieldKind) -> String {
    let range = |min: &Option<f64>, max: &Option<f64>| match (min, max) {
        (None, None) => String::new(),
        (a, b) => format!(
            " [{}..{}]",
            a.map(|x| x.to_string()).unwrap_or_default(),
            b.map(|x| x.to_string()).unwrap_or_default()
        ),
    };
    match kind {
        FieldKind::Text {
            min_length,
            max_length,
            pattern,
            format,
            choices,
        } => {
            let mut s = "text".to_owned();
            if min_length.is_some() || max_length.is_some() {
                let _ = write!(
                    s,
                    " len[{}..{}]",
                    min_length.map(|x| x.to_string()).unwrap_or_default(),
                    max_length.map(|x| x.to_string()).unwrap_or_default()
                );
            }
            if let Some(p) = pattern {
                let _ = write!(s, " /{p}/");
            }
            if let Some(f) = format {
                let _ = write!(s, " format={f}");
            }
            if !choices.is_empty() {
                let _ = write!(s, " one-of({})", choices.join("|"));
            }
            s
        }
        FieldKind::Integer {
            minimum,
            maximum,
            choices,
            ..
        } => {
            let mut s = format!("integer{}", range(minimum, maximum));
            if !choices.is_empty() {
                let list: Vec<String> = choices.iter().map(i64::to_string).collect();
                let _ = write!(s, " one-of({})", list.join("|"));
            }
            s
        }
        FieldKind::Number {
            minimum, maximum, ..
        } => format!("number{}", range(minimum, maximum)),
        FieldKind::Boolean => "boolean".into(),
        FieldKind::IntOrString { .. } => "int-or-string".into(),
        FieldKind::Object { .. } => "object".into(),
        FieldKind::List {
            min_items,
            max_items,
            ..
        } => format!(
            "list[{}..{}]",
            min_items.map(|x| x.to_string()).unwrap_or_default(),
            max_items.map(|x| x.to_string()).unwrap_or_default()
        ),
        FieldKind::Map { .. } => "map".into(),
        FieldKind::Any => "yaml".into(),
    }
}

#[test]
fn every_fixture_xrd_becomes_an_offering_whose_form_is_snapshotted() {
    let all = fixtures();
    assert!(all.len() >= 21, "the fixture folder is there");
    for (stem, object) in all {
        let offering = xrd::from_object(&object, &envs())
            .unwrap_or_else(|e| panic!("{stem}: no offering: {e}"));
        let s = &offering.summary;
        let mut text = format!(
            "{} {} ({:?}), {}\ntitle: {}\n",
            s.api_version,
            s.kind,
            s.source,
            if offering.namespaced {
                "namespaced"
            } else {
                "cluster-scoped"
            },
            s.title
        );
        text.push_str(&describe(&offering.form));
        for note in &offering.notes {
            let _ = writeln!(text, "note: {note}");
        }
        insta::assert_snapshot!(stem.clone(), text);
    }
}

#[test]
fn every_fixture_form_opens_with_values_its_own_schema_accepts_or_names_what_is_missing() {
    // A usable form: the defaults it opens with are either valid, or every complaint is a
    // required field the person has to fill in (never a default the schema itself refuses).
    for (stem, object) in fixtures() {
        let offering = xrd::from_object(&object, &envs()).unwrap();
        let values = initial_values(&offering.form.fields);
        for error in offering.validate("sample-1", &values) {
            assert_eq!(
                error.message, "This field is required.",
                "{stem}: the opening values fail at {}: {}",
                error.path, error.message
            );
        }
    }
}

/// One fixture, one accepted value set, and refused ones with the path and message the
/// server must report.
struct Case {
    fixture: &'static str,
    name: &'static str,
    valid: Value,
    invalid: Vec<(Value, &'static str, &'static str)>,
}

fn offering(stem: &str) -> slipway::catalog::Offering {
    let (_, object) = fixtures()
        .into_iter()
        .find(|(s, _)| s == stem)
        .unwrap_or_else(|| panic!("fixture {stem}"));
    xrd::from_object(&object, &envs()).unwrap()
}

#[test]
fn the_server_accepts_valid_values_and_refuses_each_invalid_set_at_the_right_field() {
    use serde_json::json;
    let cases = vec![
        Case {
            fixture: "crossplane-docs-get-started-app-v2",
            name: "web",
            valid: json!({"image": "nginx:1.27"}),
            invalid: vec![
                (json!({}), "/image", "required"),
                (json!({"image": 5}), "/image", "Wrong type"),
                (
                    json!({"image": "x", "replicas": 3}),
                    "",
                    "Unknown field(s): replicas",
                ),
            ],
        },
        Case {
            fixture: "smana-kvstore-v2-min-max",
            name: "cache",
            valid: json!({"replicas": 3, "size": "medium"}),
            invalid: vec![
                (json!({"replicas": 6}), "/replicas", "At most 5"),
                (json!({"replicas": -1}), "/replicas", "At least 0"),
                (
                    json!({"size": "huge"}),
                    "/size",
                    "Choose one of: nano, small, medium, large",
                ),
                (json!({"auth": {}}), "/auth/existingSecret", "required"),
            ],
        },
        Case {
            fixture: "kratix-promise-rds-aws",
            name: "orders",
            valid: json!({"size": "small", "engine": "postgres"}),
            invalid: vec![(json!({"size": "tiny"}), "/size", "pattern")],
        },
        Case {
            fixture: "terasky-x-ui-order-v2-cluster",
            name: "vm-1",
            valid: json!({"additionalNICNetworks": ["ingress"], "ports": [{"protocol": "tcp"}]}),
            invalid: vec![
                (
                    json!({"additionalNICNetworks": ["ingress", "egress", "ingress"]}),
                    "/additionalNICNetworks",
                    "At most 2",
                ),
                (
                    json!({"ports": [{"protocol": "icmp"}]}),
                    "/ports/0/protocol",
                    "Choose one of",
                ),
                (json!({"disks": [{}]}), "/disks/0/size", "required"),
            ],
        },
        Case {
            fixture: "smana-sqlinstance-v2-cel-nullable",
            name: "orders-db",
            valid: json!({"size": "small", "storageSize": "20Gi", "instances": 1, "initSQL": null}),
            invalid: vec![
                (
                    json!({"size": "small", "storageSize": "20Gi", "instances": 3}),
                    "",
                    "backup.schedule is required for multi-instance clusters",
                ),
                (
                    json!({"size": "small", "storageSize": "20Gi", "instances": 1,
                           "performanceInsights": {"explain": {"sampleRate": 1.5}}}),
                    "/performanceInsights/explain/sampleRate",
                    "At most 1",
                ),
            ],
        },
        Case {
            fixture: "platform-ref-gcp-xcluster-v1-claim",
            name: "team-gke",
            valid: json!({"parameters": {
                "id": "team-gke", "region": "us-west2", "deletionPolicy": "Delete",
                "providerConfigName": "default", "nodes": {"count": 3, "instanceType": "n1-standard-4"},
                "operators": {"flux-sync": {"version": "1.7.2"}},
                "gitops": {"git": {"interval": "5m0s", "timeout": "60s", "url": "https://git.example/x", "path": "/", "ref": {"name": "refs/heads/main"}}}
            }}),
            invalid: vec![(
                json!({"parameters": {
                    "id": "team-gke", "region": "us-west2", "deletionPolicy": "Delete",
                    "providerConfigName": "default", "nodes": {"count": 3, "instanceType": "n1-standard-4"},
                    "operators": {"flux-sync": {"version": 7}},
                    "gitops": {"git": {"interval": "5 minutes", "timeout": "60s", "url": "https://git.example/x", "path": "/", "ref": {"name": "refs/heads/main"}}}
                }}),
                "/parameters/gitops/git/interval",
                "pattern",
            )],
        },
        Case {
            fixture: "crossplane-e2e-xnopresource-v1-claim-arrays",
            name: "nop",
            valid: json!({"coolField": "x", "numbers": ["1", "2"]}),
            invalid: vec![(
                json!({"coolField": "x", "numbers": [1]}),
                "/numbers/0",
                "Wrong type",
            )],
        },
        Case {
            fixture: "vfarcic-crossplane-sql-v2-default-scope",
            name: "my-db",
            valid: json!({"size": "small", "schemas": [{"database": "app", "sql": "CREATE TABLE t()"}]}),
            invalid: vec![(
                json!({"schemas": [{"database": 5}]}),
                "/schemas/0/database",
                "Wrong type",
            )],
        },
    ];
    for case in cases {
        let offering = offering(case.fixture);
        let errors = offering.validate(case.name, &case.valid);
        assert!(
            errors.is_empty(),
            "{}: valid values refused: {errors:?}",
            case.fixture
        );
        for (values, path, message) in case.invalid {
            let errors = offering.validate(case.name, &values);
            assert!(
                errors
                    .iter()
                    .any(|e| e.path == path && e.message.contains(message)),
                "{}: {values} should fail at {path:?} with {message:?}, got {errors:?}",
                case.fixture
            );
        }
    }
}

#[test]
fn a_rule_on_the_object_checks_the_resource_name() {
    let epi = offering("smana-epi-v2-cel-on-metadata");
    let values = serde_json::json!({
        "clusters": [{"name": "prod", "region": "eu-west-3"}],
        "serviceAccount": {"name": "app", "namespace": "apps"},
        "policyDocument": "{}"
    });
    assert!(epi.validate("xplane-app", &values).is_empty());
    let errors = epi.validate("app", &values);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "@name");
    assert!(errors[0].message.contains("prefixed with 'xplane-'"));
}

#[test]
fn names_that_are_not_kubernetes_names_are_refused_at_the_name_field() {
    let app = offering("crossplane-docs-get-started-app-v2");
    let values = serde_json::json!({"image": "nginx"});
    for bad in ["../../etc", "Web", "web_1", "", "a.b", &"x".repeat(64)] {
        let errors = app.validate(bad, &values);
        assert!(errors.iter().any(|e| e.path == "@name"), "{bad:?} accepted");
    }
}

#[test]
fn a_v1_xrd_read_through_crossplane_2s_v2_api_still_offers_its_claim() {
    // Crossplane 2 serves every XRD at v1 and v2; a v1 XRD seen at v2 says
    // `scope: LegacyCluster` and keeps its claimNames. The portal watches the preferred
    // version, so it must offer the same claim either way.
    let (_, object) = fixtures()
        .into_iter()
        .find(|(s, _)| s == "platform-ref-aws-xsqlinstance-v1-claim")
        .expect("fixture");
    let as_v1 = xrd::from_object(&object, &envs()).unwrap();
    let mut at_v2 = object.clone();
    at_v2["apiVersion"] = "apiextensions.crossplane.io/v2".into();
    at_v2["spec"]["scope"] = "LegacyCluster".into();
    let as_v2 = xrd::from_object(&at_v2, &envs()).unwrap();
    assert_eq!(as_v1.summary.kind, "SQLInstance");
    assert_eq!(
        as_v2.summary.kind, as_v1.summary.kind,
        "the claim kind is offered"
    );
    assert!(as_v2.namespaced);
    assert_eq!(as_v2.form, as_v1.form, "same fields, same machinery");
}
