//! Anyone may call the service: roles/run.invoker for allUsers on it by default, absent with
//! --no-allow-unauthenticated. Where Domain Restricted Sharing (the org policy
//! `iam.allowedPolicyMemberDomains`) refuses allUsers, the service's invoker check is turned
//! off instead (`invokerIamDisabled`, Google's documented way there). Deleted together with the
//! service on `down`.

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
        let id = &ctx.settings.names.run_service;
        let bound = match run::get_policy(&ctx.google, id).await? {
            Some(p) => policy::has_member(&p, ROLE, MEMBER),
            None => false,
        };
        let check_off = run::get(&ctx.google, id)
            .await?
            .is_some_and(|s| s.invoker_iam_disabled);
        let state = match (bound, check_off) {
            (_, true) => PUBLIC_CHECK_OFF,
            (true, false) => "PUBLIC",
            (false, false) => "PRIVATE",
        };
        let action = match (want, bound || check_off) {
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
        match planned.action {
            Action::Create => {
                progress.detail(Phase::Updating, "granting");
                let granted =
                    run::modify_policy(&ctx.google, id, |p| policy::add_member(p, ROLE, MEMBER))
                        .await;
                match granted {
                    Err(e) if refused_by_domain_restriction(&e) => {
                        progress.detail(
                            Phase::Updating,
                            "allUsers refused by an org policy: turning the invoker check off",
                        );
                        run::set_invoker_iam_disabled(&ctx.google, id, true)
                            .await
                            .map_err(|e| {
                                e.context(
                                    "your organization forbids public members (Domain \
                                     Restricted Sharing) and turning the service's invoker \
                                     check off failed too: ask for roles/run.admin, or rerun \
                                     with --no-allow-unauthenticated",
                                )
                            })
                    }
                    other => other.map(drop),
                }
            }
            Action::Delete => {
                progress.detail(Phase::Deleting, "revoking");
                run::modify_policy(&ctx.google, id, |p| policy::remove_member(p, ROLE, MEMBER))
                    .await?;
                if planned.state == PUBLIC_CHECK_OFF {
                    run::set_invoker_iam_disabled(&ctx.google, id, false).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The state of a service made public by turning its invoker check off.
const PUBLIC_CHECK_OFF: &str = "PUBLIC (invoker check off)";

/// Whether a policy write was refused by Domain Restricted Sharing.
fn refused_by_domain_restriction(error: &anyhow::Error) -> bool {
    format!("{error:#}").contains("permitted customer")
}
