//! What you preview is what the cluster accepts: every row of the conformance table in
//! docs/validation.md, as a value the Kubernetes API server accepts and one it refuses (facts
//! from the Kubernetes documentation and its apiextensions validation behaviour), run through
//! both verdicts Slipway gives — the browser's (`client_errors`, what the form shows while
//! typing) and the server's (`Offering::validate`, what preview and submit enforce) — which
//! must agree with the API server and with each other, at the same field.

use app::catalog::{FieldError, client_errors};
use serde_json::{Value, json};
use slipway::catalog::{Offering, offering};

fn offering_for(property: &Value) -> Result<Offering, String> {
    let parameters = json!({"type": "object", "properties": {"x": property}});
    let text = format!(
        r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {{name: probe, title: Probe, version: 0.1.0}}
spec:
  parameters: {parameters}
  output:
    path: "{{{{ env }}}}/{{{{ team }}}}/probe/{{{{ name }}}}.yaml"
    manifests:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {{name: "{{{{ name }}}}", namespace: "{{{{ namespace }}}}"}}
        data: {{x: "{{{{ values | tojson }}}}"}}
"#
    );
    offering::from_file(&text, "probe.yaml", &["dev".to_owned()]).map_err(|e| e.to_string())
}

/// The browser matches patterns with JavaScript's engine; here the `regex` crate stands in
/// (the patterns below mean the same in both).
fn pattern_matches(pattern: &str, value: &str) -> Option<bool> {
    regex::Regex::new(pattern).ok().map(|r| r.is_match(value))
}

fn browser(offering: &Offering, values: &Value) -> Vec<FieldError> {
    client_errors(&offering.form, values, &pattern_matches)
}

fn server(offering: &Offering, values: &Value) -> Vec<FieldError> {
    offering.validate("probe", values)
}

/// One row: a property schema, values the API server accepts, and values it refuses with
/// the path (below the property `x`) it names.
struct Row {
    feature: &'static str,
    schema: Value,
    accepted: Vec<Value>,
    refused: Vec<(Value, &'static str)>,
}

fn row(
    feature: &'static str,
    schema: Value,
    accepted: Vec<Value>,
    refused: Vec<(Value, &'static str)>,
) -> Row {
    Row {
        feature,
        schema,
        accepted,
        refused,
    }
}

fn format_row(format: &'static str, good: &str, bad: &str) -> Row {
    row(
        format,
        json!({"type": "string", "format": format}),
        vec![json!(good)],
        vec![(json!(bad), "")],
    )
}

fn rows() -> Vec<Row> {
    let container = json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "port": {"type": "integer"},
        "protocol": {"type": "string", "default": "TCP"}}});
    let rows = vec![
        row(
            "x-kubernetes-list-type: set",
            json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}),
            vec![json!(["a", "b"]), json!([])],
            vec![(json!(["a", "b", "a"]), "/2")],
        ),
        row(
            "x-kubernetes-list-type: map, one key",
            json!({"type": "array", "x-kubernetes-list-type": "map",
                   "x-kubernetes-list-map-keys": ["name"], "items": container}),
            vec![json!([{"name": "aa"}, {"name": "bb", "port": 1}])],
            vec![(json!([{"name": "aa"}, {"name": "aa", "port": 1}]), "/1")],
        ),
        row(
            "x-kubernetes-list-type: map, composite keys",
            json!({"type": "array", "x-kubernetes-list-type": "map",
                   "x-kubernetes-list-map-keys": ["name", "protocol"], "items": container}),
            vec![json!([{"name": "a", "protocol": "TCP"}, {"name": "a", "protocol": "UDP"}])],
            vec![
                (
                    json!([{"name": "a", "protocol": "UDP"}, {"name": "b"}, {"name": "a", "protocol": "UDP"}]),
                    "/2",
                ),
                // The key's default counts: the API server defaults before it compares.
                (
                    json!([{"name": "a"}, {"name": "a", "protocol": "TCP"}]),
                    "/1",
                ),
            ],
        ),
        row(
            "x-kubernetes-list-type: atomic",
            json!({"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}}),
            vec![json!(["a", "a"])],
            vec![],
        ),
        row(
            "x-kubernetes-map-type",
            json!({"type": "object", "x-kubernetes-map-type": "atomic",
                   "additionalProperties": {"type": "string"}}),
            vec![json!({"a": "1", "b": "2"})],
            vec![(json!({"a": 1}), "/a")],
        ),
        row(
            "maxProperties",
            json!({"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string"}}),
            vec![json!({"a": "1", "b": "2"})],
            vec![(json!({"a": "1", "b": "2", "c": "3"}), "")],
        ),
        row(
            "minProperties",
            json!({"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}),
            vec![json!({"a": "1"})],
            vec![(json!({}), "")],
        ),
        row(
            "x-kubernetes-embedded-resource",
            json!({"type": "object", "x-kubernetes-embedded-resource": true,
                   "x-kubernetes-preserve-unknown-fields": true}),
            vec![
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}}),
            ],
            vec![
                (json!({"kind": "ConfigMap"}), ""),
                (json!({"apiVersion": "a/b/c", "kind": "ConfigMap"}), ""),
                (json!({"apiVersion": "v1", "kind": "Config Map"}), ""),
                (
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a/b"}}),
                    "",
                ),
            ],
        ),
        row(
            "x-kubernetes-embedded-resource with properties",
            json!({"type": "object", "x-kubernetes-embedded-resource": true,
                   "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}),
            vec![json!({"apiVersion": "example.org/v1", "kind": "Widget",
                        "metadata": {"name": "My_Widget"}, "spec": {"size": 1}})],
            vec![(
                json!({"apiVersion": "example.org/v1", "kind": "Widget", "extra": 1}),
                "",
            )],
        ),
        row(
            "x-kubernetes-int-or-string",
            json!({"x-kubernetes-int-or-string": true}),
            vec![json!(8080), json!("http")],
            vec![(json!(true), ""), (json!(1.5), "")],
        ),
        row(
            "nullable",
            json!({"type": "string", "nullable": true}),
            vec![json!(null), json!("x")],
            vec![(json!(7), "")],
        ),
        row(
            "null where not nullable (pruned, then defaulted)",
            json!({"type": "integer", "default": 3}),
            vec![json!(null), json!(5)],
            vec![(json!("five"), "")],
        ),
        row(
            "default of a required property",
            json!({"type": "object", "required": ["size"],
                   "properties": {"size": {"type": "integer", "default": 1}}}),
            vec![json!({}), json!({"size": 2})],
            vec![(json!({"size": "big"}), "/size")],
        ),
        row(
            "x-kubernetes-preserve-unknown-fields",
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                   "properties": {"a": {"type": "string"}}}),
            vec![json!({"a": "x", "anything": {"else": 1}})],
            vec![(json!({"a": 1}), "/a")],
        ),
        row(
            "enum",
            json!({"type": "string", "enum": ["small", "large"]}),
            vec![json!("small")],
            vec![(json!("medium"), "")],
        ),
        row(
            "enum of numbers",
            json!({"type": "number", "enum": [0.5, 1.5]}),
            vec![json!(0.5)],
            vec![(json!(1.0), "")],
        ),
        row(
            "pattern",
            json!({"type": "string", "pattern": "^[a-z]+$"}),
            vec![json!("abc")],
            vec![(json!("ABC"), "")],
        ),
        row(
            "minLength / maxLength",
            json!({"type": "string", "minLength": 2, "maxLength": 3}),
            vec![json!("ab"), json!("abc")],
            vec![(json!("a"), ""), (json!("abcd"), "")],
        ),
        row(
            "minItems / maxItems",
            json!({"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}}),
            vec![json!(["a"])],
            vec![(json!([]), ""), (json!(["a", "b", "c"]), "")],
        ),
        row(
            "minimum / maximum",
            json!({"type": "integer", "minimum": 1, "maximum": 10}),
            vec![json!(1), json!(10)],
            vec![(json!(0), ""), (json!(11), "")],
        ),
        row(
            "exclusiveMinimum / exclusiveMaximum",
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true,
                   "maximum": 1, "exclusiveMaximum": true}),
            vec![json!(0.5)],
            vec![(json!(0), ""), (json!(1), "")],
        ),
        row(
            "multipleOf",
            json!({"type": "integer", "multipleOf": 5}),
            vec![json!(10)],
            vec![(json!(12), "")],
        ),
        row(
            "type: integer",
            json!({"type": "integer"}),
            vec![json!(3)],
            vec![(json!(1.5), ""), (json!("3"), "")],
        ),
        row(
            "required",
            json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}),
            vec![json!({"name": "n"})],
            vec![(json!({}), "/name")],
        ),
        row(
            "unknown fields (refused, not pruned)",
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            vec![json!({"a": "x"})],
            vec![(json!({"a": "x", "b": "y"}), "")],
        ),
        format_row("date-time", "2026-11-30T17:00:00Z", "tomorrow"),
        format_row("date", "2026-11-30", "2026-02-30"),
        format_row("duration", "1h30m", "ninety minutes"),
        format_row("byte", "aGVsbG8=", "not base64!"),
        format_row("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
        format_row("email", "team@example.com", "team"),
        format_row("hostname", "db.example.com", "-db"),
        format_row("ipv4", "192.0.2.10", "192.0.2.300"),
        format_row("ipv6", "2001:db8::10", "2001:db8::g"),
        format_row("cidr", "10.0.0.0/16", "10.0.0.0/33"),
        format_row("mac", "02:42:ac:11:00:02", "02:42:ac:11:00"),
        format_row("uri", "https://example.com/path", "relative/path"),
        format_row("bsonobjectid", "507f1f77bcf86cd799439011", "507f1f77"),
        format_row("hexcolor", "#1e90ff", "#12345"),
        format_row("rgbcolor", "rgb(30,144,255)", "rgb(256,0,0)"),
        format_row("isbn", "978-0321751041", "978-0321751042"),
        format_row("creditcard", "4111 1111 1111 1111", "4111 1111 1111 1112"),
        format_row("ssn", "123-45-6789", "123456789"),
        row(
            "a format the API server does not know",
            json!({"type": "string", "format": "my-own-format"}),
            vec![json!("anything")],
            vec![],
        ),
    ];
    // `format: password` is the one deliberate difference: Slipway takes a reference to a
    // secret there, never the secret (tests/secrets.rs).
    rows
}

#[test]
fn the_browser_and_the_server_give_the_api_servers_verdict_at_the_same_field() {
    let mut wrong = Vec::new();
    for row in rows() {
        let offering = offering_for(&row.schema)
            .unwrap_or_else(|e| panic!("{}: the offering loads: {e}", row.feature));
        for value in &row.accepted {
            let values = json!({"x": value});
            for (side, errors) in [
                ("browser", browser(&offering, &values)),
                ("server", server(&offering, &values)),
            ] {
                if !errors.is_empty() {
                    wrong.push(format!(
                        "{}: {side} refuses {value} which the API server accepts: {errors:?}",
                        row.feature
                    ));
                }
            }
        }
        for (value, below) in &row.refused {
            let values = json!({"x": value});
            let path = format!("/x{below}");
            for (side, errors) in [
                ("browser", browser(&offering, &values)),
                ("server", server(&offering, &values)),
            ] {
                if !errors.iter().any(|e| e.path == path) {
                    wrong.push(format!(
                        "{}: {side} does not refuse {value} at {path}: {errors:?}",
                        row.feature
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "verdicts that differ:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn duplicates_are_named_by_their_key_and_the_item_they_repeat() {
    let offering = offering_for(&json!({"type": "array", "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name", "protocol"],
        "items": {"type": "object", "required": ["name", "protocol"], "properties": {
            "name": {"type": "string"}, "protocol": {"type": "string"}}}}))
    .unwrap();
    let values =
        json!({"x": [{"name": "aa", "protocol": "TCP"}, {"name": "aa", "protocol": "TCP"}]});
    let errors = server(&offering, &values);
    assert_eq!(
        errors,
        vec![FieldError {
            path: "/x/1".into(),
            message: "Duplicate value: the same name \"aa\" and protocol \"TCP\" as item 1; each item must be unique.".into(),
        }]
    );
    assert_eq!(
        browser(&offering, &values),
        errors,
        "the same words in the form"
    );
}

#[test]
fn schemas_the_api_server_would_refuse_in_a_crd_do_not_load() {
    for (schema, problem) in [
        (
            json!({"type": "array", "uniqueItems": true, "items": {"type": "string"}}),
            "uniqueItems cannot be true",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object",
                   "properties": {"name": {"type": "string"}}}}),
            "needs x-kubernetes-list-map-keys",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "map",
                   "x-kubernetes-list-map-keys": ["name"],
                   "items": {"type": "object", "properties": {"name": {"type": "string"}}}}),
            "must be required or have a default",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "set",
                   "items": {"type": "object", "properties": {"a": {"type": "string"}}}}),
            "must be scalars or atomic",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}}),
            "must be atomic, set or map",
        ),
    ] {
        let Err(error) = offering_for(&schema) else {
            panic!("{schema}: loaded, but the API server refuses it");
        };
        assert!(error.contains(problem), "{schema}: {error}");
        assert!(
            error.contains("x:") || error.contains("x["),
            "names the node: {error}"
        );
    }
}

#[test]
fn the_preview_shows_what_the_cluster_fills_in() {
    let offering = offering_for(&json!({"type": "object", "properties": {
        "size": {"type": "integer", "default": 1},
        "tier": {"type": "string", "default": "standard"},
        "nodes": {"type": "array", "items": {"type": "object", "properties": {
            "zone": {"type": "string", "default": "a"}, "n": {"type": "integer"}}}}}}))
    .unwrap();
    let (stored, fills) =
        offering.as_stored(&json!({"x": {"size": null, "tier": "gold", "nodes": [{"n": 1}]}}));
    assert_eq!(
        stored,
        json!({"x": {"size": 1, "tier": "gold", "nodes": [{"n": 1, "zone": "a"}]}})
    );
    let described: Vec<(String, Option<Value>)> =
        fills.into_iter().map(|f| (f.path, f.value)).collect();
    assert_eq!(
        described,
        vec![
            ("/x/size".to_owned(), None),
            ("/x/size".to_owned(), Some(json!(1))),
            ("/x/nodes/0/zone".to_owned(), Some(json!("a"))),
        ]
    );
}

#[test]
fn fields_the_schema_does_not_name_are_refused_at_the_top_too() {
    let offering = offering_for(&json!({"type": "string"})).unwrap();
    let values = json!({"x": "a", "y": 1});
    for (side, errors) in [
        ("browser", browser(&offering, &values)),
        ("server", server(&offering, &values)),
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.path.is_empty() && e.message == "Unknown field(s): y."),
            "{side}: {errors:?}"
        );
    }
}

#[test]
fn cel_rules_with_the_kubernetes_libraries_and_int_arithmetic_hold_at_their_field() {
    let offering = offering_for(&json!({"type": "object",
        "properties": {"memory": {"type": "string"}, "limit": {"type": "string"},
                       "replicas": {"type": "integer"}, "zones": {"type": "array", "items": {"type": "string"}}},
        "x-kubernetes-validations": [
            {"rule": "quantity(self.memory).isLessThan(quantity(self.limit))", "message": "memory must stay below the limit"},
            {"rule": "self.replicas + 1 <= 10", "message": "at most 9 replicas"},
            {"rule": "self.zones.isSorted()", "message": "zones in order"}]}))
    .unwrap();
    assert!(
        offering.notes.is_empty(),
        "every rule is checked here: {:?}",
        offering.notes
    );
    let ok = json!({"x": {"memory": "512Mi", "limit": "1Gi", "replicas": 3, "zones": ["a", "b"]}});
    assert_eq!(server(&offering, &ok), vec![]);
    let bad = json!({"x": {"memory": "2Gi", "limit": "1Gi", "replicas": 9, "zones": ["b", "a"]}});
    let messages: Vec<(String, String)> = server(&offering, &bad)
        .into_iter()
        .map(|e| (e.path, e.message))
        .collect();
    assert_eq!(
        messages,
        vec![
            (
                "/x".to_owned(),
                "memory must stay below the limit".to_owned()
            ),
            ("/x".to_owned(), "zones in order".to_owned()),
        ]
    );
}
