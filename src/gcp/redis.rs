//! Memorystore for Redis v1: get, create, update and delete an instance, waiting for each
//! operation.

use google_cloud_redis_v1::model::Instance;
use google_cloud_wkt::FieldMask;

use super::errors::Kind;
use super::send_unless;
use crate::context::Ctx;

pub const ROLE: &str = "roles/redis.admin";

pub fn instance_name(ctx: &Ctx, id: &str) -> String {
    format!("{}/instances/{id}", ctx.parent())
}

pub async fn get(ctx: &Ctx, id: &str) -> anyhow::Result<Option<Instance>> {
    let name = instance_name(ctx, id);
    let what = format!("read Redis instance {id}");
    send_unless(ctx, ctx.call(&what, ROLE), Kind::NotFound, || {
        ctx.clients.redis.get_instance().set_name(&name).send()
    })
    .await
}

/// Creates the instance and waits; Ok(false) when the id is already taken. `accepted` runs
/// once the create request has been accepted (the instance is then visible as CREATING).
pub async fn create(
    ctx: &Ctx,
    id: &str,
    instance: Instance,
    accepted: impl FnOnce(),
) -> anyhow::Result<bool> {
    let what = format!("create Redis instance {id}");
    super::send_and_wait(
        ctx,
        ctx.call(&what, ROLE),
        Some(Kind::AlreadyExists),
        || {
            ctx.clients
                .redis
                .create_instance()
                .set_parent(ctx.parent())
                .set_instance_id(id)
                .set_instance(instance.clone())
                .send()
        },
        |op| ctx.clients.redis.get_operation().set_name(op).send(),
        accepted,
    )
    .await
}

pub async fn update(ctx: &Ctx, instance: Instance, fields: Vec<String>) -> anyhow::Result<()> {
    let what = format!("update Redis instance {}", instance.name);
    super::send_and_wait(
        ctx,
        ctx.call(&what, ROLE),
        None,
        || {
            ctx.clients
                .redis
                .update_instance()
                .set_update_mask(FieldMask::default().set_paths(fields.clone()))
                .set_instance(instance.clone())
                .send()
        },
        |op| ctx.clients.redis.get_operation().set_name(op).send(),
        || {},
    )
    .await
    .map(drop)
}

/// Deletes and waits; Ok(false) when it was already gone.
pub async fn delete(ctx: &Ctx, id: &str) -> anyhow::Result<bool> {
    let name = instance_name(ctx, id);
    let what = format!("delete Redis instance {id}");
    let call = ctx.call(&what, ROLE);
    super::send_and_wait(
        ctx,
        call,
        Some(Kind::NotFound),
        || ctx.clients.redis.delete_instance().set_name(&name).send(),
        |op| ctx.clients.redis.get_operation().set_name(op).send(),
        || {},
    )
    .await
}
