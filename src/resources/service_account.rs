//! The chat service's identity: a service account per environment. Service accounts take no
//! labels, so the description carries chatctl's marks; a new account is waited for until IAM
//! shows it (it can stay invisible for a minute after creation).

use super::{Action, Planned};
use crate::context::Ctx;
use crate::gcp::iam;
use crate::report::Progress;

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

pub async fn plan(ctx: &Ctx) -> anyhow::Result<Planned> {
    Ok(decide(ctx, iam::get(ctx, &email(ctx)).await?))
}

pub async fn apply(ctx: &Ctx, planned: &Planned, progress: &Progress<'_>) -> anyhow::Result<()> {
    if planned.action != Action::Create {
        return Ok(());
    }
    let names = &ctx.settings.names;
    progress.state("creating");
    let created = iam::create(
        ctx,
        &names.service_account_id,
        &format!("chat ({})", names.env),
        &names.service_account_description(),
    )
    .await?;
    progress.state("waiting for IAM to show it");
    let email = email(ctx);
    let mut eventual = ctx.waiting.clone();
    eventual.timeout = eventual.timeout.min(ctx.retry().eventual_window);
    let sa = eventual
        .until(
            &format!("service account {email} to become visible"),
            || iam::get(ctx, &email),
        )
        .await?;
    if created.is_none() {
        // The id was taken: adopt it only when it is ours.
        if let Action::Conflict { reason } = decide(ctx, Some(sa)).action {
            anyhow::bail!("{reason}");
        }
    }
    Ok(())
}

pub async fn destroy(ctx: &Ctx, progress: &Progress<'_>) -> anyhow::Result<bool> {
    let email = email(ctx);
    match iam::get(ctx, &email).await? {
        None => return Ok(false),
        Some(sa) if !ours(ctx, &sa.description) => anyhow::bail!(
            "service account {email} was not created by chatctl for this environment; left alone"
        ),
        Some(_) => {}
    }
    progress.state("deleting");
    iam::delete(ctx, &email).await
}
