//! Domain types shared by the server and the browser: plain serde data, no behaviour that
//! needs IO. The server builds them; the UI renders them.

use serde::{Deserialize, Serialize};

/// A team name as derived from the identity provider's groups claim.
pub type TeamName = String;

/// The signed-in person, as the UI and the services see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// `None` for an anonymous visitor.
    pub user: Option<CurrentUser>,
    /// The development login is on: every page shows a warning banner.
    pub dev_login: bool,
}

/// A person offered by the development login (only in `--dev-login` mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoginOptions {
    /// Personas of the development login; empty unless dev login is on.
    pub dev_personas: Vec<DevPersona>,
    /// Whether single sign-on is configured.
    pub sso_enabled: bool,
}

/// Facts about the running portal, for administrators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<String>,
}

/// The health of one control-plane object, as Slipway reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Reconciled and reporting Ready.
    Ready,
    /// On its way: being created, synced or upgraded.
    Progressing,
    /// Will not become Ready without a change; the root cause says why.
    Failed,
    /// Being deleted.
    Deleting,
    /// The object does not say (no conditions, no health): never guessed to be Ready.
    Unknown,
    /// The control plane is unreachable; this is the last known state.
    Stale,
}

/// A health state with its root cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Health {
    /// The state.
    pub state: HealthState,
    /// Machine-readable reason of the condition that decided it (e.g. `ReconcileError`).
    pub reason: Option<String>,
    /// The human message of that condition.
    pub message: Option<String>,
}

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Read-only calls (GET).
    Read,
    /// Calls that change something; implies read.
    Write,
}

impl TokenScope {
    /// The scope's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }

    /// Parses a space-separated scope list; unknown or missing scopes are an error.
    pub fn parse_list(text: &str) -> Result<Vec<TokenScope>, String> {
        let mut scopes = Vec::new();
        for word in text.split_whitespace() {
            scopes.push(match word {
                "read" => TokenScope::Read,
                "write" => TokenScope::Write,
                other => return Err(format!("unknown scope `{other}` (use read or write)")),
            });
        }
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err("choose at least one scope".into());
        }
        Ok(scopes)
    }
}

/// A personal API token as listed (never the secret itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiToken {
    /// Token id.
    pub id: String,
    /// The owner's label.
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    /// What it may do.
    pub scopes: Vec<TokenScope>,
    /// Created, RFC 3339 UTC.
    pub created_at: String,
    /// Expires, RFC 3339 UTC.
    pub expires_at: String,
    /// Last used, RFC 3339 UTC.
    pub last_used_at: Option<String>,
    /// Whether it is still usable (not revoked, not expired).
    pub active: bool,
}

/// A user as administrators see them on `/admin/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserSummary {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Where they sign in: `sso` or `dev`.
    pub source: String,
    /// Teams at their last sign-in.
    pub teams: Vec<String>,
    /// Administrator at their last sign-in.
    pub is_admin: bool,
    /// Last sign-in, RFC 3339 UTC.
    pub last_login_at: String,
    /// When an administrator deactivated them, RFC 3339 UTC.
    pub deactivated_at: Option<String>,
    /// Live sessions.
    pub sessions: i64,
    /// Live API tokens.
    pub tokens: i64,
}

/// A request for a new token, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewApiToken {
    /// Label, 1–64 characters.
    pub name: String,
    /// Scopes, at least one.
    pub scopes: Vec<TokenScope>,
    /// Lifetime in days, 1–365.
    pub expires_in_days: u32,
}

impl NewApiToken {
    /// Checks form input; the error names the field.
    pub fn parse(name: &str, scopes: &str, expires_in_days: u32) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err("Name: 1 to 64 characters".into());
        }
        if !(1..=365).contains(&expires_in_days) {
            return Err("Expires in: 1 to 365 days".into());
        }
        let scopes = TokenScope::parse_list(scopes).map_err(|e| format!("Access: {e}"))?;
        Ok(NewApiToken {
            name: name.to_owned(),
            scopes,
            expires_in_days,
        })
    }
}

/// A token just created: the secret, shown this once, and its listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    /// The secret to copy now; it cannot be shown again.
    pub token: String,
    /// How it will be listed.
    pub info: ApiToken,
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

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn scopes_parse_sorted_and_unique() {
        assert_eq!(
            TokenScope::parse_list("write read write"),
            Ok(vec![TokenScope::Read, TokenScope::Write])
        );
        assert!(
            TokenScope::parse_list("admin")
                .unwrap_err()
                .contains("unknown scope `admin`")
        );
        assert!(TokenScope::parse_list("  ").is_err());
    }

    #[test]
    fn new_tokens_are_checked_field_by_field() {
        assert!(NewApiToken::parse("ci", "read", 30).is_ok());
        assert!(
            NewApiToken::parse(" ", "read", 30)
                .unwrap_err()
                .starts_with("Name:")
        );
        assert!(
            NewApiToken::parse(&"x".repeat(65), "read", 30)
                .unwrap_err()
                .starts_with("Name:")
        );
        assert!(
            NewApiToken::parse("ci", "read", 0)
                .unwrap_err()
                .starts_with("Expires in:")
        );
        assert!(
            NewApiToken::parse("ci", "read", 366)
                .unwrap_err()
                .starts_with("Expires in:")
        );
        assert!(
            NewApiToken::parse("ci", "root", 30)
                .unwrap_err()
                .starts_with("Access:")
        );
    }
}

/// The message the login page shows for an error code in its address. Only these fixed
/// texts are ever shown: the address is anyone's to write, the portal's alert box is not.
pub fn login_message(code: &str) -> &'static str {
    match code {
        "discovery" => "The identity provider could not be reached. Please try again shortly.",
        "provider-refused" => "The identity provider refused the sign-in.",
        "bad-callback" => "The sign-in response was incomplete. Please sign in again.",
        "state-mismatch" => {
            "The sign-in response does not belong to this browser session. Please sign in again."
        }
        "unknown-state" => {
            "This sign-in link has expired or was already used. Please sign in again."
        }
        "token-exchange" => {
            "The identity provider did not accept the sign-in code. Please sign in again."
        }
        "invalid-id-token" => {
            "The identity token could not be verified, so you were not signed in."
        }
        "missing-groups" => {
            "Your account carries no groups claim, so Slipway cannot tell your teams. Ask your platform team to add it."
        }
        "no-teams" => "None of your groups is a Slipway team. Ask your platform team for access.",
        "storage" => "Signing in failed on our side. Please try again shortly.",
        "unknown-persona" => "There is no such development persona.",
        "busy" => "Too many sign-ins are under way. Please try again in a few minutes.",
        "deactivated" => "Your Slipway account has been deactivated. Ask your platform team.",
        _ => "Signing in failed. Please try again.",
    }
}

/// An address from elsewhere (a forge's pull request or commit page) fit to be a link: only
/// `https:` with a host. Anything else (`javascript:`, `data:`, plain `http:`) is shown as
/// text, never followed.
pub fn external_link(url: &str) -> Option<&str> {
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))?;
    let host = url[rest.len()..]
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    (!host.is_empty() && !url.chars().any(|c| c.is_control() || c.is_whitespace())).then_some(url)
}

#[cfg(test)]
mod link_tests {
    use super::external_link;

    #[test]
    fn only_https_addresses_become_links() {
        for ok in [
            "https://github.com/acme/gitops/pull/7",
            "HTTPS://git.example.com/c/abc",
        ] {
            assert_eq!(external_link(ok), Some(ok));
        }
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>x</script>",
            "http://git.example.com/c/abc",
            "https:///no-host",
            "https://",
            "https://example.com/\tjavascript:x",
            " https://example.com",
            "//example.com",
        ] {
            assert_eq!(external_link(&bad.replace("\\t", "\t")), None, "{bad}");
        }
    }
}
