//! The HTTP half of projects' control calls: `POST /_emulator/projects` describes a project
//! before its first use (what a real project is like: its network, build account, organisation
//! policies, whether IAM is enforced) and `POST /_emulator/projects/{project}/grants` grants roles in a
//! project's (or a service account's) policy without the checks a caller's setIamPolicy meets.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BuildAccount, Project, Setup};
use crate::apis::orgpolicy::model::{
    MEMBER_DOMAINS, NO_DEFAULT_ACCOUNT_GRANTS, SKIP_DEFAULT_NETWORK, Spec, known_constraint,
};
use crate::error::ApiError;
use crate::state::Emu;

/// The body of `POST /_emulator/projects`; every field is optional.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct Describe {
    project_id: Option<String>,
    default_network: Option<bool>,
    build_service_account: Option<String>,
    compute_default_service_account_roles: Option<Vec<String>>,
    allowed_policy_member_domains: Option<Vec<String>>,
    enforce_iam: Option<bool>,
    /// Organisation policies by constraint (`gcp.resourceLocations` or
    /// `constraints/gcp.resourceLocations`) → v2 PolicySpec (`{"rules":[...]}`).
    org_policies: Option<BTreeMap<String, Value>>,
}

/// The described policies, checked as Google checks them, by constraint name without prefix.
fn org_policies(input: BTreeMap<String, Value>) -> Result<BTreeMap<String, Spec>, ApiError> {
    let mut policies = BTreeMap::new();
    for (constraint, spec) in input {
        let (name, kind) = known_constraint(&constraint)
            .map_err(|e| ApiError::invalid_argument(format!("orgPolicies: {}", e.message)))?;
        let spec: Spec = serde_json::from_value(spec).map_err(|e| {
            ApiError::invalid_argument(format!(
                "orgPolicies.{name}: not a policy spec ({e}); e.g. {{\"rules\":[{{\"enforce\":true}}]}} or {{\"rules\":[{{\"values\":{{\"allowedValues\":[\"in:us-locations\"]}}}}]}}."
            ))
        })?;
        spec.check(name, kind)?;
        policies.insert(name.to_string(), spec);
    }
    Ok(policies)
}

/// A field and the policy it implies, both given and disagreeing.
fn contradiction(field: &str, constraint: &str) -> ApiError {
    ApiError::invalid_argument(format!(
        "{field} and orgPolicies.{constraint} disagree: give one of them (each implies the other)."
    ))
}

/// Domain Restricted Sharing from either the field or the policy (which then both say it).
fn member_domains(
    field: Option<Vec<String>>,
    policies: &mut BTreeMap<String, Spec>,
) -> Result<Option<Vec<String>>, ApiError> {
    match (field, policies.get(MEMBER_DOMAINS)) {
        (Some(_), Some(_)) => Err(contradiction("allowedPolicyMemberDomains", MEMBER_DOMAINS)),
        (Some(domains), None) => {
            policies.insert(MEMBER_DOMAINS.to_string(), Spec::allowing(&domains));
            Ok(Some(domains))
        }
        (None, Some(spec)) if spec.reset || spec.rules.iter().any(|r| r.allow_all) => Ok(None),
        (None, Some(spec)) => Ok(Some(spec.allowed_values())),
        (None, None) => Ok(None),
    }
}

/// Whether the project has a default network, from either the field or the policy
/// `compute.skipDefaultNetworkCreation` (no default network implies it enforced).
fn default_network(
    field: Option<bool>,
    policies: &mut BTreeMap<String, Spec>,
) -> Result<bool, ApiError> {
    let skipped = policies.get(SKIP_DEFAULT_NETWORK).map(Spec::is_enforced);
    match (field, skipped) {
        (Some(true), Some(true)) => Err(contradiction("defaultNetwork", SKIP_DEFAULT_NETWORK)),
        (Some(false), None) => {
            policies.insert(SKIP_DEFAULT_NETWORK.to_string(), Spec::enforced());
            Ok(false)
        }
        (Some(exists), _) => Ok(exists),
        (None, skipped) => Ok(skipped != Some(true)),
    }
}

/// A role the emulator knows (a typo would grant nothing, silently), or a custom role name.
fn check_role(field: &str, role: &str) -> Result<(), ApiError> {
    if role.starts_with("roles/") && !crate::roles::known(role) {
        return Err(ApiError::invalid_argument(format!(
            "{field}: \"{role}\" is not a predefined role the emulator models (see emulator/src/roles.rs)."
        )));
    }
    let ok =
        role.starts_with("roles/") || (role.starts_with("projects/") && role.contains("/roles/"));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(format!(
            "{field}: \"{role}\" is not a role name: use roles/NAME (e.g. roles/editor) or projects/P/roles/NAME."
        )))
    }
}

/// What the control calls answer about a project.
pub fn description(project: &Project) -> Value {
    let setup = project.setup.clone().unwrap_or_default();
    let mut out = json!({
        "projectId": project.id,
        "projectNumber": project.number.to_string(),
        "described": project.setup.is_some(),
        "defaultNetwork": setup.default_network,
        "defaultNetworkExists": project.networks.contains_key("default"),
        "buildServiceAccount": setup.build_service_account,
        "buildServiceAccountEmail": project.default_build_account().unwrap_or_else(|| project.legacy_build_account()),
        "computeDefaultServiceAccount": project.compute_default_account(),
        "computeDefaultServiceAccountRoles": setup.compute_default_service_account_roles,
        "enforceIam": setup.enforce_iam,
        "policy": project.policy.to_json(3),
    });
    if let Some(domains) = setup.allowed_policy_member_domains {
        out["allowedPolicyMemberDomains"] = json!(domains);
    }
    if !setup.org_policies.is_empty() {
        out["orgPolicies"] = json!(setup.org_policies);
    }
    out
}

/// `POST /_emulator/projects`: creates the described project and answers its description.
pub fn describe(emu: &Emu, body: &[u8]) -> Result<Value, ApiError> {
    let input: Describe = crate::json::parse_body(body, &[])?;
    let build_service_account = match input.build_service_account.as_deref() {
        None | Some("legacy") => BuildAccount::Legacy,
        Some("compute-default") => BuildAccount::ComputeDefault,
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "buildServiceAccount: \"{other}\" is not one of \"legacy\" (PROJECT_NUMBER@cloudbuild.gserviceaccount.com) or \"compute-default\" (PROJECT_NUMBER-compute@developer.gserviceaccount.com)."
            )));
        }
    };
    let mut policies = org_policies(input.org_policies.unwrap_or_default())?;
    // Where the org withholds the default accounts' automatic grants, the Compute Engine
    // default account has no role unless the description gives it some.
    let no_grants = policies
        .get(NO_DEFAULT_ACCOUNT_GRANTS)
        .is_some_and(Spec::is_enforced);
    let roles = input
        .compute_default_service_account_roles
        .unwrap_or_else(|| {
            if no_grants {
                Vec::new()
            } else {
                vec!["roles/editor".to_string()]
            }
        });
    for role in &roles {
        check_role("computeDefaultServiceAccountRoles", role)?;
    }
    let default_network = default_network(input.default_network, &mut policies)?;
    let domains = member_domains(input.allowed_policy_member_domains, &mut policies)?;
    if let Some(domains) = &domains
        && let Some(bad) = domains
            .iter()
            .find(|d| d.is_empty() || !d.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(ApiError::invalid_argument(format!(
            "allowedPolicyMemberDomains: \"{bad}\" is not a customer ID (letters and digits, e.g. C0acme1)."
        )));
    }
    let id = match input.project_id {
        Some(id) => id,
        None => format!("emulated-{}", emu.random_hex(6)),
    };
    let setup = Setup {
        default_network,
        build_service_account,
        compute_default_service_account_roles: roles,
        allowed_policy_member_domains: domains,
        enforce_iam: input.enforce_iam.unwrap_or(false),
        org_policies: policies,
        ..Setup::default()
    };
    let enforce = emu.config().enforce_api_enablement;
    emu.world(|w| w.projects.describe(&id, setup, enforce).map(description))
}

/// `POST /_emulator/projects/{project}/grants {"member":"user:dev@example.com",
/// "roles":["roles/editor"], "serviceAccount": "EMAIL"?}`: adds the bindings to the project's
/// policy (or to the named service account's own policy) and answers that policy.
pub fn grant(emu: &Emu, project: &str, body: &[u8]) -> Result<Value, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Grant {
        member: String,
        roles: Vec<String>,
        #[serde(default)]
        service_account: Option<String>,
    }
    let input: Grant = crate::json::parse_body(body, &[])?;
    let prefixes = ["user:", "serviceAccount:", "group:", "domain:"];
    if !prefixes.iter().any(|p| input.member.starts_with(p)) {
        return Err(ApiError::invalid_argument(format!(
            "member: \"{}\" must start with user:, serviceAccount:, group: or domain:.",
            input.member
        )));
    }
    if input.roles.is_empty() {
        return Err(ApiError::invalid_argument("roles: name at least one role."));
    }
    for role in &input.roles {
        check_role("roles", role)?;
    }
    emu.world(|w| {
        let p = w.projects.ensure(project)?;
        let policy = match &input.service_account {
            None => &mut p.policy,
            Some(email) => {
                let project_id = p.id.clone();
                let account = w.iam.find_mut_any(email).ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Service account {email} does not exist (in project {project_id} or any other)."
                    ))
                })?;
                &mut account.policy
            }
        };
        for role in &input.roles {
            policy.grant(role, &input.member);
        }
        Ok(policy.to_json(3))
    })
}
