//! The environment's service accounts: the chat service's identity ([`IDENTITY`]) and the account
//! Cloud Build builds the image as ([`BUILDER`], only with `--build source` and no
//! `--build-service-account`: chatctl never relies on a default build account's roles). Service
//! accounts take no labels, so the description carries chatctl's marks; a new account is waited
//! for until IAM shows it (it can stay invisible for a minute after creation).
//!
//! That invisibility would let a `down` right after an interrupted `up` miss an account, so
//! `up` starts them only once the Redis create has been accepted (an [`Edge::Accepted`]: the
//! instance is visible at once), and `down` handles them last: when it found anything else of the
//! environment but reads say an account is absent, it probes with a create (strongly
//! consistent: ALREADY_EXISTS even while invisible) and deletes what it finds.

use std::time::Duration;

use super::{Action, Outputs, Planned, apis, redis};
use crate::config::BuildMode;
use crate::context::Ctx;
use crate::gcp::iam;
use crate::names::Account;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("service-account");
pub const BUILDER_ID: ResourceId = ResourceId("build-account");

/// Longest wait for the Redis create to be accepted (its request may be retried through an
/// API's enablement window); past it the account is not created and `up` fails.
const REDIS_ACCEPTED_WITHIN: Duration = Duration::from_secs(600);

/// One of the environment's service accounts.
pub struct ServiceAccount {
    id: ResourceId,
    account: Account,
}

/// The chat service's identity.
pub static IDENTITY: ServiceAccount = ServiceAccount {
    id: ID,
    account: Account::Identity,
};

/// The account Cloud Build runs the image's build as.
pub static BUILDER: ServiceAccount = ServiceAccount {
    id: BUILDER_ID,
    account: Account::Builder,
};

/// Whether `up` needs the account: the builder only when chatctl runs Cloud Build as its own.
pub fn needed(ctx: &Ctx, account: Account) -> bool {
    match account {
        Account::Identity => true,
        Account::Builder => {
            let s = &ctx.settings;
            s.build == BuildMode::Source && s.image.is_none() && s.build_service_account.is_none()
        }
    }
}

/// What a plan says of an account `up` does not need.
pub fn not_needed(name: String) -> Planned {
    Planned::new(name, "not needed", Action::NoOp)
}

impl Resource for ServiceAccount {
    fn id(&self) -> ResourceId {
        self.id
    }

    fn needs(&self) -> &'static [Edge] {
        &[
            Edge::Ready(apis::ID),
            Edge::Accepted {
                of: redis::ID,
                within: REDIS_ACCEPTED_WITHIN,
            },
        ]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["iam.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        self.email(ctx)
    }

    async fn plan(&self, ctx: &Ctx, _out: &Outputs) -> anyhow::Result<Planned> {
        if !needed(ctx, self.account) {
            return Ok(not_needed(self.email(ctx)));
        }
        Ok(self.decide(ctx, iam::get(&ctx.google, &self.email(ctx)).await?))
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
        progress.phase(Phase::Creating);
        let created = self.create(ctx).await?;
        let sa = self.wait_visible(ctx, progress).await?;
        if !created {
            // The id was taken: adopt it only when it is ours.
            if let Action::Conflict { reason } = self.decide(ctx, Some(sa)).action {
                anyhow::bail!("{reason}");
            }
        }
        Ok(())
    }

    fn teardown(&self) -> Teardown {
        Teardown::DeleteLast
    }

    async fn destroy(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        progress: &Progress<'_>,
    ) -> anyhow::Result<bool> {
        let email = self.email(ctx);
        let sa = match iam::get(&ctx.google, &email).await? {
            Some(sa) => sa,
            None if !out.found_any() => return Ok(false),
            // Only a build with chatctl's own build account may have created the builder.
            None if !needed(ctx, self.account) => return Ok(false),
            None => {
                // Maybe created moments ago and not yet visible: a create tells for sure.
                progress.detail(Phase::Observing, "checking for a just-created account");
                let created_now = self.create(ctx).await?;
                let sa = self.wait_visible(ctx, progress).await?;
                if created_now {
                    progress.phase(Phase::Deleting);
                    iam::delete(&ctx.google, &email).await?;
                    return Ok(false);
                }
                sa
            }
        };
        if !self.ours(ctx, &sa.description) {
            anyhow::bail!(
                "service account {email} was not created by chatctl for this environment; left alone"
            );
        }
        progress.phase(Phase::Deleting);
        iam::delete(&ctx.google, &email).await
    }
}

impl ServiceAccount {
    fn email(&self, ctx: &Ctx) -> String {
        ctx.settings
            .names
            .account_email(self.account, ctx.project())
    }

    fn ours(&self, ctx: &Ctx, description: &str) -> bool {
        description.starts_with(&ctx.settings.names.account_description(self.account))
    }

    fn decide(
        &self,
        ctx: &Ctx,
        sa: Option<google_cloud_iam_admin_v1::model::ServiceAccount>,
    ) -> Planned {
        let email = self.email(ctx);
        match sa {
            None => Planned::new(email, "absent", Action::Create),
            Some(sa) if self.ours(ctx, &sa.description) => {
                Planned::new(email, "READY", Action::NoOp)
            }
            Some(_) => Planned::new(
                email.clone(),
                "READY",
                Action::Conflict {
                    reason: format!(
                        "service account {email} exists but was not created by chatctl for \
                         environment `{}` (its description lacks `{}`): choose another --env or \
                         delete the account",
                        ctx.settings.names.env,
                        ctx.settings.names.account_description(self.account)
                    ),
                },
            ),
        }
    }

    async fn create(&self, ctx: &Ctx) -> anyhow::Result<bool> {
        let names = &ctx.settings.names;
        let display_name = match self.account {
            Account::Identity => format!("chat ({})", names.env),
            Account::Builder => format!("chat builder ({})", names.env),
        };
        let created = iam::create(
            &ctx.google,
            names.account_id(self.account),
            &display_name,
            &names.account_description(self.account),
        )
        .await?;
        Ok(created.is_some())
    }

    async fn wait_visible(
        &self,
        ctx: &Ctx,
        progress: &Progress<'_>,
    ) -> anyhow::Result<google_cloud_iam_admin_v1::model::ServiceAccount> {
        progress.detail(Phase::Waiting, "waiting for IAM to show it");
        let email = self.email(ctx);
        let mut eventual = ctx.google.waiting.clone();
        eventual.timeout = eventual.timeout.min(ctx.google.retry().eventual_window);
        eventual
            .until(
                &format!("service account {email} to become visible"),
                || iam::get(&ctx.google, &email),
            )
            .await
    }
}
