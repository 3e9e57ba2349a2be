//! The roles of the environment's service accounts on the project, one member in the project's
//! IAM policy each, changed by read-modify-write: roles/serviceusage.serviceUsageConsumer for
//! the chat service's identity ([`IDENTITY`]), roles/run.builder for the build account
//! ([`BUILDER`], Google's recommended role for an account that builds Cloud Run sources).

use super::{Action, Outputs, Planned, service_account};
use crate::context::Ctx;
use crate::gcp::{policy, projects};
use crate::names::Account;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("project-binding");
pub const BUILDER_ID: ResourceId = ResourceId("build-binding");

/// A role for one of the environment's service accounts on the project.
pub struct ProjectBinding {
    id: ResourceId,
    role: &'static str,
    account: Account,
    needs: &'static [Edge],
}

/// roles/serviceusage.serviceUsageConsumer for the chat service's identity.
pub static IDENTITY: ProjectBinding = ProjectBinding {
    id: ID,
    role: "roles/serviceusage.serviceUsageConsumer",
    account: Account::Identity,
    needs: &[Edge::Ready(service_account::ID)],
};

/// roles/run.builder for the build account.
pub static BUILDER: ProjectBinding = ProjectBinding {
    id: BUILDER_ID,
    role: "roles/run.builder",
    account: Account::Builder,
    needs: &[Edge::Ready(service_account::BUILDER_ID)],
};

impl Resource for ProjectBinding {
    fn id(&self) -> ResourceId {
        self.id
    }

    fn needs(&self) -> &'static [Edge] {
        self.needs
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["cloudresourcemanager.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        format!(
            "{} → {}",
            self.role,
            ctx.settings.names.account_id(self.account)
        )
    }

    async fn plan(&self, ctx: &Ctx, _out: &Outputs) -> anyhow::Result<Planned> {
        let member = self.member(ctx);
        let name = format!("{} → {member}", self.role);
        if !service_account::needed(ctx, self.account) {
            return Ok(service_account::not_needed(name));
        }
        let current = projects::get_policy(&ctx.google).await?;
        Ok(if policy::has_member(&current, self.role, &member) {
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
        let (role, member) = (self.role, self.member(ctx));
        projects::modify(&ctx.google, &format!("grant {role} to {member}"), |p| {
            policy::add_member(p, role, &member)
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
        let (role, member) = (self.role, self.member(ctx));
        // A binding whose account was deleted first reads `deleted:serviceAccount:EMAIL?uid=N`.
        let deleted = format!("deleted:{member}?");
        let current = projects::get_policy(&ctx.google).await?;
        let present = |p: &google_cloud_iam_v1::model::Policy| {
            p.bindings.iter().any(|b| {
                b.role == role
                    && b.members
                        .iter()
                        .any(|m| *m == member || m.starts_with(&deleted))
            })
        };
        if !present(&current) {
            return Ok(false);
        }
        progress.detail(Phase::Deleting, "unbinding");
        projects::modify(&ctx.google, &format!("revoke {role} from {member}"), |p| {
            if !present(p) {
                return false;
            }
            for b in p.bindings.iter_mut().filter(|b| b.role == role) {
                b.members
                    .retain(|m| *m != member && !m.starts_with(&deleted));
            }
            p.bindings.retain(|b| !b.members.is_empty());
            true
        })
        .await
    }
}

impl ProjectBinding {
    fn member(&self, ctx: &Ctx) -> String {
        format!(
            "serviceAccount:{}",
            ctx.settings
                .names
                .account_email(self.account, ctx.project())
        )
    }
}
