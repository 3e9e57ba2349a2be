//! Serverless VPC Access v1: get, list, create, patch and delete connectors, waiting for each
//! operation. The crate has no update call, so `patch` goes over JSON (`super::rest`) and waits
//! through the crate's GetOperation like the others.

use google_cloud_longrunning::model::Operation;
use google_cloud_vpcaccess_v1::model::Connector;

use super::Google;
use super::errors::{Kind, explain};
use super::send_unless;

pub const ROLE: &str = "roles/vpcaccess.admin";
/// Google's endpoint of Serverless VPC Access.
pub const ENDPOINT: &str = "https://vpcaccess.googleapis.com";
/// The fields `connectors.patch` changes in place; any other difference is a replace.
pub const UPDATABLE: &[&str] = &["minInstances", "maxInstances", "machineType"];

pub fn connector_name(google: &Google, id: &str) -> String {
    format!("{}/connectors/{id}", google.parent())
}

pub async fn get(google: &Google, id: &str) -> anyhow::Result<Option<Connector>> {
    let name = connector_name(google, id);
    let what = format!("read connector {id}");
    send_unless(google, google.call(&what, ROLE), Kind::NotFound, || {
        google
            .clients
            .vpcaccess
            .get_connector()
            .set_name(&name)
            .send()
    })
    .await
}

/// Every connector in the region (to find a free /28 and to catch clashes before creating).
pub async fn list(google: &Google) -> anyhow::Result<Vec<Connector>> {
    let what = "list connectors";
    let mut all = Vec::new();
    let mut token = String::new();
    for _page in 0..100 {
        let page = google
            .retry()
            .run(what, || {
                google
                    .clients
                    .vpcaccess
                    .list_connectors()
                    .set_parent(google.parent())
                    .set_page_token(&token)
                    .send()
            })
            .await
            .map_err(|e| explain(e, google.call(what, "roles/vpcaccess.viewer")))?;
        all.extend(page.connectors);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(all)
}

/// Creates the connector and waits; Ok(false) when the id is already taken.
pub async fn create(google: &Google, id: &str, connector: Connector) -> anyhow::Result<bool> {
    let what = format!("create connector {id}");
    super::send_and_wait(
        google,
        google.call(&what, ROLE),
        Some(Kind::AlreadyExists),
        || {
            google
                .clients
                .vpcaccess
                .create_connector()
                .set_parent(google.parent())
                .set_connector_id(id)
                .set_connector(connector.clone())
                .send()
        },
        |op| google.clients.vpcaccess.get_operation().set_name(op).send(),
        || {},
    )
    .await
}

/// Deletes and waits; Ok(false) when it was already gone.
pub async fn delete(google: &Google, id: &str) -> anyhow::Result<bool> {
    let name = connector_name(google, id);
    let what = format!("delete connector {id}");
    let call = google.call(&what, ROLE);
    super::send_and_wait(
        google,
        call,
        Some(Kind::NotFound),
        || {
            google
                .clients
                .vpcaccess
                .delete_connector()
                .set_name(&name)
                .send()
        },
        |op| google.clients.vpcaccess.get_operation().set_name(op).send(),
        || {},
    )
    .await
}

/// Changes the `mask` fields (of [`UPDATABLE`]) of connector `id` to their values in `body`
/// (a partial Connector in JSON), in place, and waits.
pub async fn patch(
    google: &Google,
    id: &str,
    body: &serde_json::Value,
    mask: &[&str],
) -> anyhow::Result<()> {
    let name = connector_name(google, id);
    let what = format!("update connector {id} ({})", mask.join(", "));
    let call = google.call(&what, ROLE);
    let rest = &google.clients.vpcaccess_json;
    let answer = super::send(google, call, || {
        rest.send(
            rest.request(reqwest::Method::PATCH, &format!("/v1/{name}"))
                .query(&[("updateMask", mask.join(","))])
                .json(&body),
        )
    })
    .await?;
    let op: Operation = serde_json::from_value(answer)
        .map_err(|e| anyhow::anyhow!("{what}: the answer is not an operation: {e}"))?;
    google
        .waiting
        .operation(op, call, |op| {
            google.clients.vpcaccess.get_operation().set_name(op).send()
        })
        .await?;
    Ok(())
}
