//! Offering files and rendering: the sample catalog compiles, expressions keep their types,
//! Slipway's labels and annotations are stamped, and hostile values can never change the
//! structure of the file (they come back from the YAML exactly as typed).

use std::path::PathBuf;

use app::catalog::RequestDraft;
use app::domain::CurrentUser;
use serde_json::{Value, json};
use slipway::catalog::render::{Stamp, render};
use slipway::catalog::{offering, xrd};

fn envs() -> Vec<String> {
    vec!["dev".into(), "staging".into(), "prod".into()]
}

fn user() -> CurrentUser {
    CurrentUser {
        id: "u1".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        teams: vec!["team-a".into()],
        is_admin: false,
    }
}

fn draft(offering: &str, name: &str, values: Value) -> RequestDraft {
    RequestDraft {
        offering: offering.into(),
        environment: "dev".into(),
        team: "team-a".into(),
        name: name.into(),
        values,
    }
}

fn sample(file: &str) -> slipway::catalog::Offering {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/devdata/catalog")
        .join(file);
    let text = std::fs::read_to_string(path).unwrap();
    offering::from_file(&text, file, &envs()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

const NOTES_OFFERING: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: notes, title: Notes, version: 0.1.0}
spec:
  parameters:
    type: object
    properties:
      note: {type: string}
      tags: {type: object, additionalProperties: {type: string}}
  output:
    path: "{{ env }}/{{ team }}/notes/{{ name }}.yaml"
    manifests:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ name }}", namespace: "{{ namespace }}"}
        data:
          note: "{{ values.note }}"
          summary: "note for {{ name }}: {{ values.note }}"
          tags: "{{ values.tags | tojson }}"
"#;

fn stamp<'a>(user: &'a CurrentUser) -> Stamp<'a> {
    Stamp {
        request_id: "0190f0e0-0000-7000-8000-000000000001",
        user,
        namespace: "team-a",
    }
}

#[test]
fn the_sample_catalog_compiles_and_renders_typed_values_at_the_layout_path() {
    let pg = sample("postgresql.yaml");
    assert_eq!(pg.summary.kind, "PostgreSQLInstance");
    let values = json!({"storageGB": 50, "version": "16", "highAvailability": true});
    assert!(pg.validate("orders-db", &values).is_empty());
    let user = user();
    let out = render(
        &pg,
        &draft("postgresql", "orders-db", values),
        &stamp(&user),
    )
    .unwrap();
    assert_eq!(out.path, "dev/team-a/postgresqlinstance/orders-db.yaml");
    let m = &out.manifests[0];
    assert_eq!(
        m["spec"]["parameters"]["storageGB"],
        json!(50),
        "stays a number"
    );
    assert_eq!(m["spec"]["parameters"]["highAvailability"], json!(true));
    assert!(
        m["spec"]["parameters"].get("extensions").is_none(),
        "an absent optional value removes its key"
    );
    assert_eq!(
        m["spec"]["writeConnectionSecretToRef"]["name"],
        "orders-db-conn"
    );
    assert_eq!(m["metadata"]["labels"]["slipway.dev/team"], "team-a");
    assert_eq!(m["metadata"]["labels"]["slipway.dev/environment"], "dev");
    let annotations = &m["metadata"]["annotations"];
    assert_eq!(
        annotations["slipway.dev/request-id"],
        "0190f0e0-0000-7000-8000-000000000001"
    );
    assert_eq!(annotations["slipway.dev/offering"], "postgresql@1.0.0");
    assert_eq!(annotations["slipway.dev/requested-by"], "ada@example.com");
    let reparsed: Value = serde_saphyr::from_str(&out.content).unwrap();
    assert_eq!(&reparsed, m, "the YAML text is exactly the manifest");

    let bucket = sample("bucket.yaml");
    assert!(bucket.validate("logs", &json!({})).is_empty());
}

#[test]
fn hostile_values_stay_data_and_never_change_the_file_structure() {
    let notes = offering::from_file(NOTES_OFFERING, "notes.yaml", &envs()).unwrap();
    let user = user();
    let long = "x".repeat(100_000);
    let hostile = [
        "it's \"quoted\"",
        "line one\nline two\n  indented: true\n- a list?",
        "{{ 7 * 7 }}",
        "{% for i in range(1000000) %}x{% endfor %}",
        "&anchor value",
        "*alias",
        "!!python/object:os.system",
        "key: value",
        "---\napiVersion: v1\nkind: Secret",
        "null",
        "yes",
        "0x1F",
        "#comment",
        long.as_str(),
    ];
    // A key with a line break is refused at validation (it could only serve to forge the
    // text around it); rendering would still keep it as data, as the loop below shows.
    let errors = notes.validate("n1", &json!({"tags": {"a: b\nc": "v"}}));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "/tags/a: b\nc");
    assert!(errors[0].message.contains("control characters"));
    for value in hostile {
        let values = json!({"note": value, "tags": {"a: b\nc": value}});
        assert!(
            notes
                .validate("n1", &json!({"note": value, "tags": {"a: b": value}}))
                .is_empty()
        );
        let out = render(&notes, &draft("notes", "n1", values), &stamp(&user))
            .unwrap_or_else(|e| panic!("{value:.40}: {e}"));
        let docs: Vec<Value> = serde_saphyr::from_multiple(&out.content).unwrap();
        assert_eq!(docs.len(), 1, "{value:.40}: still one document");
        let data = &docs[0]["data"];
        assert_eq!(data["note"], json!(value), "comes back exactly");
        assert_eq!(data["summary"], json!(format!("note for n1: {value}")));
        let tags: Value = serde_json::from_str(data["tags"].as_str().unwrap()).unwrap();
        assert_eq!(tags["a: b\nc"], json!(value));
        assert_eq!(docs[0]["kind"], "ConfigMap");
        assert_eq!(docs[0]["metadata"]["name"], "n1");
    }
}

#[test]
fn a_name_that_is_a_path_is_refused_before_any_file_is_written() {
    let notes = offering::from_file(NOTES_OFFERING, "notes.yaml", &envs()).unwrap();
    let user = user();
    let errors = notes.validate("../../etc", &json!({}));
    assert_eq!(errors[0].path, "@name");
    // Even if validation were skipped, rendering refuses the name and the path.
    assert!(
        render(
            &notes,
            &draft("notes", "../../etc", json!({})),
            &stamp(&user)
        )
        .is_err()
    );
    assert!(slipway::catalog::render::check_path("dev/../../etc/passwd.yaml").is_err());
    assert!(slipway::catalog::render::check_path("/etc/x.yaml").is_err());
    assert!(slipway::catalog::render::check_path("dev/.git/config.yaml").is_err());
    assert!(slipway::catalog::render::check_path("dev/team-a/bucket/logs.yaml").is_ok());
}

#[test]
fn broken_offering_files_are_refused_with_the_reason() {
    let cases = [
        (
            NOTES_OFFERING.replace("{{ values.note }}\"", "{{ values.note \""),
            "syntax error",
        ),
        (
            NOTES_OFFERING.replace("kind: Offering", "kind: Thing"),
            "kind Offering",
        ),
        (
            NOTES_OFFERING.replace("name: notes", "name: Notes_1"),
            "metadata.name",
        ),
        (
            NOTES_OFFERING.replace("title: Notes", "title: Notes, colour: red"),
            "colour",
        ),
        (
            NOTES_OFFERING.replace(
                "  parameters:\n    type: object",
                "  parameters:\n    type: string",
            ),
            "type object",
        ),
    ];
    for (text, expected) in cases {
        let error = match offering::from_file(&text, "broken.yaml", &envs()) {
            Ok(_) => panic!("accepted a file that should fail with {expected:?}"),
            Err(e) => e.to_string(),
        };
        assert!(error.starts_with("broken.yaml: "), "{error}");
        assert!(error.contains(expected), "{expected:?} not in {error}");
    }
}

#[test]
fn an_xrd_claim_is_the_values_as_spec_in_the_team_namespace() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/xrd/crossplane-e2e-xsqlinstance-v1-claim-defaults.yaml"),
    )
    .unwrap();
    let object: Value = serde_saphyr::from_str(&text).unwrap();
    let offering = xrd::from_object(&object, &envs()).unwrap();
    let user = user();
    let values = json!({"parameters": {"storageGB": 10}});
    let out = render(
        &offering,
        &draft("x", "orders-db", values.clone()),
        &stamp(&user),
    )
    .unwrap();
    let m = &out.manifests[0];
    assert_eq!(m["kind"], offering.summary.kind);
    assert_eq!(m["metadata"]["namespace"], "team-a");
    assert_eq!(m["spec"], values);
    assert_eq!(
        out.path,
        format!(
            "dev/team-a/{}/orders-db.yaml",
            offering.summary.kind.to_lowercase()
        )
    );
}

#[test]
fn a_template_looping_over_a_users_number_runs_out_of_fuel_instead_of_holding_the_server() {
    let looping = offering::from_file(
        r#"
apiVersion: slipway.dev/v1alpha1
kind: Offering
metadata: {name: loops, title: Loops, version: 0.1.0}
spec:
  parameters:
    type: object
    properties:
      count: {type: integer, minimum: 0, maximum: 1000000}
  output:
    path: "{{ env }}/{{ team }}/loops/{{ name }}.yaml"
    manifests:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{ name }}", namespace: "{{ namespace }}"}
        data:
          text: "{% for i in range(values.count) %}x{% endfor %}"
"#,
        "loops.yaml",
        &envs(),
    )
    .unwrap();
    let user = user();
    let small = render(
        &looping,
        &draft("loops", "l1", json!({"count": 100})),
        &stamp(&user),
    )
    .expect("a small count renders");
    assert!(small.content.contains(&"x".repeat(100)));
    // 100,000 rounds would write 100 KB, well under the file limit: only the fuel stops it.
    let error = render(
        &looping,
        &draft("loops", "l2", json!({"count": 100_000})),
        &stamp(&user),
    )
    .expect_err("refused");
    assert!(error.0.contains("fuel"), "{error}");
}
