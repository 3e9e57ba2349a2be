//! Resource Manager v3: the project's IAM policy (read-modify-write with etags).

use google_cloud_iam_v1::model::{GetPolicyOptions, Policy};

use super::Google;
use super::errors::explain;
use super::policy;

pub const ROLE: &str = "roles/resourcemanager.projectIamAdmin";

pub async fn get_policy(google: &Google) -> anyhow::Result<Policy> {
    let what = "read the project IAM policy";
    let call = google.call(what, "roles/iam.securityReviewer");
    google
        .retry()
        .run(what, || read(google))
        .await
        .map_err(|e| explain(e, call))
}

fn read(
    google: &Google,
) -> impl std::future::Future<Output = Result<Policy, google_cloud_gax::error::Error>> + '_ {
    google
        .clients
        .projects
        .get_iam_policy()
        .set_resource(format!("projects/{}", google.project()))
        .set_options(GetPolicyOptions::new().set_requested_policy_version(3))
        .send()
}

/// Applies `edit` to the project policy; true when it wrote a change.
pub async fn modify(
    google: &Google,
    what: &str,
    edit: impl Fn(&mut Policy) -> bool,
) -> anyhow::Result<bool> {
    policy::read_modify_write(
        google.retry(),
        google.call(what, ROLE),
        || read(google),
        |p| {
            google
                .clients
                .projects
                .set_iam_policy()
                .set_resource(format!("projects/{}", google.project()))
                .set_policy(p)
                .send()
        },
        edit,
    )
    .await
}

/// Which of `permissions` the caller holds on the project (Resource Manager v3
/// `projects.testIamPermissions`, which needs no role of its own). Transient failures are
/// retried; anything else (the API disabled, an unknown permission) is returned at once: the
/// preflight then warns and carries on.
pub async fn test_permissions(
    google: &Google,
    permissions: &[&str],
) -> Result<Vec<String>, NotChecked> {
    let what = "check the caller's permissions on the project";
    let mut retry = google.retry().clone();
    retry.eventual_window = std::time::Duration::ZERO;
    let answer = retry
        .run(what, || {
            google
                .clients
                .projects
                .test_iam_permissions()
                .set_resource(format!("projects/{}", google.project()))
                .set_permissions(permissions.iter().copied())
                .send()
        })
        .await
        .map_err(|e| NotChecked::from(e, google.call(what, "no role (any caller may ask)")))?;
    Ok(answer.permissions)
}

/// Why a `testIamPermissions` gave no answer: the API is disabled (or the quota project's is),
/// or any other failure (no credentials, a refused call), explained.
#[derive(Debug)]
pub struct NotChecked {
    pub api_disabled: bool,
    pub error: anyhow::Error,
}

impl NotChecked {
    pub fn from(err: google_cloud_gax::error::Error, call: super::errors::Call<'_>) -> Self {
        NotChecked {
            api_disabled: super::errors::classify(&err) == super::errors::Kind::ServiceDisabled,
            error: explain(err, call),
        }
    }
}
