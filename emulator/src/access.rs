//! Who may do what, for projects described with `enforceIam`: a principal's permissions come from
//! its roles in the project's IAM policy (and, for a service account as the resource, that
//! account's own policy), through the role table of `roles.rs`. Also Google's PERMISSION_DENIED,
//! what `testIamPermissions` answers, `actAs`, and Domain Restricted Sharing on policy members.
//! Cross-store rules (`&World`); no HTTP here.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::projects::Project;
use crate::world::World;

/// The policy member a principal (an email from its token) matches.
pub fn member_of(principal: &str) -> String {
    if principal.ends_with(".gserviceaccount.com") {
        format!("serviceAccount:{principal}")
    } else {
        format!("user:{principal}")
    }
}

/// Google's PERMISSION_DENIED for a missing permission.
pub fn denied(permission: &str, resource: &str) -> ApiError {
    ApiError::permission_denied(format!(
        "Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
    ))
    .with_error_info(
        "IAM_PERMISSION_DENIED",
        "iam.googleapis.com",
        json!({ "permission": permission }),
    )
}

/// Whether `principal` holds `permission` in `project`, through the project's policy or, when
/// `account` names a service account, that account's own policy.
pub fn holds(
    w: &World,
    project: &Project,
    principal: &str,
    permission: &str,
    account: Option<&str>,
) -> bool {
    let member = member_of(principal);
    let account_policy = account.and_then(|email| w.iam.policy_of(email));
    project
        .policy
        .roles_of(&member)
        .chain(account_policy.into_iter().flat_map(|p| p.roles_of(&member)))
        .any(|role| crate::roles::grants(role, permission))
}

/// Whether the account `email` holds `permission` through bindings of the project's policy that
/// have taken effect (a binding just added is still propagating: what a build's account may
/// do right after its role was granted).
pub fn holds_propagated(project: &Project, email: &str, permission: &str) -> bool {
    let member = member_of(email);
    project
        .policy
        .roles_of(&member)
        .filter(|role| project.propagated(&member, role))
        .any(|role| crate::roles::grants(role, permission))
}

/// Whether the caller may do something needing `permission` in `project`: always on projects
/// that do not enforce IAM; otherwise only with a principal that holds it.
pub fn allowed(
    w: &World,
    project: &str,
    principal: Option<&str>,
    permission: &str,
    account: Option<&str>,
) -> bool {
    match w.projects.find(project) {
        Some(p) if p.enforces_iam() => {
            principal.is_some_and(|who| holds(w, p, who, permission, account))
        }
        _ => true,
    }
}

/// [`allowed`], or Google's PERMISSION_DENIED naming `resource`.
pub fn require(
    w: &World,
    project: &str,
    principal: Option<&str>,
    permission: &str,
    resource: &str,
    account: Option<&str>,
) -> Result<(), ApiError> {
    if allowed(w, project, principal, permission, account) {
        Ok(())
    } else {
        Err(denied(permission, resource))
    }
}

/// The permissions of `asked` the caller holds (all of them where IAM is not enforced).
pub fn test_permissions(
    w: &World,
    project: &str,
    principal: Option<&str>,
    asked: &[String],
    account: Option<&str>,
) -> Vec<String> {
    asked
        .iter()
        .filter(|p| allowed(w, project, principal, p, account))
        .cloned()
        .collect()
}

/// The body of every `:testIamPermissions`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TestRequest {
    pub permissions: Vec<String>,
}

/// What `:testIamPermissions` answers: `{"permissions": [held...]}`, or `{}` when none is held.
pub fn test_response(
    w: &World,
    project: &str,
    principal: Option<&str>,
    asked: &TestRequest,
    account: Option<&str>,
) -> Value {
    let held = test_permissions(w, project, principal, &asked.permissions, account);
    if held.is_empty() {
        json!({})
    } else {
        json!({ "permissions": held })
    }
}

/// The check every setIamPolicy makes of a member new to a policy of `project`'s resources: a
/// user-managed service account must exist and be visible (a new one lags), and Domain
/// Restricted Sharing must let it in (`drs_message`: the API's wording).
pub fn check_new_member(
    w: &World,
    project: &str,
    member: &str,
    drs_message: &str,
) -> Result<(), ApiError> {
    if let Some(email) = member.strip_prefix("serviceAccount:")
        && email.ends_with(".iam.gserviceaccount.com")
        && !w.iam.is_visible_email(email)
    {
        return Err(ApiError::invalid_argument(format!(
            "Service account {email} does not exist."
        )));
    }
    check_member_domain(w, project, member, drs_message)
}

/// Whether the caller may act as the service account `email` (`iam.serviceAccounts.actAs`
/// through the policy of the account's project or the account's own policy). Accounts outside
/// the emulated IAM (the Compute default account) are judged by `project`'s policy.
pub fn can_act_as(w: &World, project: &str, principal: Option<&str>, email: &str) -> bool {
    let owner = w
        .iam
        .find("-", email)
        .map_or_else(|| project.to_string(), |a| a.project_id.clone());
    allowed(
        w,
        &owner,
        principal,
        "iam.serviceAccounts.actAs",
        Some(email),
    )
}

/// Domain Restricted Sharing (`iam.allowedPolicyMemberDomains`): a member new to a policy of
/// `project` must belong to one of the permitted customers. The project's own service accounts
/// count as inside; users count when registered with a listed `customerId`. `message` is the
/// API's wording (Resource Manager and Cloud Run differ slightly).
pub fn check_member_domain(
    w: &World,
    project: &str,
    member: &str,
    message: &str,
) -> Result<(), ApiError> {
    let Some(p) = w.projects.find(project) else {
        return Ok(());
    };
    let Some(allowed) = p
        .setup
        .as_ref()
        .and_then(|s| s.allowed_policy_member_domains.as_ref())
    else {
        return Ok(());
    };
    let value = member.split_once(':').map_or(member, |(_, v)| v);
    let inside = if member.starts_with("deleted:") {
        true
    } else if let Some(email) = member.strip_prefix("serviceAccount:") {
        p.owns_account(email)
            || w.tokens
                .customer_of(email)
                .is_some_and(|c| allowed.iter().any(|a| a == c))
    } else if member.starts_with("user:") || member.starts_with("group:") {
        w.tokens
            .customer_of(value)
            .is_some_and(|c| allowed.iter().any(|a| a == c))
    } else {
        false
    };
    if inside {
        return Ok(());
    }
    Err(ApiError::failed_precondition(message).with_detail(json!({
        "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
        "violations": [{
            "type": "constraints/iam.allowedPolicyMemberDomains",
            "subject": format!("orgpolicy:projects/{}?configvalue={value}", p.id),
            "description": format!("User {value} is not in permitted organization."),
        }],
    })))
}

/// Resource Manager's wording of the Domain Restricted Sharing refusal.
pub const DRS_PROJECT_MESSAGE: &str =
    "One or more users named in the policy do not belong to a permitted customer.";
/// Cloud Run's wording (two spaces after the comma, as Google sends it).
pub const DRS_SERVICE_MESSAGE: &str = "One or more users named in the policy do not belong to a permitted customer,  perhaps due to an organization policy.";

/// Whether two names (IDs or numbers) are the same project.
pub fn same_project(w: &World, a: &str, b: &str) -> bool {
    a == b || matches!((w.projects.find(a), w.projects.find(b)), (Some(x), Some(y)) if x.id == y.id)
}

/// A quota project (`x-goog-user-project`) that enforces IAM needs the caller to hold
/// `serviceusage.services.use` there; Google's USER_PROJECT_DENIED otherwise.
pub fn require_quota_project(
    w: &World,
    consumer: &str,
    principal: Option<&str>,
    service: &str,
) -> Result<(), ApiError> {
    if allowed(w, consumer, principal, "serviceusage.services.use", None) {
        return Ok(());
    }
    let id = w
        .projects
        .find(consumer)
        .map_or(consumer, |p| p.id.as_str());
    Err(ApiError::permission_denied(format!(
        "Caller does not have required permission to use project {id}. Grant the caller the roles/serviceusage.serviceUsageConsumer role, or a custom role with the serviceusage.services.use permission, by visiting https://console.developers.google.com/iam-admin/iam/project?project={id} and then retry. Propagation of the new permission may take a few minutes."
    ))
    .with_error_info(
        "USER_PROJECT_DENIED",
        "googleapis.com",
        json!({ "consumer": format!("projects/{id}"), "service": service }),
    ))
}

/// The project whose policy judges a call: the route's `{project}` (not `-`), else the project
/// of its Storage bucket, else a `project` query parameter (Storage bucket insert and list).
pub fn target_project(
    w: &World,
    params: &[(String, String)],
    query: &[(String, String)],
) -> Option<String> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(project) = param("project").filter(|p| p != "-") {
        return Some(project);
    }
    if let Some(bucket) = param("bucket") {
        return w.storage.bucket(&bucket).ok().map(|b| b.project.clone());
    }
    query
        .iter()
        .find(|(k, _)| k == "project")
        .map(|(_, v)| v.clone())
}

/// The resource a denial names, from the request path: the version prefix and any `:verb`
/// dropped, and a collection reduced to its parent (`projects/p/locations/l/services` →
/// `projects/p/locations/l`).
pub fn resource_of(path: &str) -> String {
    let mut rest = path.trim_start_matches('/');
    for prefix in ["compute/", "storage/"] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    if let Some((version, tail)) = rest.split_once('/')
        && version.starts_with('v')
        && version[1..].bytes().all(|b| b.is_ascii_digit())
    {
        rest = tail;
    }
    let rest = rest.rsplit_once(':').map_or(
        rest,
        |(head, verb)| {
            if verb.contains('/') { rest } else { head }
        },
    );
    let segments: Vec<&str> = rest.split('/').collect();
    // Compute's `global` and `aggregated` stand between a project and its collections.
    let named = segments
        .iter()
        .filter(|s| !matches!(**s, "global" | "aggregated"))
        .count();
    if segments.first() == Some(&"projects") && named % 2 == 1 && named > 2 {
        return segments[..segments.len() - 1].join("/");
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_named_without_version_verb_or_collection() {
        assert_eq!(
            resource_of("/v2/projects/p/locations/us-central1/services"),
            "projects/p/locations/us-central1"
        );
        assert_eq!(
            resource_of("/v2/projects/p/locations/us-central1/services/chat:setIamPolicy"),
            "projects/p/locations/us-central1/services/chat"
        );
        assert_eq!(resource_of("/v3/projects/p:setIamPolicy"), "projects/p");
        assert_eq!(
            resource_of("/compute/v1/projects/p/global/networks/default"),
            "projects/p/global/networks/default"
        );
        assert_eq!(
            resource_of("/compute/v1/projects/p/regions/us-central1/subnetworks"),
            "projects/p/regions/us-central1"
        );
    }
}
