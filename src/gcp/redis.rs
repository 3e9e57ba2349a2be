//! Memorystore for Redis v1: get, create, update and delete an instance, waiting for each
//! operation.

use google_cloud_redis_v1::model::Instance;
use google_cloud_wkt::FieldMask;

use super::Google;
use super::errors::Kind;
use super::send_unless;

pub const ROLE: &str = "roles/redis.admin";

pub fn instance_name(google: &Google, id: &str) -> String {
    format!("{}/instances/{id}", google.parent())
}

pub async fn get(google: &Google, id: &str) -> anyhow::Result<Option<Instance>> {
    let name = instance_name(google, id);
    let what = format!("read Redis instance {id}");
    send_unless(google, google.call(&what, ROLE), Kind::NotFound, || {
        google.clients.redis.get_instance().set_name(&name).send()
    })
    .await
}

/// Creates the instance and waits; Ok(false) when the id is already taken. `accepted` runs
/// once the create request has been accepted (the instance is then visible as CREATING).
pub async fn create(
    google: &Google,
    id: &str,
    instance: Instance,
    accepted: impl FnOnce(),
) -> anyhow::Result<bool> {
    let what = format!("create Redis instance {id}");
    super::send_and_wait(
        google,
        google.call(&what, ROLE),
        Some(Kind::AlreadyExists),
        || {
            google
                .clients
                .redis
                .create_instance()
                .set_parent(google.parent())
                .set_instance_id(id)
                .set_instance(instance.clone())
                .send()
        },
        |op| google.clients.redis.get_operation().set_name(op).send(),
        accepted,
    )
    .await
}

pub async fn update(
    google: &Google,
    instance: Instance,
    fields: Vec<String>,
) -> anyhow::Result<()> {
    let what = format!("update Redis instance {}", instance.name);
    super::send_and_wait(
        google,
        google.call(&what, ROLE),
        None,
        || {
            google
                .clients
                .redis
                .update_instance()
                .set_update_mask(FieldMask::default().set_paths(fields.clone()))
                .set_instance(instance.clone())
                .send()
        },
        |op| google.clients.redis.get_operation().set_name(op).send(),
        || {},
    )
    .await
    .map(drop)
}

/// Deletes and waits; Ok(false) when it was already gone.
pub async fn delete(google: &Google, id: &str) -> anyhow::Result<bool> {
    let name = instance_name(google, id);
    let what = format!("delete Redis instance {id}");
    let call = google.call(&what, ROLE);
    super::send_and_wait(
        google,
        call,
        Some(Kind::NotFound),
        || {
            google
                .clients
                .redis
                .delete_instance()
                .set_name(&name)
                .send()
        },
        |op| google.clients.redis.get_operation().set_name(op).send(),
        || {},
    )
    .await
}

/// The instance's AUTH string (empty when AUTH is off). Never log or show it.
pub async fn auth_string(google: &Google, id: &str) -> anyhow::Result<Option<String>> {
    let name = instance_name(google, id);
    let what = format!("read the AUTH string of Redis instance {id}");
    let found = send_unless(google, google.call(&what, ROLE), Kind::NotFound, || {
        google
            .clients
            .redis
            .get_instance_auth_string()
            .set_name(&name)
            .send()
    })
    .await?;
    Ok(found.map(|a| a.auth_string).filter(|auth| !auth.is_empty()))
}
