//! The documentation stays true: the README is a short guide, every relative link in it and
//! in `docs/` leads somewhere (file and heading), and the configuration reference is the
//! binary's own option list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const BEGIN: &str = "<!-- BEGIN GENERATED";
const END: &str = "<!-- END GENERATED -->";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    text.lines()
        .filter(|line| {
            if line.starts_with("```") {
                in_code = !in_code;
            }
            !in_code
        })
        .filter_map(|line| line.strip_prefix('#'))
        .map(|rest| anchor(rest.trim_start_matches('#')))
        .collect()
}

/// Markdown links `](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        // Inline code is not a link, whatever brackets it holds.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect();
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn the_readme_is_a_short_guide() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; reference goes to docs/"
    );
    for must in ["make run", "make test"] {
        assert!(readme.contains(must), "the README shows `{must}`");
    }
}

#[test]
fn every_relative_link_leads_to_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let dir = document.parent().unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match link.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                document.clone()
            } else {
                dir.join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", document.display()));
                continue;
            }
            if let Some(fragment) = fragment
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(fragment)
            {
                broken.push(format!("{}: {link} (no such heading)", document.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_configuration_reference_is_the_binarys_own_option_list() {
    let path = root().join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let begin = text
        .find(BEGIN)
        .expect("the generated section's start marker");
    let begin = begin + text[begin..].find('\n').expect("marker line") + 1;
    let end = text.find(END).expect("the generated section's end marker");
    let expected = slipway::config::reference();
    if std::env::var("SLIPWAY_BLESS").is_ok_and(|v| v == "1") {
        let updated = format!("{}{expected}{}", &text[..begin], &text[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        text[begin..end] == expected,
        "docs/configuration.md differs from `slipway --help`; run `SLIPWAY_BLESS=1 cargo test -p server --test docs` and review the diff"
    );
    // And every variable the binary reads is on the page.
    for variable in expected
        .split('`')
        .filter(|w| w.starts_with("SLIPWAY_") || *w == "DATABASE_URL")
    {
        assert!(text.contains(variable), "{variable} documented");
    }
}

/// The policy file in docs/guardrails.md is a real one: it loads, and its rules run.
#[test]
fn the_documented_policy_file_loads_and_its_rules_run() {
    let text = std::fs::read_to_string(root().join("docs/guardrails.md")).unwrap();
    let example = text
        .split("```yaml\n")
        .find(|block| block.starts_with("apiVersion: slipway.dev/v1alpha1\nkind: Policies"))
        .and_then(|block| block.split("```").next())
        .expect("a complete policy file in docs/guardrails.md");
    let environments = ["dev", "staging", "prod"].map(str::to_owned);
    let policies = slipway::policy::Policies::parse(example, &environments).unwrap();
    let user = app::domain::CurrentUser {
        id: "u".into(),
        name: "U".into(),
        email: "u@example.com".into(),
        teams: vec!["payments".into()],
        is_admin: false,
    };
    let values = serde_json::json!({"storageGB": 500});
    let verdict = policies.check(&slipway::policy::Subject {
        environment: "prod",
        offering: "postgresql",
        team: "payments",
        name: "orders",
        values: Some(&values),
        user: &user,
    });
    let fields: Vec<&str> = verdict.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(fields, ["/storageGB", "@name"], "{:?}", verdict.errors);
    assert!(
        verdict
            .errors
            .iter()
            .all(|e| !e.message.contains("could not be evaluated"))
    );
    assert_eq!(verdict.approvals.len(), 1);
    let bucket = serde_json::json!({});
    let verdict = policies.check(&slipway::policy::Subject {
        environment: "dev",
        offering: "bucket",
        team: "payments",
        name: "b",
        values: Some(&bucket),
        user: &user,
    });
    assert_eq!(verdict.errors.len(), 1, "{:?}", verdict.errors);
    assert_eq!(verdict.errors[0].path, "/deleteAfter");
}
