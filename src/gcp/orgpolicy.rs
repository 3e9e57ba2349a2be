//! Organization Policy v2 through its REST API (google-cloud-rust has no Org Policy crate at
//! the version chatctl builds with): `projects.policies.getEffectivePolicy`, read best effort
//! (many deployers may not read policies, and the API may be disabled), and what an effective
//! policy says: a boolean constraint enforced, a list constraint allowing a value (with the
//! `in:GROUP-locations` value groups of `gcp.resourceLocations`).

use google_cloud_gax::error::rpc::Code;
use serde::Deserialize;
use serde_json::Value;

use super::Google;
use super::errors::{self, Kind};

pub const ENDPOINT: &str = "https://orgpolicy.googleapis.com";
pub const SERVICE: &str = "orgpolicy.googleapis.com";
/// The permission getEffectivePolicy checks, and the role that grants it.
pub const PERMISSION: &str = "orgpolicy.policy.get";
pub const VIEWER: &str = "roles/orgpolicy.policyViewer";

/// The values of a list rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Values {
    pub allowed_values: Vec<String>,
    pub denied_values: Vec<String>,
}

/// One rule of an effective policy (which has no conditions: Google has evaluated them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rule {
    pub values: Option<Values>,
    pub allow_all: bool,
    pub deny_all: bool,
    pub enforce: Option<bool>,
}

/// An effective policy: its spec's rules (none: the constraint's default applies).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub rules: Vec<Rule>,
    /// The spec as Google answered it, for the JSON report.
    pub spec: Value,
}

impl Policy {
    pub fn from_json(policy: &Value) -> Policy {
        let spec = policy.get("spec").cloned().unwrap_or(Value::Null);
        let rules = spec
            .get("rules")
            .cloned()
            .and_then(|rules| serde_json::from_value(rules).ok())
            .unwrap_or_default();
        Policy { rules, spec }
    }

    /// A boolean constraint is enforced.
    pub fn enforced(&self) -> bool {
        self.rules.iter().any(|r| r.enforce == Some(true))
    }

    fn values(&self) -> impl Iterator<Item = &Values> {
        self.rules.iter().filter_map(|r| r.values.as_ref())
    }

    /// A list constraint restricts anything (some value or all of them).
    pub fn restricts(&self) -> bool {
        !self.rules.iter().any(|r| r.allow_all)
            && (self.rules.iter().any(|r| r.deny_all)
                || self
                    .values()
                    .any(|v| !v.allowed_values.is_empty() || !v.denied_values.is_empty()))
    }

    /// Whether a list constraint allows what `names` recognises among its values: a denial
    /// (`denyAll` or a denied value) wins, then `allowAll`; with allowed values listed, one of
    /// them must name it.
    pub fn allows(&self, names: impl Fn(&str) -> bool) -> bool {
        let denied = self.rules.iter().any(|r| r.deny_all)
            || self
                .values()
                .flat_map(|v| &v.denied_values)
                .any(|v| names(v));
        if denied {
            return false;
        }
        let listed: Vec<&String> = self.values().flat_map(|v| &v.allowed_values).collect();
        self.rules.iter().any(|r| r.allow_all)
            || listed.is_empty()
            || listed.iter().any(|v| names(v))
    }

    /// The allowed values, as the policy lists them.
    pub fn allowed_values(&self) -> Vec<String> {
        self.values()
            .flat_map(|v| v.allowed_values.iter().cloned())
            .collect()
    }
}

/// The regions of the European Union (the `in:eu-locations` group); `in:europe-locations`
/// is every `europe-*` region.
const EU: &[&str] = &[
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west10",
    "europe-west12",
    "europe-west3",
    "europe-west4",
    "europe-west8",
    "europe-west9",
];

/// Whether a `gcp.resourceLocations` value names `region`: the region (`us-east1`,
/// `is:us-east1`), the group of its locations (`in:us-east1-locations`), or a value group that
/// contains it (`in:us-locations`, `in:eu-locations`...: by the region's geography, the first
/// part of its name).
pub fn names_region(value: &str, region: &str) -> bool {
    let value = value.trim_start_matches("is:");
    let group = value
        .strip_prefix("in:")
        .and_then(|g| g.strip_suffix("-locations"));
    match group {
        None => value == region,
        Some("eu") => EU.contains(&region),
        Some(group) => group == region || region.split('-').next() == Some(group),
    }
}

/// What reading an effective policy gave.
#[derive(Debug)]
pub enum Read {
    Policy(Policy),
    /// PERMISSION_DENIED: the caller lacks orgpolicy.policy.get.
    Denied,
    /// The Org Policy API is disabled for the project calls are checked against (named).
    Disabled {
        consumer: String,
    },
}

/// The effective policy of `constraint` (e.g. `gcp.resourceLocations`) on the project.
pub async fn effective(google: &Google, constraint: &str) -> anyhow::Result<Read> {
    let orgpolicy = &google.clients.orgpolicy;
    let what = format!(
        "read the organisation policy {constraint} of project {}",
        google.project
    );
    let path = format!(
        "/v2/projects/{}/policies/{constraint}:getEffectivePolicy",
        google.project
    );
    // A disabled Organization Policy API is an answer (chatctl never enables it), not an
    // enable still propagating: it is not waited out.
    let mut retry = google.retry().clone();
    retry.eventual_window = std::time::Duration::ZERO;
    let answer = retry
        .run(&what, || {
            // JSON with enums as numbers, as Google's generated clients ask for it.
            orgpolicy.send(
                orgpolicy
                    .request(reqwest::Method::GET, &path)
                    .query(&[("$alt", "json;enum-encoding=int")]),
            )
        })
        .await;
    match answer {
        Ok(policy) => Ok(Read::Policy(Policy::from_json(&policy))),
        Err(e) if errors::classify(&e) == Kind::ServiceDisabled => Ok(Read::Disabled {
            consumer: e
                .status()
                .and_then(errors::error_consumer)
                .map_or_else(|| format!("projects/{}", google.project), str::to_string),
        }),
        Err(e) if e.status().is_some_and(|s| s.code == Code::PermissionDenied) => Ok(Read::Denied),
        Err(e) => Err(errors::explain(e, google.call(&what, VIEWER))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regions_are_named_by_themselves_their_groups_and_geographies() {
        assert!(names_region("us-east1", "us-east1"));
        assert!(names_region("is:us-east1", "us-east1"));
        assert!(names_region("in:us-east1-locations", "us-east1"));
        assert!(names_region("in:us-locations", "us-central1"));
        assert!(!names_region("in:us-locations", "europe-west1"));
        assert!(names_region("in:eu-locations", "europe-west4"));
        assert!(!names_region("in:eu-locations", "europe-west2"));
        assert!(names_region("in:europe-locations", "europe-west2"));
        assert!(!names_region("us", "us-central1"));
    }

    #[test]
    fn effective_policies_judge_values_and_enforcement() {
        let eu = Policy::from_json(
            &json!({"spec": {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]}}),
        );
        assert!(eu.restricts());
        assert!(eu.allows(|v| names_region(v, "europe-west1")));
        assert!(!eu.allows(|v| names_region(v, "us-central1")));
        assert_eq!(eu.allowed_values(), vec!["in:eu-locations".to_string()]);

        let open = Policy::from_json(&json!({"spec": {"rules": [{"allowAll": true}]}}));
        assert!(!open.restricts() && open.allows(|_| false));
        let unset = Policy::from_json(&json!({"name": "projects/1/policies/x"}));
        assert!(!unset.restricts() && !unset.enforced() && unset.allows(|_| false));
        let denied =
            Policy::from_json(&json!({"spec": {"rules": [{"values": {"deniedValues": ["all"]}}]}}));
        assert!(!denied.allows(|v| v == "all") && denied.allows(|v| v == "internal"));
        let none = Policy::from_json(&json!({"spec": {"rules": [{"denyAll": true}]}}));
        assert!(none.restricts() && !none.allows(|_| true));
        let on = Policy::from_json(&json!({"spec": {"rules": [{"enforce": true}]}}));
        assert!(on.enforced());
        let off = Policy::from_json(&json!({"spec": {"rules": [{"enforce": false}]}}));
        assert!(!off.enforced());
    }
}
