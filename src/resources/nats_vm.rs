//! `--bus nats`: the Compute Engine VM running the NATS server (`chat-nats-ENV`, e2-small,
//! Container-Optimized OS, in zone `REGION-a` (`-b` where Google has no `-a`)). Its startup
//! script runs the official `nats` image with JetStream (`-js`) and the store on the data disk
//! (`nats_disk`), on port 4222 with one user whose password it reads at boot from the Secret
//! Manager secret (`nats_auth`) as the VM's service account (chat-identity-ENV, which may read
//! that secret only): the password is never in the VM's metadata, so neither `plan`, `status`
//! nor a metadata read shows it. No external IP (no access config); reached only through the
//! VPC by the connector's range (`nats_firewall`). Publishes `nats://INTERNAL_IP:4222`.

use google_cloud_compute_v1::model::{
    AttachedDisk, AttachedDiskInitializeParams, Instance, Metadata, NetworkInterface,
    ServiceAccount, Tags, attached_disk, metadata::Items,
};

use super::{
    Action, Outputs, Planned, apis, nats_disk, not_ours, ours_to_delete, owned, service_account,
};
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::Read;
use crate::gcp::compute_vms as api;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("nats-vm");

/// The NATS server's VM.
pub struct NatsVm;

/// A small machine: NATS needs little CPU; 2 GB of memory leave room for JetStream's caches.
pub const MACHINE_TYPE: &str = "e2-small";
/// Container-Optimized OS, the image family Google keeps patched for running containers.
pub const IMAGE: &str = "projects/cos-cloud/global/images/family/cos-stable";
/// The official NATS image (Docker Hub), pinned to a minor version.
pub const NATS_IMAGE: &str = "nats:2.10";
/// The port NATS clients use.
pub const NATS_PORT: u16 = 4222;
/// The NATS user the service connects as (its password is generated per environment).
pub const NATS_USER: &str = "chat";
/// The data disk's device name: the guest sees it as /dev/disk/by-id/google-nats-data.
const DATA_DEVICE: &str = "nats-data";
/// What the VM's service account may call: the scope is broad, its IAM narrows it (the secret).
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The zone of `region` the VM and its disk live in: `-a`, or `-b` in the two regions Google
/// opened without an `a` zone.
pub fn zone(region: &str) -> String {
    let letter = match region {
        "europe-west1" | "us-east1" => "b",
        _ => "a",
    };
    format!("{region}-{letter}")
}

/// The boot script: mount (formatting once) the data disk, read the password from the secret
/// with the VM's service account (waiting for the secret's first version, at most an hour),
/// write it into a root-only nats-server config on tmpfs, and run the NATS image with
/// JetStream on the disk. It names the secret, never its value.
pub fn startup_script(project: &str, secret: &str, env: &str) -> String {
    format!(
        r#"#!/bin/bash
# chatctl: the NATS server of environment {env} (JetStream on the data disk).
set -u
DEV=/dev/disk/by-id/google-{DATA_DEVICE}
DIR=/mnt/disks/nats
blkid "$DEV" >/dev/null 2>&1 || mkfs.ext4 -q -m 0 -F "$DEV"
mkdir -p "$DIR"
mountpoint -q "$DIR" || mount -o discard,defaults "$DEV" "$DIR"
mkdir -p "$DIR/jetstream"
MD=http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token
SECRET=https://secretmanager.googleapis.com/v1/projects/{project}/secrets/{secret}/versions/latest:access
DATA=
for attempt in $(seq 1 360); do
  TOKEN=$(curl -sf -H 'Metadata-Flavor: Google' "$MD" | tr -d '\n' | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
  DATA=$(curl -sf -H "Authorization: Bearer $TOKEN" "$SECRET" | tr -d '\n' | sed -n 's/.*"data" *: *"\([^"]*\)".*/\1/p')
  [ -n "$DATA" ] && break
  sleep 10
done
if [ -z "$DATA" ]; then echo "chatctl: cannot read secret {secret}; NATS not started" >&2; exit 1; fi
PASSWORD=$(printf '%s' "$DATA" | base64 -d | sed -n 's#^nats://[^:]*:\([^@]*\)@.*#\1#p')
umask 077
mkdir -p /run/nats
printf 'authorization {{ user: {NATS_USER}, password: "%s" }}\n' "$PASSWORD" > /run/nats/nats.conf
docker rm -f nats >/dev/null 2>&1
docker run -d --name nats --restart always --network host -v "$DIR":/data -v /run/nats/nats.conf:/etc/nats/auth.conf:ro {NATS_IMAGE} -c /etc/nats/auth.conf -p {NATS_PORT} -js -sd /data/jetstream
"#
    )
}

fn desired(ctx: &Ctx) -> Instance {
    let s = &ctx.settings;
    let zone = zone(&s.region);
    let names = &s.names;
    let boot = AttachedDisk::new()
        .set_boot(true)
        .set_auto_delete(true)
        .set_initialize_params(
            AttachedDiskInitializeParams::new()
                .set_source_image(IMAGE)
                .set_disk_size_gb(10),
        );
    // Kept when the VM goes (autoDelete false): the history outlives a replaced VM.
    let data = AttachedDisk::new()
        .set_boot(false)
        .set_auto_delete(false)
        .set_device_name(DATA_DEVICE)
        .set_mode(attached_disk::Mode::ReadWrite)
        .set_source(format!(
            "projects/{}/zones/{zone}/disks/{}",
            s.project, names.nats_disk
        ));
    Instance::new()
        .set_name(&names.nats_vm)
        .set_description("chatctl: the NATS server (JetStream) of the chat service")
        .set_machine_type(format!("zones/{zone}/machineTypes/{MACHINE_TYPE}"))
        .set_labels(names.labels())
        .set_tags(Tags::new().set_items([names.nats_vm.clone()]))
        .set_disks([boot, data])
        // No access config: no external IP.
        .set_network_interfaces([
            NetworkInterface::new().set_network(format!("global/networks/{}", s.network))
        ])
        .set_service_accounts([ServiceAccount::new()
            .set_email(names.service_account_email(&s.project))
            .set_scopes([SCOPE])])
        .set_metadata(
            Metadata::new().set_items([
                Items::new()
                    .set_key("startup-script")
                    .set_value(startup_script(
                        &s.project,
                        &names.nats_auth_secret,
                        &names.env,
                    )),
                Items::new()
                    .set_key("google-logging-enabled")
                    .set_value("true"),
            ]),
        )
}

fn status(instance: &Instance) -> String {
    instance
        .status
        .as_ref()
        .and_then(|s| s.name())
        .unwrap_or("UNKNOWN")
        .to_string()
}

fn internal_ip(instance: &Instance) -> Option<&str> {
    instance
        .network_interfaces
        .first()?
        .network_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
}

fn publish(out: &Outputs, instance: &Instance) {
    if let Some(ip) = internal_ip(instance) {
        let url = format!("nats://{ip}:{NATS_PORT}");
        out.update(|v| v.nats_url = Some(url));
    }
}

fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

fn metadata_value<'a>(instance: &'a Instance, key: &str) -> Option<&'a str> {
    instance
        .metadata
        .as_ref()?
        .items
        .iter()
        .find(|i| i.key.as_deref() == Some(key))?
        .value
        .as_deref()
}

/// What differs from the wanted VM in what chatctl manages (each needs a new VM).
fn differences(ctx: &Ctx, found: &Instance) -> Vec<Change> {
    let want = desired(ctx);
    let mut changes = Vec::new();
    let machine = found.machine_type.as_deref().map(last_segment);
    if machine != Some(MACHINE_TYPE) {
        changes.push(Change {
            path: "machineType".into(),
            from: machine.unwrap_or("none").to_string().into(),
            to: MACHINE_TYPE.into(),
        });
    }
    let external = found
        .network_interfaces
        .iter()
        .any(|nic| !nic.access_configs.is_empty());
    if external {
        changes.push(Change {
            path: "networkInterfaces[0].accessConfigs".into(),
            from: "an external IP".into(),
            to: "none (no external IP)".into(),
        });
    }
    let key = "startup-script";
    if metadata_value(found, key) != metadata_value(&want, key) {
        changes.push(Change {
            path: format!("metadata.{key}"),
            from: "another script".into(),
            to: "chatctl's NATS server script".into(),
        });
    }
    let data_attached = found
        .disks
        .iter()
        .any(|d| d.source.as_deref().map(last_segment) == Some(&ctx.settings.names.nats_disk));
    if !data_attached {
        changes.push(Change {
            path: "disks".into(),
            from: "without the data disk".into(),
            to: ctx.settings.names.nats_disk.clone().into(),
        });
    }
    changes
}

impl Resource for NatsVm {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[
            Edge::Ready(apis::ID),
            Edge::Ready(service_account::ID),
            Edge::Ready(nats_disk::ID),
        ]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["compute.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.nats_vm.clone()
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        (!super::leftovers::provisions_nats(ctx)).then(|| super::leftovers::bus_reason(ctx))
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let s = &ctx.settings;
        let name = &s.names.nats_vm;
        let found = api::get_instance(
            &ctx.google,
            &zone(&s.region),
            name,
            super::leftovers::lookup(ctx),
        )
        .await?;
        if !super::leftovers::provisions_nats(ctx) {
            let found = found.map(|i| {
                let state = status(&i);
                (i.labels, state)
            });
            return Ok(super::leftovers::unused(
                ctx,
                name,
                super::leftovers::bus_reason(ctx),
                found,
            ));
        }
        let Some(instance) = found else {
            if let Some(reason) = super::missing_network(ctx, out).await? {
                return Ok(Planned::new(name, "absent", Action::Conflict { reason }));
            }
            return Ok(Planned::new(name, "absent", Action::Create));
        };
        let state = status(&instance);
        if !owned(&instance.labels, ctx) {
            let reason = not_ours("Compute Engine instance", name, ctx);
            return Ok(Planned::new(name, state, Action::Conflict { reason }));
        }
        publish(out, &instance);
        let action = match state.as_str() {
            "PROVISIONING" | "STAGING" => Action::Resume {
                state: state.clone(),
            },
            "RUNNING" => Action::replace_if_any(differences(ctx, &instance)),
            other => Action::Conflict {
                reason: format!(
                    "Compute Engine instance {name} is {other}: start it (`gcloud compute \
                     instances start {name} --zone {}`) or wait until its deletion ends, then \
                     run `chatctl up` again",
                    zone(&s.region)
                ),
            },
        };
        Ok(Planned::new(name, state, action))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let s = &ctx.settings;
        let (zone, name) = (zone(&s.region), &s.names.nats_vm);
        match &planned.action {
            Action::Replace { .. } => {
                // The data disk is kept (autoDelete false): the new VM attaches it again.
                progress.detail(Phase::Updating, "replacing the VM (the data disk is kept)");
                api::delete_instance(&ctx.google, &zone, name).await?;
                create(ctx, &zone, name, progress).await?;
            }
            Action::Create => create(ctx, &zone, name, progress).await?,
            Action::Resume { .. } => {}
            Action::NoOp | Action::Update { .. } | Action::Delete | Action::Conflict { .. } => {
                return Ok(());
            }
        }
        progress.detail(Phase::Waiting, "waiting for the VM to be RUNNING");
        let instance = ctx
            .google
            .waiting
            .until(&format!("instance {name} to be RUNNING"), || async {
                match api::get_instance(&ctx.google, &zone, name, Read::Strict).await? {
                    Some(i) if status(&i) == "RUNNING" => Ok(Some(i)),
                    Some(_) => Ok(None),
                    None => {
                        anyhow::bail!("instance {name} disappeared while chatctl waited for it")
                    }
                }
            })
            .await?;
        publish(out, &instance);
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
        let (zone, name) = (zone(&s.region), &s.names.nats_vm);
        let found = api::get_instance(&ctx.google, &zone, name, Read::IfPermitted).await?;
        let what = "Compute Engine instance";
        if ours_to_delete(found, |i| &i.labels, what, name, ctx)?.is_none() {
            return Ok(false);
        }
        progress.phase(Phase::Deleting);
        api::delete_instance(&ctx.google, &zone, name).await
    }
}

/// Creates the VM; a name taken meanwhile is adopted only if ours.
async fn create(ctx: &Ctx, zone: &str, name: &str, progress: &Progress<'_>) -> anyhow::Result<()> {
    progress.phase(Phase::Creating);
    if !api::insert_instance(&ctx.google, zone, desired(ctx)).await? {
        let found = api::get_instance(&ctx.google, zone, name, Read::Strict).await?;
        if !found.is_some_and(|i| owned(&i.labels, ctx)) {
            anyhow::bail!("{}", not_ours("Compute Engine instance", name, ctx));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_is_one_google_has_in_the_region() {
        assert_eq!(zone("us-central1"), "us-central1-a");
        assert_eq!(zone("europe-west1"), "europe-west1-b");
        assert_eq!(zone("us-east1"), "us-east1-b");
    }

    #[test]
    fn the_startup_script_names_the_secret_but_holds_no_password() {
        let script = startup_script("p-1", "chat-nats-auth-dev", "dev");
        assert!(script.contains("secrets/chat-nats-auth-dev/versions/latest:access"));
        assert!(script.contains("-js -sd /data/jetstream"));
        assert!(!script.contains("password: chat"), "no literal password");
    }
}
