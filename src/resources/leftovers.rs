//! What the settings no longer use, left behind by earlier runs: after `--bus redis` → `--bus
//! nats`, the Memorystore instance and its AUTH secret; after `--bus nats` → `--bus redis`, the
//! NATS VM, its firewall rule, data disk and credentials secret; after `--egress connector` →
//! `--egress direct`, the connector; after `--no-redis-auth`, the AUTH string's secret. They
//! are deleted here, once the service has moved off them (this step needs the service ready),
//! so no running revision loses its bus, its way to the network or its password mid-switch.
//! Each of those resources plans itself as "not used" ([`unused`]); this step finds the ones
//! of ours still there and calls their own `destroy`.

use std::collections::HashMap;

use super::{
    Action, Outputs, Planned, by_id, connector, nats_auth, nats_disk, nats_firewall, nats_vm,
    owned, redis, redis_auth, run_service,
};
use crate::config::{Bus, Egress};
use crate::context::Ctx;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId};

pub const ID: ResourceId = ResourceId("leftovers");

/// The resources the settings do not use, deleted after the service moved off them.
pub struct Leftovers;

/// The end of the state of a resource of ours the other bus left.
const LEFT_OVER: &str = "deleted once the service has moved";

/// The plan of a resource the settings do not use (`why`: "bus nats", "egress direct"):
/// nothing to do here either way; when one of ours exists (`found`: its labels and state), its
/// state says this step deletes it.
pub fn unused(
    ctx: &Ctx,
    name: &str,
    why: String,
    found: Option<(HashMap<String, String>, String)>,
) -> Planned {
    let found = found.map(|(labels, state)| (owned(&labels, ctx), state));
    unused_by_mark(name, why, found)
}

/// [`unused`] for a resource that marks ownership otherwise than by labels (`ours`).
pub fn unused_by_mark(name: &str, why: String, found: Option<(bool, String)>) -> Planned {
    let state = match found {
        Some((true, state)) => format!("{state}, not used ({why}): {LEFT_OVER}"),
        _ => format!("not used ({why})"),
    };
    Planned::new(name, state, Action::NoOp)
}

/// Why the other bus's pieces are not used: `bus redis`, `bus nats, local`.
pub fn bus_reason(ctx: &Ctx) -> String {
    let mut bus = format!("bus {}", ctx.settings.bus.name());
    if ctx.settings.nats_server.is_some() {
        bus.push_str(", local");
    }
    bus
}

/// Why the connector is not used.
pub fn egress_reason(ctx: &Ctx) -> String {
    format!("egress {}", ctx.settings.egress.name())
}

fn is_left_over(planned: &Planned) -> bool {
    planned.state.ends_with(LEFT_OVER)
}

/// What the settings do not use, in the order it is deleted (the VM before its disk).
fn candidates(ctx: &Ctx) -> Vec<ResourceId> {
    let mut ids = match ctx.settings.bus {
        Bus::Nats => vec![redis::ID, redis_auth::ID],
        Bus::Redis => vec![nats_vm::ID, nats_firewall::ID, nats_disk::ID, nats_auth::ID],
    };
    if ctx.settings.bus == Bus::Redis && !ctx.settings.redis_auth {
        ids.push(redis_auth::ID);
    }
    if ctx.settings.egress == Egress::Direct {
        ids.push(connector::ID);
    }
    ids
}

/// How the NATS pieces are read: strictly when the settings use them; otherwise a caller
/// granted only the roles of the bus in use may not read them (`IfPermitted`), and then there
/// is nothing it could remove anyway.
pub fn lookup(ctx: &Ctx) -> crate::gcp::Read {
    if provisions_nats(ctx) {
        crate::gcp::Read::Strict
    } else {
        crate::gcp::Read::IfPermitted
    }
}

/// Whether chatctl provisions the NATS server (its VM, disk, firewall rule and secret):
/// with --bus nats, unless a server is given (local mode's nats-server).
pub fn provisions_nats(ctx: &Ctx) -> bool {
    ctx.settings.bus == Bus::Nats && ctx.settings.nats_server.is_none()
}

impl Resource for Leftovers {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[Edge::Ready(run_service::ID)]
    }

    // Each candidate is read only when its own APIs are enabled (see `plan`).

    fn display_name(&self, _ctx: &Ctx) -> String {
        "what the settings no longer use".into()
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let left = left_over(ctx, out).await?;
        let narrowed = narrowing(ctx, out).await?;
        if !left.is_empty() {
            let mut why: Vec<String> = Vec::new();
            for (resource, _) in &left {
                let reason = resource.unused_by(ctx).unwrap_or_default();
                if !why.contains(&reason) {
                    why.push(reason);
                }
            }
            let names: Vec<&str> = left.iter().map(|(_, p)| p.name.as_str()).collect();
            let state = format!("not used ({})", why.join("; "));
            return Ok(Planned::new(names.join(", "), state, Action::Delete));
        }
        match narrowed {
            Some(planned) => Ok(Planned::new(
                planned.name,
                "admits the range the service left",
                planned.action,
            )),
            None => Ok(Planned::new(self.display_name(ctx), "none", Action::NoOp)),
        }
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        if planned.action == Action::Delete {
            progress.phase(Phase::Deleting);
            // Observed again: only what is still ours and left over goes.
            for (resource, _) in left_over(ctx, out).await? {
                progress.detail(Phase::Deleting, &resource.display_name(ctx));
                resource.destroy(ctx, out, progress).await?;
            }
        }
        if let Some(narrow) = narrowing(ctx, out).await? {
            progress.detail(Phase::Updating, &narrow.name);
            nats_firewall::NatsFirewall
                .apply(ctx, out, &narrow, progress)
                .await?;
        }
        Ok(())
    }
}

/// The candidates that are ours and left over, with their plans, in deletion order. Those
/// read through a disabled API are skipped: nothing can be read there, nor be left to delete.
async fn left_over(
    ctx: &Ctx,
    out: &Outputs,
) -> anyhow::Result<Vec<(&'static dyn crate::resource::AnyResource, Planned)>> {
    let disabled = out.get().disabled_apis;
    let mut left = Vec::new();
    for id in candidates(ctx) {
        let Some(resource) = by_id(id) else { continue };
        if resource
            .read_through()
            .iter()
            .any(|a| disabled.iter().any(|d| d == a))
        {
            continue;
        }
        let planned = resource.plan(ctx, out).await?;
        if is_left_over(&planned) {
            left.push((resource, planned));
        }
    }
    Ok(left)
}

/// The NATS firewall rule's plan when it still admits a range the service has left (it admits
/// both while the service switches egress), or None.
async fn narrowing(ctx: &Ctx, out: &Outputs) -> anyhow::Result<Option<Planned>> {
    let disabled = out.get().disabled_apis;
    let rule = nats_firewall::NatsFirewall;
    if !provisions_nats(ctx)
        || rule
            .read_through()
            .iter()
            .any(|a| disabled.iter().any(|d| d == a))
    {
        return Ok(None);
    }
    let planned = rule.plan(ctx, out).await?;
    Ok(matches!(planned.action, Action::Replace { .. }).then_some(planned))
}
