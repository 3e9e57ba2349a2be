//! Compute Engine v1 for the NATS server of `--bus nats`: its instance and data disk (zonal),
//! its firewall rule (global), each read, created and deleted, and the zone or global operation
//! of every change waited for (polled within the run's deadline, stopped by Ctrl-C, its error
//! explained).

use google_cloud_compute_v1::model::{Disk, Firewall, Instance, Operation, operation};
use google_cloud_gax::error::Error as GaxError;

use super::Google;
use super::Read;
use super::errors::{Call, Kind, classify, explain};

/// The predefined role that manages instances and disks.
pub const INSTANCE_ROLE: &str = "roles/compute.instanceAdmin.v1";
/// The predefined role that manages firewall rules.
pub const FIREWALL_ROLE: &str = "roles/compute.securityAdmin";

/// Where an operation lives, to read it back.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Zone(&'a str),
    Global,
}

/// Waits until the operation `op` is DONE; its error, if any, becomes ours.
async fn wait(
    google: &Google,
    call: Call<'_>,
    op: Operation,
    scope: Scope<'_>,
) -> anyhow::Result<()> {
    let name = op.name.clone().unwrap_or_default();
    let mut current = op;
    let done = |op: &Operation| op.status == Some(operation::Status::Done);
    if !done(&current) {
        current = google
            .waiting
            .until(call.what, || async {
                let op = super::send(google, call, || read_operation(google, &name, scope)).await?;
                Ok(done(&op).then_some(op))
            })
            .await?;
    }
    let errors = current.error.map(|e| e.errors).unwrap_or_default();
    if errors.is_empty() {
        return Ok(());
    }
    let details: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.code.as_deref().unwrap_or("ERROR"),
                e.message.as_deref().unwrap_or("no message")
            )
        })
        .collect();
    anyhow::bail!(
        "{} failed in operation {name}: {}\n  → fix the cause, then run `chatctl up` again",
        call.what,
        details.join("; ")
    )
}

async fn read_operation(
    google: &Google,
    name: &str,
    scope: Scope<'_>,
) -> Result<Operation, GaxError> {
    match scope {
        Scope::Zone(zone) => {
            google
                .clients
                .zone_operations
                .get()
                .set_project(google.project())
                .set_zone(zone)
                .set_operation(name)
                .send()
                .await
        }
        Scope::Global => {
            google
                .clients
                .global_operations
                .get()
                .set_project(google.project())
                .set_operation(name)
                .send()
                .await
        }
    }
}

/// Sends a change that answers with an operation and waits for it. Ok(false) when the call
/// failed with `absent` (ALREADY_EXISTS for an insert: a retried insert that went through
/// answers so too; NOT_FOUND for a delete: already gone).
async fn change<F, Fut>(
    google: &Google,
    call: Call<'_>,
    absent: Kind,
    scope: Scope<'_>,
    send: F,
) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Operation, GaxError>>,
{
    let op = match google.retry().run(call.what, send).await {
        Ok(op) => op,
        Err(e) if classify(&e) == absent => return Ok(false),
        Err(e) => return Err(explain(e, call)),
    };
    wait(google, call, op, scope).await?;
    Ok(true)
}

/// The read, insert and delete of a zonal collection (instances, disks): the same calls,
/// through each collection's own client and name setter.
macro_rules! zonal {
    ($kind:literal, $model:ty, $client:ident, $set_name:ident, $get:ident, $insert:ident, $delete:ident) => {
        #[doc = concat!("Reads the ", $kind, "; None when absent (or, `IfPermitted`, unreadable).")]
        pub async fn $get(
            google: &Google,
            zone: &str,
            name: &str,
            read: Read,
        ) -> anyhow::Result<Option<$model>> {
            let what = format!("read {} {name} in {zone}", $kind);
            let client = &google.clients.$client;
            super::read(google, google.call(&what, INSTANCE_ROLE), read, || {
                client
                    .get()
                    .set_project(google.project())
                    .set_zone(zone)
                    .$set_name(name)
                    .send()
            })
            .await
        }

        #[doc = concat!("Creates the ", $kind, " and waits for its operation; Ok(false) when the name is taken.")]
        pub async fn $insert(google: &Google, zone: &str, body: $model) -> anyhow::Result<bool> {
            let name = body.name.clone().unwrap_or_default();
            let what = format!("create {} {name} in {zone}", $kind);
            let client = &google.clients.$client;
            let call = google.call(&what, INSTANCE_ROLE);
            change(google, call, Kind::AlreadyExists, Scope::Zone(zone), || {
                client
                    .insert()
                    .set_project(google.project())
                    .set_zone(zone)
                    .set_body(body.clone())
                    .send()
            })
            .await
        }

        #[doc = concat!("Deletes the ", $kind, " and waits; Ok(false) when it was already gone.")]
        pub async fn $delete(google: &Google, zone: &str, name: &str) -> anyhow::Result<bool> {
            let what = format!("delete {} {name} in {zone}", $kind);
            let client = &google.clients.$client;
            let call = google.call(&what, INSTANCE_ROLE);
            change(google, call, Kind::NotFound, Scope::Zone(zone), || {
                client
                    .delete()
                    .set_project(google.project())
                    .set_zone(zone)
                    .$set_name(name)
                    .send()
            })
            .await
        }
    };
}

zonal!(
    "instance",
    Instance,
    instances,
    set_instance,
    get_instance,
    insert_instance,
    delete_instance
);
zonal!(
    "disk",
    Disk,
    disks,
    set_disk,
    get_disk,
    insert_disk,
    delete_disk
);

pub async fn get_firewall(
    google: &Google,
    name: &str,
    read: Read,
) -> anyhow::Result<Option<Firewall>> {
    let what = format!("read firewall rule {name}");
    let client = &google.clients.firewalls;
    super::read(google, google.call(&what, FIREWALL_ROLE), read, || {
        client
            .get()
            .set_project(google.project())
            .set_firewall(name)
            .send()
    })
    .await
}

/// Creates the rule and waits; Ok(false) when the name is taken.
pub async fn insert_firewall(google: &Google, rule: Firewall) -> anyhow::Result<bool> {
    let name = rule.name.clone().unwrap_or_default();
    let what = format!("create firewall rule {name}");
    let client = &google.clients.firewalls;
    change(
        google,
        google.call(&what, FIREWALL_ROLE),
        Kind::AlreadyExists,
        Scope::Global,
        || {
            client
                .insert()
                .set_project(google.project())
                .set_body(rule.clone())
                .send()
        },
    )
    .await
}

/// Replaces the rule in place (`firewalls.update`: what it admits changes without a moment
/// of admitting nothing) and waits.
pub async fn update_firewall(google: &Google, rule: Firewall) -> anyhow::Result<()> {
    let name = rule.name.clone().unwrap_or_default();
    let what = format!("update firewall rule {name}");
    let client = &google.clients.firewalls;
    change(
        google,
        google.call(&what, FIREWALL_ROLE),
        Kind::NotFound,
        Scope::Global,
        || {
            client
                .update()
                .set_project(google.project())
                .set_firewall(&name)
                .set_body(rule.clone())
                .send()
        },
    )
    .await
    .and_then(|updated| {
        updated.then_some(()).ok_or_else(|| {
            anyhow::anyhow!(
                "firewall rule {name} disappeared while chatctl updated it: run `chatctl up` again"
            )
        })
    })
}

/// Deletes the rule and waits; Ok(false) when it was already gone.
pub async fn delete_firewall(google: &Google, name: &str) -> anyhow::Result<bool> {
    let what = format!("delete firewall rule {name}");
    let client = &google.clients.firewalls;
    change(
        google,
        google.call(&what, FIREWALL_ROLE),
        Kind::NotFound,
        Scope::Global,
        || {
            client
                .delete()
                .set_project(google.project())
                .set_firewall(name)
                .send()
        },
    )
    .await
}
