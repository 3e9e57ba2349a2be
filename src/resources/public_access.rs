//! roles/run.invoker for allUsers on the service: present by default, absent with
//! --no-allow-unauthenticated. Deleted together with the service on `down`.

use super::{Action, Planned};
use crate::context::Ctx;
use crate::gcp::{policy, run};
use crate::report::Progress;

const ROLE: &str = "roles/run.invoker";
const MEMBER: &str = "allUsers";

pub async fn plan(ctx: &Ctx) -> anyhow::Result<Planned> {
    let want = ctx.settings.allow_unauthenticated;
    let name = format!("{ROLE} → {MEMBER}");
    let has = match run::get_policy(ctx, &ctx.settings.names.run_service).await? {
        Some(p) => policy::has_member(&p, ROLE, MEMBER),
        None => false,
    };
    let state = if has { "PUBLIC" } else { "PRIVATE" };
    let action = match (want, has) {
        (true, false) => Action::Create,
        (false, true) => Action::Delete,
        _ => Action::NoOp,
    };
    Ok(Planned::new(name, state, action))
}

pub async fn apply(ctx: &Ctx, planned: &Planned, progress: &Progress<'_>) -> anyhow::Result<()> {
    let id = &ctx.settings.names.run_service;
    let result = match planned.action {
        Action::Create => {
            progress.state("granting");
            run::modify_policy(ctx, id, |p| policy::add_member(p, ROLE, MEMBER)).await
        }
        Action::Delete => {
            progress.state("revoking");
            run::modify_policy(ctx, id, |p| policy::remove_member(p, ROLE, MEMBER)).await
        }
        _ => return Ok(()),
    };
    result.map(drop).map_err(|e| {
        if e.to_string().contains("permitted customer") {
            e.context(
                "your organization forbids public members (Domain Restricted Sharing): rerun \
                 with --no-allow-unauthenticated",
            )
        } else {
            e
        }
    })
}
