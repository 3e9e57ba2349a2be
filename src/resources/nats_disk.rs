//! `--bus nats`: the persistent disk holding the NATS server's JetStream store
//! (`chat-nats-data-ENV`, 10 GB pd-balanced, in the NATS VM's zone), labelled, created before
//! the VM attaches it and kept when the VM is replaced, so room history outlives the VM.
//! With `--bus redis` it is not used: one of ours left from `--bus nats` is deleted by
//! `leftovers` once the service has moved off it.

use google_cloud_compute_v1::model::Disk;

use super::{Action, Outputs, Planned, apis, nats_vm, not_ours, ours_to_delete, owned};
use crate::context::Ctx;
use crate::gcp::Read;
use crate::gcp::compute_vms as api;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("nats-disk");

/// The NATS server's data disk.
pub struct NatsDisk;

/// Its size and type: JetStream keeps capped streams, so 10 GB is ample; pd-balanced is SSD.
pub const SIZE_GB: i64 = 10;
const DISK_TYPE: &str = "pd-balanced";

fn desired(ctx: &Ctx) -> Disk {
    let s = &ctx.settings;
    let zone = nats_vm::zone(&s.region);
    Disk::new()
        .set_name(&s.names.nats_disk)
        .set_size_gb(SIZE_GB)
        .set_type(format!("zones/{zone}/diskTypes/{DISK_TYPE}"))
        .set_description("chatctl: the JetStream store of the NATS server")
        .set_labels(s.names.labels())
}

fn status(disk: &Disk) -> String {
    disk.status
        .as_ref()
        .and_then(|s| s.name())
        .unwrap_or("UNKNOWN")
        .to_string()
}

impl Resource for NatsDisk {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[Edge::Ready(apis::ID)]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["compute.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.nats_disk.clone()
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        (!super::leftovers::provisions_nats(ctx)).then(|| super::leftovers::bus_reason(ctx))
    }

    async fn plan(&self, ctx: &Ctx, _out: &Outputs) -> anyhow::Result<Planned> {
        let s = &ctx.settings;
        let name = &s.names.nats_disk;
        let found = api::get_disk(
            &ctx.google,
            &nats_vm::zone(&s.region),
            name,
            super::leftovers::lookup(ctx),
        )
        .await?;
        if !super::leftovers::provisions_nats(ctx) {
            let found = found.map(|d| {
                let state = status(&d);
                (d.labels, state)
            });
            return Ok(super::leftovers::unused(
                ctx,
                name,
                super::leftovers::bus_reason(ctx),
                found,
            ));
        }
        let Some(disk) = found else {
            return Ok(Planned::new(name, "absent", Action::Create));
        };
        let state = status(&disk);
        if !owned(&disk.labels, ctx) {
            let reason = not_ours("Compute Engine disk", name, ctx);
            return Ok(Planned::new(name, state, Action::Conflict { reason }));
        }
        if state == "CREATING" {
            return Ok(Planned::new(name, state.clone(), Action::Resume { state }));
        }
        Ok(Planned::new(name, state, Action::NoOp))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        _out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let s = &ctx.settings;
        let (zone, name) = (nats_vm::zone(&s.region), &s.names.nats_disk);
        if matches!(planned.action, Action::Create) {
            progress.phase(Phase::Creating);
            if !api::insert_disk(&ctx.google, &zone, desired(ctx)).await? {
                // Taken between observe and create (or a retried create that went through).
                let found = api::get_disk(&ctx.google, &zone, name, Read::Strict).await?;
                if !found.is_some_and(|d| owned(&d.labels, ctx)) {
                    anyhow::bail!("{}", not_ours("Compute Engine disk", name, ctx));
                }
            }
        }
        if matches!(planned.action, Action::Create | Action::Resume { .. }) {
            progress.detail(Phase::Waiting, "waiting for the disk to be READY");
            ctx.google
                .waiting
                .until(&format!("disk {name} to be READY"), || async {
                    let disk = api::get_disk(&ctx.google, &zone, name, Read::Strict).await?;
                    Ok(disk.is_some_and(|d| status(&d) == "READY").then_some(()))
                })
                .await?;
        }
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
        let s = &ctx.settings;
        let (zone, name) = (nats_vm::zone(&s.region), &s.names.nats_disk);
        let found = api::get_disk(&ctx.google, &zone, name, Read::IfPermitted).await?;
        if ours_to_delete(found, |d| &d.labels, "Compute Engine disk", name, ctx)?.is_none() {
            return Ok(false);
        }
        progress.phase(Phase::Deleting);
        api::delete_disk(&ctx.google, &zone, name).await
    }
}
