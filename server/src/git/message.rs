//! Commit messages: what a request's commit (and pull request) says, and how its trailers
//! are read back. The trailers are the provenance every later stage joins on, so nothing a
//! requester types can add, move or hide one: keys and values are written JSON-encoded when
//! they are anything but plain words, and every other line is one line.
//!
//! ```text
//!  Create PostgreSQLInstance team-a/orders-db          subject: verb, kind, team/name
//!
//!  Environment: dev
//!  Offering: postgresql@1.0.0
//!
//!  Values:
//!    storageGB: 20                                     path: JSON value (≤ 40 lines)
//!    labels."x\n\nSlipway-Request-Id: …": "y"          a hostile key stays one line
//!
//!  Slipway-Request-Id: 0190…                           trailers: the last paragraph
//!  Slipway-Offering: postgresql@1.0.0
//!  Requested-by: Alice Archer <alice@example.com>
//! ```

use app::requests::Action;
use serde_json::Value;

/// The trailer that makes a commit findable by request.
pub const REQUEST_TRAILER: &str = "Slipway-Request-Id";

/// The trailer naming the request a promoted request promotes.
pub const PROMOTED_TRAILER: &str = "Slipway-Promoted-From";

/// Values listed in a message, at most.
const MAX_VALUE_LINES: usize = 40;

/// What a commit message is made from.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Request id.
    pub id: &'a str,
    /// What it does.
    pub action: Action,
    /// Claim kind.
    pub kind: &'a str,
    /// Team.
    pub team: &'a str,
    /// Claim name.
    pub name: &'a str,
    /// Environment.
    pub environment: &'a str,
    /// Offering id.
    pub offering: &'a str,
    /// Offering version.
    pub offering_version: &'a str,
    /// The form's values (`null` when none).
    pub values: &'a Value,
    /// Requester's name.
    pub requester_name: &'a str,
    /// Requester's e-mail.
    pub requester_email: &'a str,
    /// The request it promotes, when it is a promotion.
    pub promoted_from: Option<&'a str>,
}

/// The commit message of a request: imperative subject, what was asked, trailers.
pub fn commit_message(s: &Subject<'_>) -> String {
    let offering = format!("{}@{}", one_line(s.offering), one_line(s.offering_version));
    let mut message = format!(
        "{} {} {}/{}\n\nEnvironment: {}\nOffering: {offering}\n",
        s.action.verb(),
        one_line(s.kind),
        one_line(s.team),
        one_line(s.name),
        one_line(s.environment),
    );
    let mut lines = Vec::new();
    summarize(s.values, "", &mut lines);
    if s.action != Action::Delete && !lines.is_empty() {
        message.push_str("\nValues:\n");
        for line in lines.iter().take(MAX_VALUE_LINES) {
            message.push_str("  ");
            message.push_str(line);
            message.push('\n');
        }
        if lines.len() > MAX_VALUE_LINES {
            message.push_str(&format!("  … and {} more\n", lines.len() - MAX_VALUE_LINES));
        }
    }
    message.push_str(&format!(
        "\n{REQUEST_TRAILER}: {}\nSlipway-Offering: {offering}\nRequested-by: {} <{}>\n",
        one_line(s.id),
        one_line(s.requester_name),
        one_line(s.requester_email)
    ));
    if let Some(source) = s.promoted_from {
        message.push_str(&format!("{PROMOTED_TRAILER}: {}\n", one_line(source)));
    }
    message
}

/// The request ids a commit message's trailers name.
pub fn request_ids(message: &str) -> Vec<String> {
    let Ok(trailers) = git2::message_trailers_strs(message) else {
        return Vec::new();
    };
    trailers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case(REQUEST_TRAILER))
        .map(|(_, value)| value.trim().to_owned())
        .collect()
}

/// `path: value` lines. A key is written as it is when it is a plain word, else as a JSON
/// string; values always as JSON. No key or value can start a line of its own.
fn summarize(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                let key = plain_or_quoted(key);
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                summarize(v, &path, out);
            }
        }
        Value::Null => {}
        other => {
            let mut text = other.to_string();
            if text.chars().count() > 100 {
                text = text.chars().take(99).collect::<String>() + "…";
            }
            out.push(format!("{prefix}: {text}"));
        }
    }
}

fn plain_or_quoted(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'));
    if plain {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

/// Control characters and the address brackets replaced by spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '<' || c == '>' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn subject<'a>(values: &'a Value) -> Subject<'a> {
        Subject {
            id: "0190-aaaa",
            action: Action::Create,
            kind: "PostgreSQLInstance",
            team: "team-a",
            name: "orders-db",
            environment: "dev",
            offering: "postgresql",
            offering_version: "1.0.0",
            values,
            requester_name: "Alice <Archer>\nX",
            requester_email: "alice@example.com",
            promoted_from: None,
        }
    }

    fn trailers(message: &str) -> Vec<(String, String)> {
        git2::message_trailers_strs(message)
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn the_commit_message_has_a_subject_a_values_summary_and_exactly_three_trailers() {
        let values = json!({"storageGB": 20, "backup": {"window": "03:00"}});
        let message = commit_message(&subject(&values));
        assert!(message.starts_with("Create PostgreSQLInstance team-a/orders-db\n\n"));
        assert!(
            message.contains("  storageGB: 20\n  backup.window: \"03:00\"\n"),
            "{message}"
        );
        assert_eq!(
            trailers(&message),
            [
                ("Slipway-Request-Id".to_owned(), "0190-aaaa".to_owned()),
                ("Slipway-Offering".to_owned(), "postgresql@1.0.0".to_owned()),
                (
                    "Requested-by".to_owned(),
                    "Alice  Archer  X <alice@example.com>".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_promotion_names_its_source_in_a_fourth_trailer() {
        let values = json!({"storageGB": 20});
        let mut s = subject(&values);
        s.environment = "staging";
        s.promoted_from = Some("0190-dev\nSlipway-Request-Id: forged");
        let message = commit_message(&s);
        assert_eq!(
            trailers(&message).last().unwrap(),
            &(
                "Slipway-Promoted-From".to_owned(),
                "0190-dev Slipway-Request-Id: forged".to_owned()
            )
        );
        assert_eq!(request_ids(&message), ["0190-aaaa"]);
    }

    #[test]
    fn a_value_cannot_forge_a_trailer_or_break_the_message() {
        let values = json!({"note": "x\n\nSlipway-Request-Id: someone-else\n"});
        let message = commit_message(&subject(&values));
        assert!(
            message.contains(r#"  note: "x\n\nSlipway-Request-Id: someone-else\n""#),
            "{message}"
        );
        assert_eq!(request_ids(&message), ["0190-aaaa"]);
    }

    #[test]
    fn a_key_cannot_forge_a_trailer_or_hide_the_real_ones() {
        // libgit2 stops reading trailers at a `--- ` line: a key that could start one would
        // hide the real trailers and add its own.
        let values = json!({"labels": {
            "x\n\nSlipway-Request-Id: another-request\n--- y": "v",
            "Slipway-Request-Id: third": "w"
        }});
        let message = commit_message(&subject(&values));
        assert!(
            message.contains(r#"  labels."x\n\nSlipway-Request-Id: another-request\n--- y": "v""#),
            "{message}"
        );
        assert!(
            message.contains(r#"  labels."Slipway-Request-Id: third": "w""#),
            "{message}"
        );
        assert_eq!(request_ids(&message), ["0190-aaaa"]);
        assert!(message.lines().all(|l| !l.starts_with("---")), "{message}");
    }

    #[test]
    fn configured_words_cannot_break_the_message_either() {
        let values = Value::Null;
        let mut s = subject(&values);
        s.offering_version = "1.0\n--- \nSlipway-Request-Id: x";
        let message = commit_message(&s);
        assert_eq!(request_ids(&message), ["0190-aaaa"]);
    }
}
