//! roles/run.invoker for allUsers on the service: present by default, absent with
//! --no-allow-unauthenticated. Deleted together with the service on `down`.

use super::{Action, Outputs, Planned, run_service};
use crate::context::Ctx;
use crate::gcp::{policy, run};
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId};

pub const ID: ResourceId = ResourceId("public-access");

const ROLE: &str = "roles/run.invoker";
const MEMBER: &str = "allUsers";

/// roles/run.invoker for allUsers on the service (or its absence). `down` keeps it: it goes
/// with the service.
pub struct PublicAccess;

impl Resource for PublicAccess {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[Edge::Ready(run_service::ID)]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["run.googleapis.com"]
    }

    fn display_name(&self, _ctx: &Ctx) -> String {
        format!("{ROLE} → {MEMBER}")
    }

    async fn plan(&self, ctx: &Ctx, _out: &Outputs) -> anyhow::Result<Planned> {
        let want = ctx.settings.allow_unauthenticated;
        let name = format!("{ROLE} → {MEMBER}");
        let has = match run::get_policy(&ctx.google, &ctx.settings.names.run_service).await? {
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

    async fn apply(
        &self,
        ctx: &Ctx,
        _out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let id = &ctx.settings.names.run_service;
        let result = match planned.action {
            Action::Create => {
                progress.detail(Phase::Updating, "granting");
                run::modify_policy(&ctx.google, id, |p| policy::add_member(p, ROLE, MEMBER)).await
            }
            Action::Delete => {
                progress.detail(Phase::Deleting, "revoking");
                run::modify_policy(&ctx.google, id, |p| policy::remove_member(p, ROLE, MEMBER))
                    .await
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
}
