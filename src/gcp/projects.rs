//! Resource Manager v3: the project's IAM policy (read-modify-write with etags).

use google_cloud_iam_v1::model::{GetPolicyOptions, Policy};

use super::errors::explain;
use super::policy;
use crate::context::Ctx;

pub const ROLE: &str = "roles/resourcemanager.projectIamAdmin";

pub async fn get_policy(ctx: &Ctx) -> anyhow::Result<Policy> {
    let what = "read the project IAM policy";
    let call = ctx.call(what, "roles/iam.securityReviewer");
    ctx.retry()
        .run(what, || read(ctx))
        .await
        .map_err(|e| explain(e, call))
}

fn read(
    ctx: &Ctx,
) -> impl std::future::Future<Output = Result<Policy, google_cloud_gax::error::Error>> + '_ {
    ctx.clients
        .projects
        .get_iam_policy()
        .set_resource(format!("projects/{}", ctx.project()))
        .set_options(GetPolicyOptions::new().set_requested_policy_version(3))
        .send()
}

/// Applies `edit` to the project policy; true when it wrote a change.
pub async fn modify(
    ctx: &Ctx,
    what: &str,
    edit: impl Fn(&mut Policy) -> bool,
) -> anyhow::Result<bool> {
    policy::read_modify_write(
        ctx.retry(),
        ctx.call(what, ROLE),
        || read(ctx),
        |p| {
            ctx.clients
                .projects
                .set_iam_policy()
                .set_resource(format!("projects/{}", ctx.project()))
                .set_policy(p)
                .send()
        },
        edit,
    )
    .await
}
