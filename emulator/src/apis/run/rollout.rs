//! The end of a Cloud Run rollout, after the modelled latency: the image check, the runtime
//! hook (`service_ready`, awaited with no lock held), then the Ready conditions, URLs and
//! traffic statuses, or the failed revision and its operation error.

use serde_json::{Value, json};

use super::SERVICE_TYPE;
use super::model::{condition, generation_of, service_info};
use super::references::{missing_image, secret_env};
use super::service::Service;
use crate::apis::logging::model::{LogEntry, revision_resource};
use crate::error::ApiError;
use crate::ops;
use crate::state::Emu;
use crate::world::World;

/// Path parts of a service route.
pub(super) struct Target {
    pub project: String,
    pub location: String,
    pub id: String,
    pub name: String,
}

/// Short region codes used in `*.a.run.app` URLs.
fn region_code(region: &str) -> String {
    const CODES: &[(&str, &str)] = &[
        ("us-central1", "uc"),
        ("us-east1", "ue"),
        ("us-east4", "uk"),
        ("us-west1", "uw"),
        ("europe-west1", "ew"),
        ("europe-west2", "nw"),
        ("europe-west3", "ey"),
        ("europe-west4", "ez"),
        ("asia-east1", "de"),
        ("asia-northeast1", "an"),
    ];
    CODES.iter().find(|(r, _)| *r == region).map_or_else(
        || region.split('-').filter_map(|p| p.chars().next()).collect(),
        |(_, c)| c.to_string(),
    )
}

/// The service's URLs: `https://ID-HASH-CODE.a.run.app` (stable per service) and, when the
/// DNS label fits, `https://ID-NUMBER.REGION.run.app`.
fn default_urls(t: &Target, number: u64) -> Vec<String> {
    let hash = t.name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut n = hash;
    let hash: String = (0..10)
        .map(|_| {
            let c = alphabet[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect();
    let mut urls = vec![format!(
        "https://{}-{hash}-{}.a.run.app",
        t.id,
        region_code(&t.location)
    )];
    let label = format!("{}-{number}", t.id);
    if label.len() <= 63 {
        urls.push(format!("https://{label}.{}.run.app", t.location));
    }
    urls
}

/// Ends a rollout: the image must exist, then the runtime hook starts the revision.
pub(super) async fn rollout(emu: Emu, t: Target, op_name: String, generation: i64) {
    let info = emu.world(|w| {
        let service = match w.run.get(&t.name) {
            Ok(stored) if generation_of(&stored.service) == generation => stored.service.clone(),
            // Deleted or superseded by a newer update: this operation ends with what is there.
            Ok(stored) => {
                let current = ops::any(SERVICE_TYPE, &stored.service);
                w.operations.finish(&op_name, Ok(current));
                return None;
            }
            Err(e) => {
                w.operations.finish(&op_name, Err(e));
                return None;
            }
        };
        if let Some(image) = missing_image(w, &service) {
            let message = format!(
                "Revision '{}' is not ready and cannot serve traffic. Image '{image}' not found.",
                service.latest_created_revision
            );
            fail(
                w,
                &t.name,
                &op_name,
                "CONTAINER_MISSING",
                ApiError::failed_precondition(message),
            );
            return None;
        }
        let mut info = service_info(&t.project, &t.location, &t.id, &service);
        // The revision gets its secrets' values at start, as Cloud Run injects them.
        match secret_env(w, &t.project, &service) {
            Ok(values) => info.env.extend(values),
            Err(error) => {
                fail(w, &t.name, &op_name, "SECRETS_ACCESS_CHECK_FAILED", error);
                return None;
            }
        }
        info.public = w.run.get(&t.name).is_ok_and(|s| s.is_public());
        Some(info)
    });
    let Some(info) = info else {
        return;
    };
    let hooked = emu.runtime().service_ready(&info).await;
    emu.world(|w| {
        let number = w.projects.get(&t.project).map_or(0, |p| p.number);
        let current = w.run.get(&t.name).map(|s| generation_of(&s.service));
        if current.as_ref().ok() != Some(&generation) {
            let result = w
                .run
                .get(&t.name)
                .map(|s| ops::any(SERVICE_TYPE, &s.service));
            w.operations.finish(&op_name, result);
            return;
        }
        match hooked {
            Ok(url) => {
                let urls = url.map_or_else(|| default_urls(&t, number), |u| vec![u]);
                let Ok(stored) = w.run.get_mut(&t.name) else {
                    return;
                };
                mark_ready(&mut stored.service, urls);
                let done = ops::any(SERVICE_TYPE, &stored.service);
                let started = startup_entries(&t, &stored.service, info.container_port);
                w.operations.finish(&op_name, Ok(done));
                w.logging.write(started);
            }
            Err(message) => {
                let error = ApiError::internal(format!(
                    "Revision '{}' is not ready and cannot serve traffic. The runtime could not start it: {message}",
                    info.service_id
                ));
                fail(w, &t.name, &op_name, "INTERNAL", error);
            }
        }
    });
}

/// What Cloud Run logs (`run.googleapis.com/varlog/system`) when a revision's first instance
/// starts: the start and the passed startup probe.
fn startup_entries(t: &Target, service: &Service, port: u16) -> Vec<LogEntry> {
    let revision = service.latest_created_revision.clone();
    let resource = revision_resource(&t.project, &t.location, &t.id, &revision);
    let container = service
        .template
        .as_ref()
        .and_then(|tpl| tpl.containers.first())
        .map(|c| c.name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| t.id.clone());
    let system = |severity: &str, text: String| {
        LogEntry::text(
            &t.project,
            "run.googleapis.com/varlog/system",
            resource.clone(),
            severity,
            &text,
        )
    };
    vec![
        system(
            "INFO",
            "Starting new instance. Reason: DEPLOYMENT - Instance started due to traffic shifting between revisions.".to_string(),
        ),
        system(
            "INFO",
            format!(
                "Default STARTUP TCP probe succeeded after 1 attempt for container \"{container}\" on port {port}."
            ),
        ),
    ]
}

fn mark_ready(service: &mut Service, urls: Vec<String>) {
    let ok = |kind: &str| condition(kind, "CONDITION_SUCCEEDED", None, "");
    service.latest_ready_revision = service.latest_created_revision.clone();
    service.terminal_condition = Some(ok("Ready"));
    service.conditions = vec![ok("Ready"), ok("ConfigurationsReady"), ok("RoutesReady")];
    service.observed_generation = service.generation.clone();
    service.reconciling = false;
    service.uri = urls.first().cloned().unwrap_or_default();
    service.urls = urls;
    let latest = service.latest_ready_revision.clone();
    service.traffic_statuses = service
        .traffic
        .iter()
        .map(|target| {
            let mut status = target.clone();
            if status.get("type").and_then(Value::as_str)
                == Some("TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST")
                && status.get("revision").is_none()
            {
                status["revision"] = json!(latest);
            }
            status
        })
        .collect();
}

/// The revision failed: the service stays (with its last ready revision), the operation fails.
fn fail(w: &mut World, name: &str, op_name: &str, reason: &str, error: ApiError) {
    if let Ok(stored) = w.run.get_mut(name) {
        let s = &mut stored.service;
        let failed = condition("Ready", "CONDITION_FAILED", Some(reason), &error.message);
        s.terminal_condition = Some(failed.clone());
        s.conditions = vec![
            failed,
            condition(
                "ConfigurationsReady",
                "CONDITION_FAILED",
                Some(reason),
                &error.message,
            ),
            condition(
                "RoutesReady",
                "CONDITION_FAILED",
                Some("REVISION_FAILED"),
                "",
            ),
        ];
        s.observed_generation = s.generation.clone();
        s.reconciling = false;
    }
    w.operations.finish(op_name, Err(error));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_stable_per_service_and_carry_the_region() {
        let t = Target {
            project: "p1".into(),
            location: "us-central1".into(),
            id: "chat".into(),
            name: "projects/p1/locations/us-central1/services/chat".into(),
        };
        let urls = default_urls(&t, 123456789012);
        assert_eq!(urls, default_urls(&t, 123456789012));
        assert!(urls[0].starts_with("https://chat-") && urls[0].ends_with("-uc.a.run.app"));
        assert_eq!(urls[1], "https://chat-123456789012.us-central1.run.app");
    }
}
