//! What the bus not in use left behind: after `--bus redis` → `--bus nats`, the Memorystore
//! instance and its AUTH secret; after `--bus nats` → `--bus redis`, the NATS VM, its firewall
//! rule, data disk and credentials secret. They are deleted here, once the service has moved
//! to the new bus (this step needs the service ready), so no running revision loses its bus
//! mid-switch. Each of those resources plans itself as "not used" under the other bus
//! ([`unused`]); this step finds the ones of ours still there and calls their own `destroy`.

use std::collections::HashMap;

use super::{
    Action, Outputs, Planned, by_id, nats_auth, nats_disk, nats_firewall, nats_vm, owned, redis,
    redis_auth, run_service,
};
use crate::config::Bus;
use crate::context::Ctx;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId};

pub const ID: ResourceId = ResourceId("old-bus");

/// The resources of the bus not in use, deleted after the service moved off them.
pub struct OldBus;

/// The end of the state of a resource of ours the other bus left.
const LEFT_OVER: &str = "deleted once the service has moved";

/// The plan of a resource of the bus not in use: nothing to do here either way; when one of
/// ours exists (`found`: its labels and state), its state says this step deletes it.
pub fn unused(ctx: &Ctx, name: &str, found: Option<(HashMap<String, String>, String)>) -> Planned {
    let found = found.map(|(labels, state)| (owned(&labels, ctx), state));
    unused_by_mark(ctx, name, found)
}

/// [`unused`] for a resource that marks ownership otherwise than by labels (`ours`).
pub fn unused_by_mark(ctx: &Ctx, name: &str, found: Option<(bool, String)>) -> Planned {
    let mut bus = ctx.settings.bus.name().to_string();
    if ctx.settings.nats_server.is_some() {
        bus.push_str(", local");
    }
    let state = match found {
        Some((true, state)) => format!("{state}, not used (bus {bus}): {LEFT_OVER}"),
        _ => format!("not used (bus {bus})"),
    };
    Planned::new(name, state, Action::NoOp)
}

fn is_left_over(planned: &Planned) -> bool {
    planned.state.ends_with(LEFT_OVER)
}

/// The other bus's resources, in the order they are deleted (the VM before its disk).
fn candidates(bus: Bus) -> &'static [ResourceId] {
    match bus {
        Bus::Nats => &[redis::ID, redis_auth::ID],
        Bus::Redis => &[nats_vm::ID, nats_firewall::ID, nats_disk::ID, nats_auth::ID],
    }
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

fn other(bus: Bus) -> &'static str {
    match bus {
        Bus::Nats => "redis",
        Bus::Redis => "nats",
    }
}

impl Resource for OldBus {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[Edge::Ready(run_service::ID)]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &[
            "compute.googleapis.com",
            "redis.googleapis.com",
            "secretmanager.googleapis.com",
        ]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        format!("bus {} leftovers", other(ctx.settings.bus))
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let mut left = Vec::new();
        for id in candidates(ctx.settings.bus) {
            let Some(resource) = by_id(*id) else { continue };
            let planned = resource.plan(ctx, out).await?;
            if is_left_over(&planned) {
                left.push(planned.name);
            }
        }
        if left.is_empty() {
            let name = self.display_name(ctx);
            return Ok(Planned::new(name, "none", Action::NoOp));
        }
        let state = format!("not used (bus {})", ctx.settings.bus.name());
        Ok(Planned::new(left.join(", "), state, Action::Delete))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        if planned.action != Action::Delete {
            return Ok(());
        }
        progress.phase(Phase::Deleting);
        for id in candidates(ctx.settings.bus) {
            if let Some(resource) = by_id(*id) {
                progress.detail(Phase::Deleting, &resource.display_name(ctx));
                resource.destroy(ctx, out, progress).await?;
            }
        }
        Ok(())
    }
}
