//! The HTTP half of projects' control calls: `POST /_emulator/projects` describes a project
//! before its first use (what a real project is like: its network, build account, org policy,
//! whether IAM is enforced) and `POST /_emulator/projects/{project}/grants` grants roles in a
//! project's (or a service account's) policy without the checks a caller's setIamPolicy meets.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BuildAccount, Project, Setup};
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
    let roles = input
        .compute_default_service_account_roles
        .unwrap_or_else(|| vec!["roles/editor".to_string()]);
    for role in &roles {
        check_role("computeDefaultServiceAccountRoles", role)?;
    }
    if let Some(domains) = &input.allowed_policy_member_domains
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
        default_network: input.default_network.unwrap_or(true),
        build_service_account,
        compute_default_service_account_roles: roles,
        allowed_policy_member_domains: input.allowed_policy_member_domains,
        enforce_iam: input.enforce_iam.unwrap_or(false),
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
