//! Domain types shared by the server and the browser: plain serde data, no behaviour that
//! needs IO. The server builds them; the UI renders them.

use serde::{Deserialize, Serialize};

/// A team name as derived from the identity provider's groups claim.
pub type TeamName = String;

/// The signed-in person, as the UI and the services see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    /// Stable internal id (UUID v7).
    pub id: String,
    /// Display name.
    pub name: String,
    /// E-mail address, used as the Git author of this user's requests.
    pub email: String,
    /// Teams this user acts for; sorted, never empty for a user who may submit requests.
    pub teams: Vec<TeamName>,
    /// Platform administrators see and do everything.
    pub is_admin: bool,
}

impl CurrentUser {
    /// Initials for the avatar in the user menu ("Ada Lovelace" → "AL").
    pub fn initials(&self) -> String {
        let initials: String = self
            .name
            .split_whitespace()
            .filter_map(|word| word.chars().next())
            .take(2)
            .flat_map(char::to_uppercase)
            .collect();
        if initials.is_empty() {
            "?".to_owned()
        } else {
            initials
        }
    }
}

/// What every page needs to know about the visitor and the portal's mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `None` for an anonymous visitor.
    pub user: Option<CurrentUser>,
    /// The development login is on: every page shows a warning banner.
    pub dev_login: bool,
}

/// A person offered by the development login (only in `--dev-login` mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevPersona {
    /// Login handle submitted by the form.
    pub handle: String,
    /// Display name.
    pub name: String,
    /// Teams the persona belongs to.
    pub teams: Vec<TeamName>,
    /// Whether the persona is a platform administrator.
    pub is_admin: bool,
}

/// How the login page should present itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginOptions {
    /// Personas of the development login; empty unless dev login is on.
    pub dev_personas: Vec<DevPersona>,
    /// Whether single sign-on is configured.
    pub sso_enabled: bool,
}

/// Facts about the running portal, for administrators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// Crate version of the server.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database_backend: String,
    /// Applied schema migrations.
    pub migrations_applied: i64,
    /// The GitOps repository the portal writes to.
    pub gitops_repository: String,
    /// Whether the development login is on.
    pub dev_login: bool,
}

/// One audit log entry, as administrators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Entry id (time-ordered).
    pub id: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// Who (name at the time), or `anonymous`.
    pub actor: String,
    /// What, e.g. `login`, `logout`.
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// The request it belongs to.
    pub request_id: Option<String>,
    /// `ok`, `denied` or `error`.
    pub outcome: String,
    /// Extra facts, e.g. the sign-in method or why it was refused.
    pub detail: Option<String>,
}

/// Which audit entries to show. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Part of the actor's name (case-insensitive).
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Exact outcome.
    pub outcome: Option<String>,
    /// Only entries older than this entry id (the next page).
    pub before: Option<String>,
}

/// One page of audit entries, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> CurrentUser {
        CurrentUser {
            id: "u1".into(),
            name: name.into(),
            email: "x@example.com".into(),
            teams: vec![],
            is_admin: false,
        }
    }

    #[test]
    fn initials_take_the_first_letters_of_the_first_two_words() {
        assert_eq!(user("ada lovelace byron").initials(), "AL");
        assert_eq!(user("Bob").initials(), "B");
    }

    #[test]
    fn initials_of_a_blank_name_are_a_question_mark() {
        assert_eq!(user("   ").initials(), "?");
    }
}
