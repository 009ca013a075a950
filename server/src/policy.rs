//! Policies: what each team may ask for, where, with which values, and who has to agree.
//!
//! One file, `policies.yaml`, in the catalog folder — versioned and reviewed in Git like the
//! offerings, reloaded with them, readable by everyone (each offering page lists the policies
//! that apply to it). A policy applies to the requests its `match` selects (environments,
//! offerings, teams; an empty list selects all) and may:
//! - `allow` only some teams or offerings there (refused at the team or environment field);
//! - hold `rules`: CEL over `values`, `environment`, `team`, `name`, `offering` and `user`
//!   (`name`, `email`, `teams`, `admin`), each with its message and the field it belongs to;
//!   a rule calling a function Slipway does not evaluate keeps the file from loading;
//! - cap `maxClaims` of an offering per team and environment;
//! - require `approval`: how many approvals, from members of which teams (administrators
//!   may always approve; nobody approves their own request).
//!
//! A file that does not parse or compile leaves the last good policies in force and is
//! reported to administrators; with no good version yet (a fresh start), every submission is
//! refused until it is fixed: guardrails fail closed.

use app::catalog::{ENVIRONMENT_PATH, FieldError, NAME_PATH, TEAM_PATH};
use app::domain::CurrentUser;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::cel;

/// The file names read from the catalog folder.
pub const FILE_NAMES: [&str; 2] = ["policies.yaml", "policies.yml"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyFile {
    api_version: String,
    kind: String,
    #[serde(default)]
    policies: Vec<PolicyEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyEntry {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default, rename = "match")]
    scope: Scope,
    #[serde(default)]
    allow: Allow,
    #[serde(default)]
    rules: Vec<RuleEntry>,
    max_claims: Option<u32>,
    approval: Option<ApprovalEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    rule: String,
    message: String,
    field: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalEntry {
    #[serde(default = "one")]
    required: u32,
    approvers: Vec<String>,
}

fn one() -> u32 {
    1
}

/// Which requests a policy applies to; an empty list selects every one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Environment names.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Offering ids.
    #[serde(default)]
    pub offerings: Vec<String>,
    /// Team names.
    #[serde(default)]
    pub teams: Vec<String>,
}

/// What may be requested at all where a policy applies (`None`: no restriction).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// Only these teams.
    pub teams: Option<Vec<String>>,
    /// Only these offerings.
    pub offerings: Option<Vec<String>>,
}

/// A value rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// CEL source.
    pub rule: String,
    /// Compiled once, when the file is loaded.
    program: Compiled,
    /// Shown at the field when the rule fails.
    pub message: String,
    /// The form field: a JSON Pointer into the values, or `@name`, `@team`, `@environment`.
    pub field: String,
}

/// A compiled CEL program (its `Debug` names it only).
#[derive(Clone)]
struct Compiled(std::sync::Arc<::cel::Program>);

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

/// Approvals one policy requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The policy asking.
    pub policy: String,
    /// Distinct approvers needed.
    pub required: u32,
    /// Teams whose members may approve (administrators always may).
    pub approvers: Vec<String>,
}

impl Approval {
    /// Whether `user` may approve for this policy (never their own request: checked by the
    /// caller, who knows the requester).
    pub fn may_approve(&self, user: &CurrentUser) -> bool {
        user.is_admin || user.teams.iter().any(|t| self.approvers.contains(t))
    }
}

/// One policy, checked.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Where it applies.
    pub scope: Scope,
    /// What may be requested there.
    pub allow: Allow,
    /// Value rules.
    pub rules: Vec<Rule>,
    /// Most claims of an offering per team and environment.
    pub max_claims: Option<u32>,
    /// Approvals required.
    pub approval: Option<Approval>,
}

impl Policy {
    fn applies(&self, environment: &str, offering: &str, team: &str) -> bool {
        let any = |list: &[String], item: &str| list.is_empty() || list.iter().any(|x| x == item);
        any(&self.scope.environments, environment)
            && any(&self.scope.offerings, offering)
            && any(&self.scope.teams, team)
    }

    /// One line per thing it asks, for the offering page.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(teams) = &self.allow.teams {
            lines.push(format!("only for the teams {}", teams.join(", ")));
        }
        if let Some(offerings) = &self.allow.offerings {
            lines.push(format!("only the offerings {}", offerings.join(", ")));
        }
        lines.extend(self.rules.iter().map(|r| r.message.clone()));
        if let Some(max) = self.max_claims {
            lines.push(format!("at most {max} per team and environment"));
        }
        if let Some(approval) = &self.approval {
            lines.push(format!(
                "needs {} approval(s) from {} or an administrator",
                approval.required,
                approval.approvers.join(", ")
            ));
        }
        lines
    }
}

/// What is being asked, as policies see it.
pub struct Subject<'a> {
    /// Environment.
    pub environment: &'a str,
    /// Offering id.
    pub offering: &'a str,
    /// Team.
    pub team: &'a str,
    /// Resource name.
    pub name: &'a str,
    /// The form's values (`None` for a deletion: only scope, limits and approval apply).
    pub values: Option<&'a Value>,
    /// Who asks.
    pub user: &'a CurrentUser,
}

/// What the policies say about a request.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Refusals, each at its field.
    pub errors: Vec<FieldError>,
    /// The smallest claim limit that applies, with the policy setting it.
    pub max_claims: Option<(u32, String)>,
    /// The approvals required, one entry per policy asking.
    pub approvals: Vec<Approval>,
}

/// The policies in force.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    list: Vec<Policy>,
    /// Why nothing may be submitted (the file is broken and no good version was loaded).
    closed: Option<String>,
}

impl Policies {
    /// No policy: everything the catalog offers is allowed.
    pub fn none() -> Self {
        Self::default()
    }

    /// Nothing allowed until a good file is loaded, because of `why`.
    pub fn closed(why: String) -> Self {
        Policies {
            list: Vec::new(),
            closed: Some(why),
        }
    }

    /// Every policy.
    pub fn all(&self) -> &[Policy] {
        &self.list
    }

    /// Parses and checks a policy file against the configured environments.
    pub fn parse(text: &str, environments: &[String]) -> Result<Self, String> {
        let file: PolicyFile =
            serde_saphyr::from_str(text).map_err(|e| format!("not a valid policy file: {e}"))?;
        if file.api_version != "slipway.dev/v1alpha1" || file.kind != "Policies" {
            return Err(format!(
                "expected apiVersion slipway.dev/v1alpha1 and kind Policies, found {} {}",
                file.api_version, file.kind
            ));
        }
        let mut list: Vec<Policy> = Vec::new();
        for entry in file.policies {
            let name = entry.name.trim().to_owned();
            let problem = |what: String| format!("policy {name:?}: {what}");
            if name.is_empty() || list.iter().any(|p| p.name == name) {
                return Err(problem("every policy needs a name of its own".into()));
            }
            for env in &entry.scope.environments {
                if !environments.contains(env) {
                    return Err(problem(format!(
                        "match names an unknown environment {env:?}"
                    )));
                }
            }
            let mut rules = Vec::new();
            for rule in entry.rules {
                let program = cel::compile_strict(&rule.rule)
                    .map_err(|e| problem(format!("rule {:?}: {e}", rule.rule)))?;
                if rule.message.trim().is_empty() {
                    return Err(problem(format!("rule {:?} has no message", rule.rule)));
                }
                rules.push(Rule {
                    field: field_pointer(&rule.field)
                        .ok_or_else(|| problem(format!("rule {:?}: field {:?} is not a field (a dotted path into the values, or @name, @team, @environment)", rule.rule, rule.field)))?,
                    rule: rule.rule,
                    program: Compiled(std::sync::Arc::new(program)),
                    message: rule.message,
                });
            }
            let approval = match entry.approval {
                Some(a) if a.required == 0 || a.approvers.is_empty() => {
                    return Err(problem(
                        "approval needs at least one approval and one approving team".into(),
                    ));
                }
                Some(a) => Some(Approval {
                    policy: name.clone(),
                    required: a.required,
                    approvers: a.approvers,
                }),
                None => None,
            };
            list.push(Policy {
                name,
                description: entry.description.trim().to_owned(),
                scope: entry.scope,
                allow: entry.allow,
                rules,
                max_claims: entry.max_claims,
                approval,
            });
        }
        Ok(Policies { list, closed: None })
    }

    /// The policies that apply to `offering` somewhere, with the environments they name.
    pub fn for_offering(&self, offering: &str) -> Vec<&Policy> {
        self.list
            .iter()
            .filter(|p| {
                p.scope.offerings.is_empty() || p.scope.offerings.iter().any(|o| o == offering)
            })
            .collect()
    }

    /// Checks a request: refusals at their fields, the claim limit, the approvals needed.
    pub fn check(&self, subject: &Subject<'_>) -> Verdict {
        let mut verdict = Verdict::default();
        if let Some(why) = &self.closed {
            verdict.errors.push(FieldError {
                path: ENVIRONMENT_PATH.into(),
                message: format!(
                    "Nothing can be requested until the platform team fixes its policies ({why})."
                ),
            });
            return verdict;
        }
        let variables = subject.values.map(|values| {
            [
                ("values", values.clone()),
                ("environment", json!(subject.environment)),
                ("team", json!(subject.team)),
                ("name", json!(subject.name)),
                ("offering", json!(subject.offering)),
                (
                    "user",
                    json!({"name": subject.user.name, "email": subject.user.email,
                           "teams": subject.user.teams, "admin": subject.user.is_admin}),
                ),
            ]
        });
        for policy in self
            .list
            .iter()
            .filter(|p| p.applies(subject.environment, subject.offering, subject.team))
        {
            if let Some(variables) = &variables {
                if let Some(teams) = &policy.allow.teams
                    && !teams.iter().any(|t| t == subject.team)
                {
                    verdict.errors.push(FieldError {
                        path: TEAM_PATH.into(),
                        message: format!(
                            "In {}, only {} may request this ({}).",
                            subject.environment,
                            teams.join(", "),
                            policy.name
                        ),
                    });
                }
                if let Some(offerings) = &policy.allow.offerings
                    && !offerings.iter().any(|o| o == subject.offering)
                {
                    verdict.errors.push(FieldError {
                        path: ENVIRONMENT_PATH.into(),
                        message: format!(
                            "This offering cannot be requested in {} ({}).",
                            subject.environment, policy.name
                        ),
                    });
                }
                let bound: Vec<(&str, &Value)> = variables.iter().map(|(k, v)| (*k, v)).collect();
                for rule in &policy.rules {
                    let outcome = cel::run(&rule.program.0, &bound);
                    let message = match outcome {
                        Ok(true) => continue,
                        Ok(false) => rule.message.clone(),
                        Err(error) => {
                            format!(
                                "{} (the rule could not be evaluated: {error})",
                                rule.message
                            )
                        }
                    };
                    verdict.errors.push(FieldError {
                        path: rule.field.clone(),
                        message,
                    });
                }
            }
            if let Some(max) = policy.max_claims
                && verdict.max_claims.as_ref().is_none_or(|(m, _)| max < *m)
            {
                verdict.max_claims = Some((max, policy.name.clone()));
            }
            if let Some(approval) = &policy.approval {
                verdict.approvals.push(approval.clone());
            }
        }
        verdict
    }
}

/// `storage.sizeGB` → `/storage/sizeGB`; `@name`, `@team`, `@environment` as they are.
fn field_pointer(field: &str) -> Option<String> {
    let field = field.trim();
    if [NAME_PATH, TEAM_PATH, ENVIRONMENT_PATH].contains(&field) {
        return Some(field.to_owned());
    }
    if field.is_empty() || field.split('.').any(str::is_empty) {
        return None;
    }
    Some(
        field
            .split('.')
            .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
apiVersion: slipway.dev/v1alpha1
kind: Policies
policies:
  - name: prod-databases
    description: Small databases in prod, reviewed.
    match: {environments: [prod], offerings: [postgresql]}
    allow: {teams: [team-a]}
    rules:
      - rule: "values.storageGB <= 100 || 'data' in user.teams"
        message: At most 100 GB in prod.
        field: storageGB
    maxClaims: 2
    approval: {required: 1, approvers: [platform]}
  - name: tight
    match: {environments: [prod]}
    maxClaims: 1
"#;

    fn user(teams: &[&str]) -> CurrentUser {
        CurrentUser {
            id: "u".into(),
            name: "U".into(),
            email: "u@x".into(),
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
            is_admin: false,
        }
    }

    fn envs() -> Vec<String> {
        vec!["dev".into(), "prod".into()]
    }

    #[test]
    fn a_policy_refuses_at_the_field_and_asks_for_approval_where_it_applies() {
        let policies = Policies::parse(FILE, &envs()).unwrap();
        let alice = user(&["team-a"]);
        let values = json!({"storageGB": 200});
        let subject = |environment, team, values| Subject {
            environment,
            offering: "postgresql",
            team,
            name: "db",
            values,
            user: &alice,
        };
        let verdict = policies.check(&subject("prod", "team-a", Some(&values)));
        assert_eq!(
            verdict.errors,
            vec![FieldError {
                path: "/storageGB".into(),
                message: "At most 100 GB in prod.".into()
            }]
        );
        assert_eq!(
            verdict.max_claims,
            Some((1, "tight".into())),
            "the smallest limit"
        );
        assert_eq!(verdict.approvals.len(), 1);
        let small = json!({"storageGB": 5});
        let verdict = policies.check(&subject("prod", "team-b", Some(&small)));
        assert_eq!(verdict.errors[0].path, TEAM_PATH);
        let verdict = policies.check(&subject("dev", "team-b", Some(&values)));
        assert!(
            verdict.errors.is_empty()
                && verdict.approvals.is_empty()
                && verdict.max_claims.is_none()
        );
        // A deletion: no values, but approval still applies.
        let verdict = policies.check(&subject("prod", "team-b", None));
        assert!(verdict.errors.is_empty());
        assert_eq!(verdict.approvals.len(), 1);
    }

    #[test]
    fn a_broken_file_is_refused_with_the_reason() {
        for (broken, why) in [
            (
                FILE.replace("kind: Policies", "kind: Policy"),
                "kind Policies",
            ),
            (
                FILE.replace("field: storageGB", "field: ''"),
                "is not a field",
            ),
            (
                FILE.replace("values.storageGB <= 100", "isIP(values.x)"),
                "does not evaluate",
            ),
            (
                FILE.replace(
                    "environments: [prod], offerings",
                    "environments: [qa], offerings",
                ),
                "unknown environment",
            ),
            (
                FILE.replace("name: tight", "name: prod-databases"),
                "a name of its own",
            ),
            (
                FILE.replace("required: 1", "required: 0"),
                "at least one approval",
            ),
            (
                FILE.replace("maxClaims: 1", "maxClaim: 1"),
                "not a valid policy file",
            ),
        ] {
            let error = Policies::parse(&broken, &envs()).unwrap_err();
            assert!(error.contains(why), "{why}: {error}");
        }
    }

    #[test]
    fn closed_policies_refuse_everything() {
        let alice = user(&["team-a"]);
        let verdict = Policies::closed("policies.yaml: broken".into()).check(&Subject {
            environment: "dev",
            offering: "x",
            team: "team-a",
            name: "n",
            values: Some(&json!({})),
            user: &alice,
        });
        assert_eq!(verdict.errors.len(), 1);
    }
}
