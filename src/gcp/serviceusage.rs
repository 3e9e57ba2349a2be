//! Service Usage v1: which APIs are enabled, and enabling the missing ones in one batch.

use google_cloud_api_serviceusage_v1::model::State;

use super::Google;

const ROLE: &str = "roles/serviceusage.serviceUsageAdmin";

/// The services of `wanted` that are not enabled in the project.
pub async fn disabled(google: &Google, wanted: &[&str]) -> anyhow::Result<Vec<String>> {
    let parent = format!("projects/{}", google.project());
    let names: Vec<String> = wanted
        .iter()
        .map(|s| format!("{parent}/services/{s}"))
        .collect();
    let call = google.call(
        "read which APIs are enabled",
        "roles/serviceusage.serviceUsageViewer",
    );
    let response = google
        .retry()
        .run(call.what, || {
            google
                .clients
                .serviceusage
                .batch_get_services()
                .set_parent(&parent)
                .set_names(names.clone())
                .send()
        })
        .await
        .map_err(|e| crate::gcp::errors::explain(e, call))?;
    // Service names are `projects/NUMBER/services/NAME`: the target's number tells its
    // SERVICE_DISABLED errors from another quota project's (`retry::ForeignQuota`).
    if let Some(foreign) = &google.retry().foreign_quota
        && let Some(number) = response
            .services
            .first()
            .and_then(|s| s.name.split('/').nth(1))
    {
        let _ = foreign.target_number.set(number.to_string());
    }
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
pub async fn enable(google: &Google, services: &[String]) -> anyhow::Result<String> {
    let parent = format!("projects/{}", google.project());
    let what = format!("enable {}", services.join(", "));
    let call = google.call(&what, ROLE);
    let op = google
        .retry()
        .run(call.what, || {
            google
                .clients
                .serviceusage
                .batch_enable_services()
                .set_parent(&parent)
                .set_service_ids(services.to_vec())
                .send()
        })
        .await
        .map_err(|e| crate::gcp::errors::explain(e, call))?;
    let name = op.name.clone();
    google
        .waiting
        .operation(op, call, |name| {
            google
                .clients
                .serviceusage
                .get_operation()
                .set_name(name)
                .send()
        })
        .await?;
    Ok(name)
}

/// With another quota project, learns the target project's number (from the name Service
/// Usage gives one of its services), so that its own SERVICE_DISABLED errors are told from the
/// quota project's; nothing otherwise, or once it is known. A failure leaves it unknown.
pub async fn learn_target_number(google: &Google) {
    let known = google
        .retry()
        .foreign_quota
        .as_ref()
        .is_none_or(|f| f.target_number.get().is_some());
    if !known {
        let _ = disabled(google, &["serviceusage.googleapis.com"]).await;
    }
}
