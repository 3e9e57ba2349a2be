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
