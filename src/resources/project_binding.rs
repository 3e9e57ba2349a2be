//! roles/serviceusage.serviceUsageConsumer for the environment's service account on the
//! project: one member in the project's IAM policy, changed by read-modify-write.

use super::{Action, Outputs, Planned, service_account};
use crate::context::Ctx;
use crate::gcp::{policy, projects};
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("project-binding");

/// roles/serviceusage.serviceUsageConsumer for the service account on the project.
pub struct ProjectBinding;

impl Resource for ProjectBinding {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[Edge::Ready(service_account::ID)]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["cloudresourcemanager.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        format!("{ROLE} → {}", ctx.settings.names.service_account_id)
    }

    async fn plan(&self, ctx: &Ctx, _out: &Outputs) -> anyhow::Result<Planned> {
        let member = member(ctx);
        let name = format!("{ROLE} → {member}");
        let current = projects::get_policy(&ctx.google).await?;
        Ok(if policy::has_member(&current, ROLE, &member) {
            Planned::new(name, "BOUND", Action::NoOp)
        } else {
            Planned::new(name, "absent", Action::Create)
        })
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        _out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        if planned.action != Action::Create {
            return Ok(());
        }
        progress.detail(Phase::Updating, "binding");
        let member = member(ctx);
        projects::modify(&ctx.google, &format!("grant {ROLE} to {member}"), |p| {
            policy::add_member(p, ROLE, &member)
        })
        .await?;
        Ok(())
    }

    fn teardown(&self) -> Teardown {
        Teardown::Delete
    }

    async fn destroy(
        &self,
        ctx: &Ctx,
        _out: &Outputs,
        progress: &Progress<'_>,
    ) -> anyhow::Result<bool> {
        let member = member(ctx);
        // A binding whose account was deleted first reads `deleted:serviceAccount:EMAIL?uid=N`.
        let deleted = format!("deleted:{member}?");
        let current = projects::get_policy(&ctx.google).await?;
        let present = |p: &google_cloud_iam_v1::model::Policy| {
            p.bindings.iter().any(|b| {
                b.role == ROLE
                    && b.members
                        .iter()
                        .any(|m| *m == member || m.starts_with(&deleted))
            })
        };
        if !present(&current) {
            return Ok(false);
        }
        progress.detail(Phase::Deleting, "unbinding");
        projects::modify(&ctx.google, &format!("revoke {ROLE} from {member}"), |p| {
            if !present(p) {
                return false;
            }
            for b in p.bindings.iter_mut().filter(|b| b.role == ROLE) {
                b.members
                    .retain(|m| *m != member && !m.starts_with(&deleted));
            }
            p.bindings.retain(|b| !b.members.is_empty());
            true
        })
        .await
    }
}

pub const ROLE: &str = "roles/serviceusage.serviceUsageConsumer";

fn member(ctx: &Ctx) -> String {
    format!(
        "serviceAccount:{}",
        ctx.settings.names.service_account_email(ctx.project())
    )
}
