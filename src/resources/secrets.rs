//! What the environment's two Secret Manager secrets (Redis's AUTH string, the NATS
//! credentials) share: created with the environment's labels or adopted only if ours, the
//! accessor binding chat-identity-ENV gets on each (and on nothing else), and `down`'s delete.

use super::{not_ours, ours_to_delete, owned};
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::secretmanager as api;
use crate::report::{Phase, Progress};

const WHAT: &str = "Secret Manager secret";

/// The member that reads the secrets: the chat service's identity.
pub fn accessor(ctx: &Ctx) -> String {
    let s = &ctx.settings;
    format!(
        "serviceAccount:{}",
        s.names.service_account_email(&s.project)
    )
}

/// The change that grants [`accessor`] on `secret`, when it does not hold the role yet.
pub async fn accessor_change(ctx: &Ctx, secret: &str) -> anyhow::Result<Option<Change>> {
    let member = accessor(ctx);
    if api::has_accessor(&ctx.google, secret, &member).await? {
        return Ok(None);
    }
    Ok(Some(Change {
        path: format!("iamPolicy.{}", api::ACCESSOR),
        from: "absent".into(),
        to: member.into(),
    }))
}

/// Creates `secret` with the environment's labels; one that exists already (taken between
/// observe and create, or a retried create that went through) is kept only if ours.
pub async fn create_or_adopt(ctx: &Ctx, secret: &str) -> anyhow::Result<()> {
    if !api::create(&ctx.google, secret, &ctx.settings.names.labels()).await? {
        let found = api::get(&ctx.google, secret).await?;
        if !found.is_some_and(|f| owned(&f.labels, ctx)) {
            anyhow::bail!("{}", not_ours(WHAT, secret, ctx));
        }
    }
    Ok(())
}

/// Grants [`accessor`] the accessor role on `secret` only.
pub async fn grant_accessor(ctx: &Ctx, secret: &str) -> anyhow::Result<()> {
    api::grant_accessor(&ctx.google, secret, &accessor(ctx)).await?;
    Ok(())
}

/// `down`: deletes `secret` if it is ours; false when there was none.
pub async fn destroy(ctx: &Ctx, secret: &str, progress: &Progress<'_>) -> anyhow::Result<bool> {
    let found = api::get(&ctx.google, secret).await?;
    if ours_to_delete(found, |s| &s.labels, WHAT, secret, ctx)?.is_none() {
        return Ok(false);
    }
    progress.phase(Phase::Deleting);
    api::delete(&ctx.google, secret).await
}
