//! Serverless VPC Access v1: get, list, create and delete connectors, waiting for each
//! operation. (Connectors cannot be updated through this client.)

use google_cloud_vpcaccess_v1::model::Connector;

use super::errors::{Kind, explain};
use super::send_unless;
use crate::context::Ctx;

pub const ROLE: &str = "roles/vpcaccess.admin";

pub fn connector_name(ctx: &Ctx, id: &str) -> String {
    format!("{}/connectors/{id}", ctx.parent())
}

pub async fn get(ctx: &Ctx, id: &str) -> anyhow::Result<Option<Connector>> {
    let name = connector_name(ctx, id);
    let what = format!("read connector {id}");
    send_unless(ctx, ctx.call(&what, ROLE), Kind::NotFound, || {
        ctx.clients.vpcaccess.get_connector().set_name(&name).send()
    })
    .await
}

/// Every connector in the region (to find a free /28 and to catch clashes before creating).
pub async fn list(ctx: &Ctx) -> anyhow::Result<Vec<Connector>> {
    let what = "list connectors";
    let mut all = Vec::new();
    let mut token = String::new();
    for _page in 0..100 {
        let page = ctx
            .retry()
            .run(what, || {
                ctx.clients
                    .vpcaccess
                    .list_connectors()
                    .set_parent(ctx.parent())
                    .set_page_token(&token)
                    .send()
            })
            .await
            .map_err(|e| explain(e, ctx.call(what, "roles/vpcaccess.viewer")))?;
        all.extend(page.connectors);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(all)
}

/// Creates the connector and waits; Ok(false) when the id is already taken.
pub async fn create(ctx: &Ctx, id: &str, connector: Connector) -> anyhow::Result<bool> {
    let what = format!("create connector {id}");
    super::send_and_wait(
        ctx,
        ctx.call(&what, ROLE),
        Some(Kind::AlreadyExists),
        || {
            ctx.clients
                .vpcaccess
                .create_connector()
                .set_parent(ctx.parent())
                .set_connector_id(id)
                .set_connector(connector.clone())
                .send()
        },
        |op| ctx.clients.vpcaccess.get_operation().set_name(op).send(),
        || {},
    )
    .await
}

/// Deletes and waits; Ok(false) when it was already gone.
pub async fn delete(ctx: &Ctx, id: &str) -> anyhow::Result<bool> {
    let name = connector_name(ctx, id);
    let what = format!("delete connector {id}");
    let call = ctx.call(&what, ROLE);
    super::send_and_wait(
        ctx,
        call,
        Some(Kind::NotFound),
        || {
            ctx.clients
                .vpcaccess
                .delete_connector()
                .set_name(&name)
                .send()
        },
        |op| ctx.clients.vpcaccess.get_operation().set_name(op).send(),
        || {},
    )
    .await
}
