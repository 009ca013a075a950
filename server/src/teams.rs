//! From the identity provider's groups to Slipway teams.
//!
//! Rules, applied to each group in order, first match wins:
//! 1. the explicit map (`SLIPWAY_TEAM_MAP=group=team,…`);
//! 2. the regex (`SLIPWAY_TEAM_REGEX`): the capture named `team`, else capture 1, else the
//!    whole match; groups that do not match are not teams;
//! 3. the prefix (`SLIPWAY_TEAM_PREFIX`): stripped; groups without it are not teams;
//! 4. with neither regex nor prefix, every group is a team of the same name.
//!
//! Team names end up in Git paths and Kubernetes labels, so the result is lower-cased and
//! must be a DNS label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters); a group
//! that yields anything else is ignored with a warning. Membership of the admin group
//! (`SLIPWAY_ADMIN_GROUP`) makes a platform administrator.

use std::collections::BTreeMap;

use regex::Regex;

/// How groups become teams.
#[derive(Clone, Debug, Default)]
pub struct TeamMapping {
    /// Explicit `group → team` pairs.
    pub explicit: BTreeMap<String, String>,
    /// Pattern selecting and extracting team names.
    pub regex: Option<Regex>,
    /// Prefix to strip (and require).
    pub prefix: Option<String>,
    /// Group whose members are administrators.
    pub admin_group: Option<String>,
}

/// Teams and admin flag derived from a user's groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedGroups {
    /// Sorted, unique team names.
    pub teams: Vec<String>,
    /// Member of the admin group.
    pub is_admin: bool,
}

/// A mapping rule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// `SLIPWAY_TEAM_MAP` entry without `=`.
    #[error("`{0}` is not of the form group=team")]
    BadPair(String),
    /// The regex does not compile.
    #[error(transparent)]
    Regex(#[from] regex::Error),
}

impl TeamMapping {
    /// Builds the mapping from its configuration values.
    pub fn new(
        pairs: &[String],
        regex: Option<&str>,
        prefix: Option<&str>,
        admin_group: Option<&str>,
    ) -> Result<Self, MappingError> {
        let mut explicit = BTreeMap::new();
        for pair in pairs.iter().filter(|p| !p.trim().is_empty()) {
            let (group, team) = pair
                .split_once('=')
                .ok_or_else(|| MappingError::BadPair(pair.clone()))?;
            explicit.insert(group.trim().to_owned(), team.trim().to_owned());
        }
        Ok(TeamMapping {
            explicit,
            regex: regex
                .filter(|r| !r.is_empty())
                .map(Regex::new)
                .transpose()?,
            prefix: prefix.filter(|p| !p.is_empty()).map(str::to_owned),
            admin_group: admin_group.filter(|g| !g.is_empty()).map(str::to_owned),
        })
    }

    /// Applies the rules to a user's groups.
    pub fn map(&self, groups: &[String]) -> MappedGroups {
        let mut teams: Vec<String> = groups
            .iter()
            .filter_map(|group| {
                let team = self.team_of(group)?.to_lowercase();
                if is_dns_label(&team) {
                    Some(team)
                } else {
                    tracing::warn!(%group, %team, "group maps to a name that is not a valid team name; ignored");
                    None
                }
            })
            .collect();
        teams.sort();
        teams.dedup();
        let is_admin = self
            .admin_group
            .as_ref()
            .is_some_and(|admin| groups.iter().any(|g| g == admin));
        MappedGroups { teams, is_admin }
    }

    fn team_of(&self, group: &str) -> Option<String> {
        if let Some(team) = self.explicit.get(group) {
            return Some(team.clone());
        }
        if self.admin_group.as_deref() == Some(group) {
            return None;
        }
        if let Some(regex) = &self.regex {
            let captures = regex.captures(group)?;
            let team = captures
                .name("team")
                .or_else(|| captures.get(1))
                .or_else(|| captures.get(0))?;
            return Some(team.as_str().to_owned());
        }
        if let Some(prefix) = &self.prefix {
            return group.strip_prefix(prefix.as_str()).map(str::to_owned);
        }
        Some(group.to_owned())
    }
}

/// The namespaces forbidden by default: Kubernetes' own, `default`, and those Argo CD, Flux
/// and Crossplane install into. A team whose namespace matches one cannot request anything.
pub const DEFAULT_FORBIDDEN_NAMESPACES: &str =
    "kube-*,default,argocd,argo-rollouts,flux-system,crossplane-system,upbound-system,cert-manager";

/// Where a team's namespaced claims go: an explicit `team → namespace` map (default: the
/// team's own name) and the namespaces no team may write into.
#[derive(Clone, Debug, Default)]
pub struct Namespaces {
    explicit: BTreeMap<String, String>,
    /// Exact names, or prefixes when they end in `*`.
    forbidden: Vec<String>,
}

/// A namespace setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// Not `team=namespace`, or a side is not a DNS label.
    #[error("`{0}` is not of the form team=namespace with two DNS labels")]
    BadPair(String),
    /// Two teams mapped to one namespace.
    #[error("the teams {0} and {1} are both mapped to the namespace {2}; each team needs its own")]
    Shared(String, String, String),
    /// A pattern that is empty or has `*` elsewhere than at its end.
    #[error("`{0}` is not a namespace or a prefix ending in `*`")]
    BadPattern(String),
}

impl Namespaces {
    /// The mapping from `team=namespace` pairs and forbidden patterns (`kube-*`, `default`).
    pub fn new(pairs: &[String], forbidden: &[String]) -> Result<Self, NamespaceError> {
        let mut explicit: BTreeMap<String, String> = BTreeMap::new();
        for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let Some((team, namespace)) = pair.split_once('=') else {
                return Err(NamespaceError::BadPair(pair.to_owned()));
            };
            let (team, namespace) = (team.trim(), namespace.trim());
            if !is_dns_label(team) || !is_dns_label(namespace) {
                return Err(NamespaceError::BadPair(pair.to_owned()));
            }
            if let Some((other, _)) = explicit
                .iter()
                .find(|(t, ns)| *ns == namespace && *t != team)
            {
                return Err(NamespaceError::Shared(
                    other.clone(),
                    team.to_owned(),
                    namespace.to_owned(),
                ));
            }
            explicit.insert(team.to_owned(), namespace.to_owned());
        }
        let mut patterns = Vec::new();
        for pattern in forbidden.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let stem = pattern.strip_suffix('*').unwrap_or(pattern);
            if stem.contains('*') || (stem.is_empty() && pattern != "*") {
                return Err(NamespaceError::BadPattern(pattern.to_owned()));
            }
            patterns.push(pattern.to_owned());
        }
        Ok(Namespaces {
            explicit,
            forbidden: patterns,
        })
    }

    /// The namespace of `team`'s claims, or why the team may not have one: its namespace is
    /// forbidden (a group called `kube-system` is not a way into the cluster's own).
    pub fn of<'a>(&'a self, team: &'a str) -> Result<&'a str, String> {
        let namespace = self.explicit.get(team).map_or(team, String::as_str);
        // A team named like another team's mapped namespace would share it.
        if let Some((owner, _)) = self
            .explicit
            .iter()
            .find(|(other, ns)| *ns == namespace && other.as_str() != team)
        {
            return Err(format!(
                "The team {team} would write into the namespace {namespace}, which is the team {owner}'s; ask the platform team to map the team to a namespace of its own."
            ));
        }
        if self.is_forbidden(namespace) {
            return Err(format!(
                "The team {team} would write into the namespace {namespace}, which is reserved for the platform; ask the platform team to map the team to another namespace."
            ));
        }
        Ok(namespace)
    }

    /// Whether no team may write into `namespace`.
    pub fn is_forbidden(&self, namespace: &str) -> bool {
        self.forbidden.iter().any(|p| match p.strip_suffix('*') {
            Some(stem) => namespace.starts_with(stem),
            None => namespace == p,
        })
    }
}

/// Whether `name` is an RFC 1123 DNS label, as Kubernetes names and label values need.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|g| (*g).to_owned()).collect()
    }

    #[test]
    fn without_rules_every_valid_group_is_a_team() {
        let mapping = TeamMapping::new(&[], None, None, None).unwrap();
        let mapped = mapping.map(&groups(&["team-b", "Team-A", "team-b", "has space"]));
        assert_eq!(
            mapped.teams,
            vec!["team-a", "team-b"],
            "lower-cased, sorted, unique, invalid dropped"
        );
        assert!(!mapped.is_admin);
    }

    #[test]
    fn a_prefix_selects_groups_and_is_stripped() {
        // Keycloak sends full group paths such as "/teams/payments".
        let mapping = TeamMapping::new(&[], None, Some("/teams/"), None).unwrap();
        let mapped = mapping.map(&groups(&[
            "/teams/payments",
            "/teams/search",
            "/other/x",
            "payments",
        ]));
        assert_eq!(mapped.teams, vec!["payments", "search"]);
    }

    #[test]
    fn a_regex_extracts_the_named_capture() {
        let mapping =
            TeamMapping::new(&[], Some(r"^sg-slipway-(?P<team>[a-z0-9-]+)$"), None, None).unwrap();
        let mapped = mapping.map(&groups(&["sg-slipway-orders", "sg-other-x", "sg-slipway-"]));
        assert_eq!(mapped.teams, vec!["orders"]);
    }

    #[test]
    fn the_explicit_map_wins_over_regex_and_prefix() {
        // Entra ID sends group object ids; the map gives them names.
        let pairs = vec!["6f1c2a34-0000-4000-8000-000000000001=payments".to_owned()];
        let mapping = TeamMapping::new(&pairs, None, Some("team-"), None).unwrap();
        let mapped = mapping.map(&groups(&[
            "6f1c2a34-0000-4000-8000-000000000001",
            "team-search",
            "x",
        ]));
        assert_eq!(mapped.teams, vec!["payments", "search"]);
    }

    #[test]
    fn the_admin_group_makes_an_admin_and_is_not_a_team() {
        let mapping = TeamMapping::new(&[], None, None, Some("platform-admins")).unwrap();
        let mapped = mapping.map(&groups(&["platform-admins", "team-a"]));
        assert_eq!(
            mapped,
            MappedGroups {
                teams: vec!["team-a".into()],
                is_admin: true
            }
        );
    }

    #[test]
    fn bad_rules_are_refused_when_configured() {
        assert!(matches!(
            TeamMapping::new(&["nope".into()], None, None, None),
            Err(MappingError::BadPair(_))
        ));
        assert!(matches!(
            TeamMapping::new(&[], Some("(unclosed"), None, None),
            Err(MappingError::Regex(_))
        ));
    }

    #[test]
    fn dns_labels_are_recognised() {
        for ok in ["a", "team-a", "a1", &"x".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "../x", &"x".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn a_team_maps_to_its_namespace_unless_that_is_forbidden() {
        let forbidden: Vec<String> = DEFAULT_FORBIDDEN_NAMESPACES
            .split(',')
            .map(str::to_owned)
            .collect();
        let namespaces = Namespaces::new(
            &["payments=pay-prod".into(), "ops=tools".into()],
            &forbidden,
        )
        .unwrap();
        assert_eq!(namespaces.of("team-a"), Ok("team-a"));
        assert_eq!(namespaces.of("payments"), Ok("pay-prod"));
        for team in [
            "kube-system",
            "kube-public",
            "default",
            "argocd",
            "flux-system",
            "crossplane-system",
        ] {
            assert!(namespaces.of(team).is_err(), "{team}");
        }
        assert!(
            namespaces.of("kubernetes-fans").is_ok(),
            "kube-* is a prefix with its dash"
        );
        let into_system = Namespaces::new(&["ops=kube-system".into()], &forbidden).unwrap();
        assert!(
            into_system.of("ops").is_err(),
            "an explicit mapping cannot reach a forbidden one"
        );
        assert!(Namespaces::new(&["x".into()], &[]).is_err());
        // Two teams never share a namespace: not by two mappings, not by a team's own name.
        assert!(matches!(
            Namespaces::new(&["a=shared".into(), "b=shared".into()], &[]),
            Err(NamespaceError::Shared(..))
        ));
        let pay = Namespaces::new(&["payments=pay".into()], &[]).unwrap();
        assert_eq!(pay.of("payments"), Ok("pay"));
        assert!(pay.of("pay").unwrap_err().contains("the team payments's"));
        assert!(Namespaces::new(&["a=B_C".into()], &[]).is_err());
        assert!(Namespaces::new(&[], &["k*be".into()]).is_err());
    }
}
