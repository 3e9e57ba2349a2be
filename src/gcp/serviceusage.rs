//! Service Usage v1: which APIs are enabled, and enabling the missing ones in one batch.

use google_cloud_api_serviceusage_v1::model::State;

use crate::context::Ctx;

const ROLE: &str = "roles/serviceusage.serviceUsageAdmin";

/// The services of `wanted` that are not enabled in the project.
pub async fn disabled(ctx: &Ctx, wanted: &[&str]) -> anyhow::Result<Vec<String>> {
    let parent = format!("projects/{}", ctx.project());
    let names: Vec<String> = wanted
        .iter()
        .map(|s| format!("{parent}/services/{s}"))
        .collect();
    let call = ctx.call(
        "read which APIs are enabled",
        "roles/serviceusage.serviceUsageViewer",
    );
    let response = ctx
        .retry()
        .run(call.what, || {
            ctx.clients
                .serviceusage
                .batch_get_services()
                .set_parent(&parent)
                .set_names(names.clone())
                .send()
        })
        .await
        .map_err(|e| crate::gcp::errors::explain(e, call))?;
    let enabled: Vec<&str> = response
        .services
        .iter()
        .filter(|s| s.state == State::Enabled)
        .filter_map(|s| s.name.rsplit('/').next())
        .collect();
    Ok(wanted
        .iter()
        .filter(|w| !enabled.contains(w))
        .map(|s| s.to_string())
        .collect())
}

/// Enables `services` (at most 20, atomically) and waits for the operation.
pub async fn enable(ctx: &Ctx, services: &[String]) -> anyhow::Result<String> {
    let parent = format!("projects/{}", ctx.project());
    let what = format!("enable {}", services.join(", "));
    let call = ctx.call(&what, ROLE);
    let op = ctx
        .retry()
        .run(call.what, || {
            ctx.clients
                .serviceusage
                .batch_enable_services()
                .set_parent(&parent)
                .set_service_ids(services.to_vec())
                .send()
        })
        .await
        .map_err(|e| crate::gcp::errors::explain(e, call))?;
    let name = op.name.clone();
    ctx.waiting
        .operation(op, call, |name| {
            ctx.clients
                .serviceusage
                .get_operation()
                .set_name(name)
                .send()
        })
        .await?;
    Ok(name)
}
