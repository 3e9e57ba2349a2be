//! IAM policies (google.iam.v1.Policy) with etag optimistic concurrency: whole-policy replace,
//! a stale etag is 409 ABORTED, members are checked by the caller-supplied rule (e.g. "this
//! service account must exist and be visible").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;

/// A policy as a request carries it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyInput {
    pub version: Option<i32>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    #[serde(default)]
    pub audit_configs: Vec<Value>,
    pub etag: Option<String>,
}

/// The body of a setIamPolicy request: `{policy, updateMask}` (an echoed `resource` is
/// accepted, as Resource Manager's clients send one).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SetRequest {
    resource: Option<String>,
    policy: Option<Value>,
    update_mask: Option<String>,
}

impl SetRequest {
    /// The policy sent; INVALID_ARGUMENT without one.
    pub fn policy(&self) -> Result<PolicyInput, ApiError> {
        let _ = &self.resource;
        match &self.policy {
            Some(v) => crate::json::from_value(v.clone()),
            None => Err(ApiError::invalid_argument("policy is required.")),
        }
    }

    pub fn update_mask(&self) -> Option<&str> {
        self.update_mask.as_deref()
    }
}

/// The body of a getIamPolicy request: `{options: {requestedPolicyVersion}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GetRequest {
    resource: Option<String>,
    options: Option<GetOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct GetOptions {
    requested_policy_version: i32,
}

impl GetRequest {
    /// The requested version (0 when absent).
    pub fn version(&self) -> i32 {
        let _ = &self.resource;
        self.options
            .as_ref()
            .map_or(0, |o| o.requested_policy_version)
    }
}

/// A requested policy version must be 0, 1 or 3.
pub fn requested_version(version: i32) -> Result<i32, ApiError> {
    if [0, 1, 3].contains(&version) {
        Ok(version)
    } else {
        Err(ApiError::invalid_argument(format!(
            "Invalid requested policy version {version}; valid versions are 0, 1 and 3."
        )))
    }
}

/// One role binding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Binding {
    pub role: String,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// A stored policy.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub version: i32,
    pub bindings: Vec<Binding>,
    pub audit_configs: Vec<Value>,
    /// Bumped by every successful set; the etag encodes it.
    revision: u64,
}

const ABORTED_MESSAGE: &str = "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.";

impl Policy {
    /// An empty policy (Cloud Run services and the like).
    pub fn empty() -> Self {
        Policy {
            version: 1,
            bindings: Vec::new(),
            audit_configs: Vec::new(),
            revision: 1,
        }
    }

    /// A new project's policy: the default Compute and Google APIs service agents are editors.
    pub fn new_project(project_number: u64) -> Self {
        let mut policy = Policy::empty();
        policy.bindings.push(Binding {
            role: "roles/editor".to_string(),
            members: vec![
                format!("serviceAccount:{project_number}-compute@developer.gserviceaccount.com"),
                format!("serviceAccount:{project_number}@cloudservices.gserviceaccount.com"),
            ],
            condition: None,
        });
        policy
    }

    /// The etag (base64 of 8 bytes, like Google's `BwX...`).
    pub fn etag(&self) -> String {
        let mut bytes = self.revision.to_be_bytes();
        bytes[0] = 0x07;
        STANDARD.encode(bytes)
    }

    /// The JSON form; `version` is 3 only when conditions exist and the caller asked for 3.
    pub fn to_json(&self, requested_version: i32) -> Value {
        let has_conditions = self.bindings.iter().any(|b| b.condition.is_some());
        let version = if has_conditions && requested_version >= 3 {
            3
        } else {
            1
        };
        let mut policy = json!({ "version": version, "etag": self.etag() });
        if !self.bindings.is_empty() {
            policy["bindings"] = serde_json::to_value(&self.bindings).unwrap_or_default();
        }
        if !self.audit_configs.is_empty() {
            policy["auditConfigs"] = Value::Array(self.audit_configs.clone());
        }
        policy
    }

    /// Renames a member everywhere (a deleted service account shows as
    /// `deleted:serviceAccount:EMAIL?uid=ID`, as Google documents).
    pub fn rename_member(&mut self, from: &str, to: &str) {
        for binding in &mut self.bindings {
            for member in &mut binding.members {
                if member == from {
                    *member = to.to_string();
                }
            }
        }
    }

    /// Adds `member` to `role` (an unconditional binding) without any check: what the emulator's
    /// control calls use to describe a project's grants.
    pub fn grant(&mut self, role: &str, member: &str) {
        match self
            .bindings
            .iter_mut()
            .find(|b| b.role == role && b.condition.is_none())
        {
            Some(binding) if binding.members.iter().any(|m| m == member) => return,
            Some(binding) => binding.members.push(member.to_string()),
            None => self.bindings.push(Binding {
                role: role.to_string(),
                members: vec![member.to_string()],
                condition: None,
            }),
        }
        self.revision += 1;
    }

    /// The roles bound to `member` (conditions are not evaluated: a conditional binding counts).
    pub fn roles_of(&self, member: &str) -> impl Iterator<Item = &str> {
        self.bindings
            .iter()
            .filter(move |b| b.members.iter().any(|m| m == member))
            .map(|b| b.role.as_str())
    }

    /// Replaces the policy (the fields in `update_mask`, default `bindings,etag`).
    /// `check_member` judges each member that is new to the policy.
    pub fn set(
        &mut self,
        input: PolicyInput,
        update_mask: Option<&str>,
        check_member: &dyn Fn(&str) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        if let Some(etag) = &input.etag {
            let sent = STANDARD.decode(etag).map_err(|_| {
                ApiError::invalid_argument("Invalid value at 'policy.etag' (TYPE_BYTES)")
            })?;
            let current = STANDARD.decode(self.etag()).unwrap_or_default();
            if sent != current {
                return Err(ApiError::aborted(ABORTED_MESSAGE));
            }
        }
        let mask = update_mask.unwrap_or("bindings,etag");
        let fields: Vec<&str> = mask.split(',').map(str::trim).collect();
        if let Some(bad) = fields.iter().find(|f| {
            ![
                "bindings",
                "etag",
                "auditConfigs",
                "audit_configs",
                "version",
            ]
            .contains(f)
        }) {
            return Err(ApiError::invalid_argument(format!(
                "Invalid update_mask: field '{bad}' cannot be updated on a policy."
            )));
        }
        if fields.contains(&"bindings") {
            validate_bindings(&input, self, check_member)?;
            self.bindings = merge_bindings(input.bindings);
            self.version = input.version.unwrap_or(1);
        }
        if fields.contains(&"auditConfigs") || fields.contains(&"audit_configs") {
            self.audit_configs = input.audit_configs;
        }
        self.revision += 1;
        Ok(self.to_json(self.version))
    }
}

fn validate_bindings(
    input: &PolicyInput,
    current: &Policy,
    check_member: &dyn Fn(&str) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let version = input.version.unwrap_or(1);
    if ![0, 1, 3].contains(&version) {
        return Err(ApiError::invalid_argument(format!(
            "Invalid policy version {version}; valid versions are 1 and 3."
        )));
    }
    for binding in &input.bindings {
        if binding.condition.is_some() && version < 3 {
            return Err(ApiError::invalid_argument(
                "Policies with conditional bindings must use version 3.",
            ));
        }
        let role = &binding.role;
        let role_ok = role.strip_prefix("roles/").is_some_and(|r| !r.is_empty())
            || (role.starts_with("projects/") || role.starts_with("organizations/"))
                && role.contains("/roles/");
        if !role_ok {
            return Err(ApiError::invalid_argument(format!(
                "Role {role} is not supported for this resource."
            )));
        }
        if binding.members.is_empty() {
            return Err(ApiError::invalid_argument(format!(
                "The binding for role {role} has no members."
            )));
        }
        for member in &binding.members {
            validate_member_syntax(member)?;
            let known = current
                .bindings
                .iter()
                .any(|b| b.members.iter().any(|m| m == member));
            if !known {
                check_member(member)?;
            }
        }
    }
    Ok(())
}

const MEMBER_PREFIXES: &[&str] = &[
    "user:",
    "serviceAccount:",
    "group:",
    "domain:",
    "principal:",
    "principalSet:",
    "deleted:",
    "projectOwner:",
    "projectEditor:",
    "projectViewer:",
];

fn validate_member_syntax(member: &str) -> Result<(), ApiError> {
    let ok = member == "allUsers"
        || member == "allAuthenticatedUsers"
        || MEMBER_PREFIXES
            .iter()
            .any(|p| member.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(format!(
            "Invalid argument: '{member}' is not a valid member: it must start with user:, serviceAccount:, group:, domain: or be allUsers/allAuthenticatedUsers."
        )))
    }
}

/// Google stores one binding per (role, condition), members de-duplicated.
fn merge_bindings(bindings: Vec<Binding>) -> Vec<Binding> {
    let mut merged: Vec<Binding> = Vec::new();
    for b in bindings {
        match merged
            .iter_mut()
            .find(|m| m.role == b.role && m.condition == b.condition)
        {
            Some(existing) => {
                for member in b.members {
                    if !existing.members.contains(&member) {
                        existing.members.push(member);
                    }
                }
            }
            None => {
                let mut b = b;
                b.members.dedup();
                merged.push(b);
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(etag: Option<String>, member: &str) -> PolicyInput {
        PolicyInput {
            bindings: vec![Binding {
                role: "roles/viewer".into(),
                members: vec![member.into()],
                condition: None,
            }],
            etag,
            ..PolicyInput::default()
        }
    }

    #[test]
    fn stale_etag_is_aborted_and_fresh_one_succeeds() {
        let mut p = Policy::empty();
        let read = p.etag();
        p.set(
            input(Some(read.clone()), "user:a@example.com"),
            None,
            &|_| Ok(()),
        )
        .unwrap();
        let err = p
            .set(input(Some(read), "user:b@example.com"), None, &|_| Ok(()))
            .unwrap_err();
        assert_eq!(err.code, crate::error::Code::Aborted);
        let fresh = p.etag();
        p.set(input(Some(fresh), "user:b@example.com"), None, &|_| Ok(()))
            .unwrap();
    }

    #[test]
    fn bad_members_are_invalid_argument() {
        let mut p = Policy::empty();
        let err = p.set(input(None, "alice"), None, &|_| Ok(())).unwrap_err();
        assert_eq!(err.code, crate::error::Code::InvalidArgument);
    }
}
