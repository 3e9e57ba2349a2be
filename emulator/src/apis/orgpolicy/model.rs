//! Org Policy without HTTP: the constraints the emulator knows (boolean or list), a policy spec
//! as the v2 API writes it (rules with `enforce`, `allowAll`, `denyAll`, `values`), how a spec
//! judges a value (with the `in:GROUP-locations` value groups of `gcp.resourceLocations`), the
//! effective spec of a constraint, and Google's refusal of a create in a location the policy
//! does not allow (the project's policies live in `projects::Setup`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;

/// A boolean constraint is enforced or not; a list constraint allows or denies values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Boolean,
    List,
}

/// The constraints the emulator knows (those that change what chatctl's `up` does), by name
/// without the `constraints/` prefix.
pub static CONSTRAINTS: &[(&str, Kind)] = &[
    ("compute.requireOsLogin", Kind::Boolean),
    ("compute.skipDefaultNetworkCreation", Kind::Boolean),
    ("compute.vmExternalIpAccess", Kind::List),
    ("gcp.resourceLocations", Kind::List),
    ("iam.allowedPolicyMemberDomains", Kind::List),
    (
        "iam.automaticIamGrantsForDefaultServiceAccounts",
        Kind::Boolean,
    ),
    ("run.allowedIngress", Kind::List),
    ("run.allowedVPCEgress", Kind::List),
];

pub const RESOURCE_LOCATIONS: &str = "gcp.resourceLocations";
pub const MEMBER_DOMAINS: &str = "iam.allowedPolicyMemberDomains";
pub const SKIP_DEFAULT_NETWORK: &str = "compute.skipDefaultNetworkCreation";
pub const NO_DEFAULT_ACCOUNT_GRANTS: &str = "iam.automaticIamGrantsForDefaultServiceAccounts";

/// The kind of a known constraint (`constraints/` prefix optional).
pub fn kind_of(constraint: &str) -> Option<Kind> {
    let name = constraint
        .strip_prefix("constraints/")
        .unwrap_or(constraint);
    CONSTRAINTS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, kind)| *kind)
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The values of a list rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Values {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_values: Vec<String>,
}

/// One rule of a spec (no `condition`: the emulator models no tags).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Values>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_all: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_all: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce: Option<bool>,
}

/// A policy spec (`GoogleCloudOrgpolicyV2PolicySpec`, the fields a description may set).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub inherit_from_parent: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reset: bool,
}

impl Spec {
    /// A boolean constraint enforced.
    pub fn enforced() -> Spec {
        Spec {
            rules: vec![Rule {
                enforce: Some(true),
                ..Rule::default()
            }],
            ..Spec::default()
        }
    }

    /// A list constraint allowing only `values`.
    pub fn allowing(values: &[String]) -> Spec {
        Spec {
            rules: vec![Rule {
                values: Some(Values {
                    allowed_values: values.to_vec(),
                    denied_values: Vec::new(),
                }),
                ..Rule::default()
            }],
            ..Spec::default()
        }
    }

    /// Checks the spec as Google checks a policy of a constraint of `kind`: boolean rules set
    /// `enforce` and nothing else (one rule); list rules set one of `values`, `allowAll`,
    /// `denyAll`; `reset` has no rules.
    pub fn check(&self, constraint: &str, kind: Kind) -> Result<(), ApiError> {
        let bad = |why: &str| {
            Err(ApiError::invalid_argument(format!(
                "orgPolicies.{constraint}: {why}"
            )))
        };
        if self.reset && !self.rules.is_empty() {
            return bad("a policy with `reset` must have no rules.");
        }
        match kind {
            Kind::Boolean => {
                if !self.reset && self.rules.len() != 1 {
                    return bad(
                        "a boolean constraint takes exactly one rule, e.g. {\"rules\":[{\"enforce\":true}]}.",
                    );
                }
                if self
                    .rules
                    .iter()
                    .any(|r| r.enforce.is_none() || r.values.is_some() || r.allow_all || r.deny_all)
                {
                    return bad("a boolean constraint's rule sets `enforce` and nothing else.");
                }
            }
            Kind::List => {
                for rule in &self.rules {
                    let set = [rule.values.is_some(), rule.allow_all, rule.deny_all];
                    if rule.enforce.is_some() || set.iter().filter(|s| **s).count() != 1 {
                        return bad(
                            "each rule of a list constraint sets one of `values` ({\"allowedValues\":[...]} or {\"deniedValues\":[...]}), `allowAll` or `denyAll`.",
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a boolean constraint is enforced.
    pub fn is_enforced(&self) -> bool {
        self.rules.iter().any(|r| r.enforce == Some(true))
    }

    /// Whether a list constraint allows the value `matches` recognises: a denial wins, then
    /// `allowAll`, then the allowed values (none listed: everything is allowed).
    pub fn allows(&self, matches: impl Fn(&str) -> bool) -> bool {
        let values = || self.rules.iter().filter_map(|r| r.values.as_ref());
        if self.rules.iter().any(|r| r.deny_all)
            || values().flat_map(|v| &v.denied_values).any(|v| matches(v))
        {
            return false;
        }
        if self.rules.iter().any(|r| r.allow_all) {
            return true;
        }
        let mut allowed = values().flat_map(|v| &v.allowed_values).peekable();
        allowed.peek().is_none() || allowed.any(|v| matches(v))
    }

    /// Every allowed value (for describing a list policy).
    pub fn allowed_values(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|r| r.values.as_ref())
            .flat_map(|v| v.allowed_values.iter().cloned())
            .collect()
    }
}

/// The European Union's regions (the `eu` value group; London and Zurich are `europe` only).
const EU_REGIONS: &[&str] = &[
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west3",
    "europe-west4",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
];

/// Whether a `gcp.resourceLocations` value names `region`: the region itself (`us-east1`,
/// `is:us-east1`), its own group (`in:us-east1-locations`) or a group containing it
/// (`in:us-locations`, `in:europe-locations`, `in:eu-locations`, `in:asia-locations`...: the
/// region's geography, its name's first part).
pub fn location_matches(value: &str, region: &str) -> bool {
    let value = value.strip_prefix("is:").unwrap_or(value);
    if value == region {
        return true;
    }
    let Some(group) = value
        .strip_prefix("in:")
        .and_then(|v| v.strip_suffix("-locations"))
    else {
        return false;
    };
    let geography = region.split('-').next().unwrap_or(region);
    group == region || group == geography || (group == "eu" && EU_REGIONS.contains(&region))
}

/// A known constraint's name without prefix and its kind, or Google's NOT_FOUND.
pub fn known_constraint(constraint: &str) -> Result<(&str, Kind), ApiError> {
    let name = constraint
        .strip_prefix("constraints/")
        .unwrap_or(constraint);
    match kind_of(name) {
        Some(kind) => Ok((name, kind)),
        None => Err(ApiError::not_found(format!(
            "Constraint constraints/{name} not found (the emulator models {}).",
            CONSTRAINTS
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The effective spec of a constraint of `kind` whose policy on the project is `set`: that
/// policy, else the constraint's default (not enforced; every value allowed).
pub fn effective(set: Option<&Spec>, kind: Kind) -> Value {
    let spec = match (set, kind) {
        (Some(spec), _) if !spec.reset => spec.clone(),
        (_, Kind::Boolean) => Spec {
            rules: vec![Rule {
                enforce: Some(false),
                ..Rule::default()
            }],
            ..Spec::default()
        },
        (_, Kind::List) => Spec {
            rules: vec![Rule {
                allow_all: true,
                ..Rule::default()
            }],
            ..Spec::default()
        },
    };
    let mut spec = serde_json::to_value(spec).unwrap_or_default();
    if let Some(map) = spec.as_object_mut() {
        map.remove("inheritFromParent");
    }
    spec
}

/// `gcp.resourceLocations` (`set` on project `project_id`) on a create in `location` of
/// `resource` (its full name): Google's FAILED_PRECONDITION when the policy does not allow it.
pub fn check_location(
    set: Option<&Spec>,
    project_id: &str,
    location: &str,
    resource: &str,
) -> Result<(), ApiError> {
    match set {
        Some(spec) if !spec.allows(|v| location_matches(v, location)) => {
            Err(ApiError::failed_precondition(format!(
                "Location {location} violates constraint constraints/{RESOURCE_LOCATIONS} on the resource {resource}."
            ))
            .with_detail(json!({
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [{
                    "type": format!("constraints/{RESOURCE_LOCATIONS}"),
                    "subject": format!("orgpolicy:projects/{project_id}"),
                    "description": format!(
                        "Constraint constraints/{RESOURCE_LOCATIONS} violated for projects/{project_id} attempting to create a resource with location set to {location}. See https://cloud.google.com/resource-manager/docs/organization-policy/org-policy-constraints for more information."
                    ),
                }],
            })))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_match_regions_their_groups_and_geographies() {
        assert!(location_matches("us-east1", "us-east1"));
        assert!(location_matches("in:us-east1-locations", "us-east1"));
        assert!(location_matches("in:us-locations", "us-central1"));
        assert!(!location_matches("in:us-locations", "europe-west1"));
        assert!(location_matches("in:eu-locations", "europe-west1"));
        assert!(!location_matches("in:eu-locations", "europe-west2"));
        assert!(location_matches("in:europe-locations", "europe-west2"));
        assert!(!location_matches("us", "us-central1"));
    }

    #[test]
    fn list_specs_deny_first_then_allow() {
        let eu = Spec::allowing(&["in:eu-locations".to_string()]);
        assert!(eu.allows(|v| location_matches(v, "europe-west1")));
        assert!(!eu.allows(|v| location_matches(v, "us-central1")));
        let mut denied = Spec::default();
        denied.rules.push(Rule {
            values: Some(Values {
                denied_values: vec!["us-central1".into()],
                ..Values::default()
            }),
            ..Rule::default()
        });
        assert!(!denied.allows(|v| location_matches(v, "us-central1")));
        assert!(denied.allows(|v| location_matches(v, "us-east1")));
        assert!(Spec::default().allows(|_| false), "no rule: all allowed");
        assert!(Spec::enforced().check("x", Kind::Boolean).is_ok());
        assert!(Spec::enforced().check("x", Kind::List).is_err());
        assert!(eu.check("x", Kind::Boolean).is_err());
    }
}
