//! The chat service's identity: a service account per environment. Service accounts take no
//! labels, so the description carries chatctl's marks; a new account is waited for until IAM
//! shows it (it can stay invisible for a minute after creation).
//!
//! That invisibility would let a `down` right after an interrupted `up` miss the account, so
//! `up` starts it only once the Redis create has been accepted (an [`Edge::Accepted`]: the
//! instance is visible at once), and `down` handles it last: when it found anything else of the environment but reads
//! say the account is absent, it probes with a create (strongly consistent: ALREADY_EXISTS
//! even while invisible) and deletes what it finds.

use std::time::Duration;

use super::{Action, Outputs, Planned, apis, redis};
use crate::context::Ctx;
use crate::gcp::iam;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("service-account");

/// Longest wait for the Redis create to be accepted (its request may be retried through an
/// API's enablement window); past it the account is not created and `up` fails.
const REDIS_ACCEPTED_WITHIN: Duration = Duration::from_secs(600);

/// The chat service's identity.
pub struct ServiceAccount;

impl Resource for ServiceAccount {
    fn id(&self) -> ResourceId {
        ID
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
        email(ctx)
    }

    async fn plan(&self, ctx: &Ctx, _out: &Outputs) -> anyhow::Result<Planned> {
        Ok(decide(ctx, iam::get(&ctx.google, &email(ctx)).await?))
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
        let created = create(ctx).await?;
        let sa = wait_visible(ctx, progress).await?;
        if !created {
            // The id was taken: adopt it only when it is ours.
            if let Action::Conflict { reason } = decide(ctx, Some(sa)).action {
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
        let email = email(ctx);
        let sa = match iam::get(&ctx.google, &email).await? {
            Some(sa) => sa,
            None if !out.found_any() => return Ok(false),
            None => {
                // Maybe created moments ago and not yet visible: a create tells for sure.
                progress.detail(Phase::Observing, "checking for a just-created account");
                let created_now = create(ctx).await?;
                let sa = wait_visible(ctx, progress).await?;
                if created_now {
                    progress.phase(Phase::Deleting);
                    iam::delete(&ctx.google, &email).await?;
                    return Ok(false);
                }
                sa
            }
        };
        if !ours(ctx, &sa.description) {
            anyhow::bail!(
                "service account {email} was not created by chatctl for this environment; left alone"
            );
        }
        progress.phase(Phase::Deleting);
        iam::delete(&ctx.google, &email).await
    }
}

fn email(ctx: &Ctx) -> String {
    ctx.settings.names.service_account_email(ctx.project())
}

fn ours(ctx: &Ctx, description: &str) -> bool {
    description.starts_with(&ctx.settings.names.service_account_description())
}

fn decide(ctx: &Ctx, sa: Option<google_cloud_iam_admin_v1::model::ServiceAccount>) -> Planned {
    let email = email(ctx);
    match sa {
        None => Planned::new(email, "absent", Action::Create),
        Some(sa) if ours(ctx, &sa.description) => Planned::new(email, "READY", Action::NoOp),
        Some(_) => Planned::new(
            email.clone(),
            "READY",
            Action::Conflict {
                reason: format!(
                    "service account {email} exists but was not created by chatctl for \
                     environment `{}` (its description lacks `{}`): choose another --env or \
                     delete the account",
                    ctx.settings.names.env,
                    ctx.settings.names.service_account_description()
                ),
            },
        ),
    }
}

async fn create(ctx: &Ctx) -> anyhow::Result<bool> {
    let names = &ctx.settings.names;
    let created = iam::create(
        &ctx.google,
        &names.service_account_id,
        &format!("chat ({})", names.env),
        &names.service_account_description(),
    )
    .await?;
    Ok(created.is_some())
}

async fn wait_visible(
    ctx: &Ctx,
    progress: &Progress<'_>,
) -> anyhow::Result<google_cloud_iam_admin_v1::model::ServiceAccount> {
    progress.detail(Phase::Waiting, "waiting for IAM to show it");
    let email = email(ctx);
    let mut eventual = ctx.google.waiting.clone();
    eventual.timeout = eventual.timeout.min(ctx.google.retry().eventual_window);
    eventual
        .until(
            &format!("service account {email} to become visible"),
            || iam::get(&ctx.google, &email),
        )
        .await
}
