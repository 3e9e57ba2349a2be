//! The HTTP surface of Service Usage v1; enablement state lives on the project
//! (`crate::projects`), so this module holds no store of its own.

use std::time::Duration;

use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ENUMS, SERVICE};
use crate::error::ApiError;
use crate::ops;
use crate::projects::{DEFAULT_NETWORK_LAG, ENABLE_PROPAGATION, Enablement, Project, SERVICES};
use crate::router::{Api, Call, Reply, paginate, row};
use crate::state::Emu;

/// How long an enable operation runs (real: seconds to a minute).
const ENABLE_LATENCY: Duration = Duration::from_secs(30);
const DISABLE_LATENCY: Duration = Duration::from_secs(10);
/// batchEnable takes at most 20 service IDs.
const MAX_BATCH: usize = 20;
const METADATA_TYPE: &str = "type.googleapis.com/google.api.serviceusage.v1.OperationMetadata";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::GET,
            "/v1/projects/{project}/services/{service}",
            "serviceusage.services.get",
            &[],
            |c| Box::pin(get(c)),
        )
        .needs("serviceusage.services.get"),
        row(
            Method::GET,
            "/v1/projects/{project}/services",
            "serviceusage.services.list",
            &["filter", "pageSize", "pageToken"],
            |c| Box::pin(list(c)),
        )
        .needs("serviceusage.services.list"),
        row(
            Method::GET,
            "/v1/projects/{project}/services:batchGet",
            "serviceusage.services.batchGet",
            &["names"],
            |c| Box::pin(batch_get(c)),
        )
        .needs("serviceusage.services.get"),
        row(
            Method::POST,
            "/v1/projects/{project}/services/{service}:enable",
            "serviceusage.services.enable",
            &[],
            |c| Box::pin(enable(c)),
        )
        .needs("serviceusage.services.enable"),
        row(
            Method::POST,
            "/v1/projects/{project}/services:batchEnable",
            "serviceusage.services.batchEnable",
            &[],
            |c| Box::pin(batch_enable(c)),
        )
        .needs("serviceusage.services.enable"),
        row(
            Method::POST,
            "/v1/projects/{project}/services/{service}:disable",
            "serviceusage.services.disable",
            &[],
            |c| Box::pin(disable(c)),
        )
        .needs("serviceusage.services.disable"),
    ],
};

fn unknown_services(names: &[&str]) -> ApiError {
    ApiError::permission_denied(format!(
        "Not found or permission denied for service(s): {}.",
        names.join(", ")
    ))
}

fn known(service: &str) -> bool {
    SERVICES.iter().any(|(name, _)| *name == service)
}

/// The Service JSON: named with the project NUMBER, as Google does.
fn service_json(project: &Project, service: &str, enforce: bool) -> Value {
    let title = crate::projects::service_title(service).unwrap_or(service);
    let state = if project.reported_enabled(service, enforce) {
        "ENABLED"
    } else {
        "DISABLED"
    };
    json!({
        "name": format!("projects/{}/services/{service}", project.number),
        "parent": format!("projects/{}", project.number),
        "state": state,
        "config": { "name": service, "title": title },
    })
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let service = call.param("service");
    if !known(service) {
        return Err(unknown_services(&[service]));
    }
    let enforce = call.emu.config().enforce_api_enablement;
    call.emu.world(|w| {
        let p = w.projects.ensure(call.param("project"))?;
        Ok(Reply::Json(service_json(p, service, enforce)))
    })
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let filter = call.query("filter").unwrap_or_default().replace(' ', "");
    let wanted = match filter.as_str() {
        "" => None,
        "state:ENABLED" => Some("ENABLED"),
        "state:DISABLED" => Some("DISABLED"),
        other => {
            return Err(ApiError::invalid_argument(format!(
                "Invalid filter \"{other}\": use state:ENABLED or state:DISABLED."
            )));
        }
    };
    let enforce = call.emu.config().enforce_api_enablement;
    let all = call.emu.world(|w| {
        let p = w.projects.ensure(call.param("project"))?;
        Ok::<_, ApiError>(
            SERVICES
                .iter()
                .map(|(name, _)| service_json(p, name, enforce))
                .filter(|s| wanted.is_none_or(|state| s["state"] == state))
                .collect::<Vec<Value>>(),
        )
    })?;
    let (page, next) = paginate(&all, &call, 50)?;
    let mut body = json!({ "services": page });
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

async fn batch_get(call: Call) -> Result<Reply, ApiError> {
    let names = call.query_all("names");
    if names.len() > 30 {
        return Err(ApiError::invalid_argument(
            "At most 30 services can be fetched in one batchGet.",
        ));
    }
    let ids: Vec<&str> = names
        .iter()
        .map(|n| n.rsplit('/').next().unwrap_or_default())
        .collect();
    let unknown: Vec<&str> = ids.iter().copied().filter(|s| !known(s)).collect();
    if !unknown.is_empty() {
        return Err(unknown_services(&unknown));
    }
    let enforce = call.emu.config().enforce_api_enablement;
    call.emu.world(|w| {
        let p = w.projects.ensure(call.param("project"))?;
        let services: Vec<Value> = ids.iter().map(|s| service_json(p, s, enforce)).collect();
        Ok(Reply::Json(json!({ "services": services })))
    })
}

/// Starts (or, when nothing changes, answers already done) an enable of `services`.
fn start_enable(call: &Call, services: Vec<String>, batch: bool) -> Result<Value, ApiError> {
    let emu = &call.emu;
    let enforce = emu.config().enforce_api_enablement;
    let project = call.param("project").to_string();
    let (number, all_enabled) = emu.world(|w| {
        let p = w.projects.ensure(&project)?;
        let all = services.iter().all(|s| p.reported_enabled(s, enforce));
        Ok::<_, ApiError>((p.number, all))
    })?;
    let name = format!("operations/acat.p2-{number}-{}", emu.random_hex(16));
    let resource_names: Vec<String> = services
        .iter()
        .map(|s| format!("projects/{number}/services/{s}"))
        .collect();
    let metadata = json!({ "@type": METADATA_TYPE, "resourceNames": resource_names });
    if all_enabled {
        let response =
            emu.world(|w| enable_now(w.projects.ensure(&project)?, &services, batch, emu));
        return Ok(emu.world(|w| w.operations.start_done(name, SERVICE, metadata, response)));
    }
    let op = emu.world(|w| w.operations.start(name.clone(), SERVICE, metadata));
    emu.schedule(ENABLE_LATENCY, move |emu| async move {
        emu.world(|w| {
            let response = w
                .projects
                .ensure(&project)
                .and_then(|p| enable_now(p, &services, batch, &emu));
            w.operations.finish(&name, response);
        });
    });
    Ok(op)
}

/// Marks services enabled (usable after the propagation window) and builds the response.
fn enable_now(
    project: &mut Project,
    services: &[String],
    batch: bool,
    emu: &Emu,
) -> Result<Value, ApiError> {
    let enforce = emu.config().enforce_api_enablement;
    for service in services {
        if service == "compute.googleapis.com" {
            project.compute_enabled(emu.after(DEFAULT_NETWORK_LAG));
        }
        if !matches!(
            project.services.get(service),
            Some(Enablement::Enabled { .. })
        ) {
            project.services.insert(
                service.clone(),
                Enablement::Enabled {
                    effective_at: emu.after(ENABLE_PROPAGATION),
                },
            );
        }
    }
    let jsons: Vec<Value> = services
        .iter()
        .map(|s| service_json(project, s, enforce))
        .collect();
    Ok(if batch {
        json!({
            "@type": "type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse",
            "services": jsons,
        })
    } else {
        ops::any(
            "google.api.serviceusage.v1.EnableServiceResponse",
            &json!({ "service": jsons[0] }),
        )
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct EnableBody {
    name: Option<String>,
}

async fn enable(call: Call) -> Result<Reply, ApiError> {
    let _: EnableBody = call.body()?;
    let service = call.param("service").to_string();
    if !known(&service) {
        return Err(unknown_services(&[&service]));
    }
    Ok(Reply::Json(start_enable(&call, vec![service], false)?))
}

async fn batch_enable(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Body {
        parent: Option<String>,
        service_ids: Vec<String>,
    }
    let body: Body = call.body()?;
    if body.service_ids.is_empty() {
        return Err(ApiError::invalid_argument(
            "serviceIds must name at least one service.",
        ));
    }
    if body.service_ids.len() > MAX_BATCH {
        return Err(ApiError::invalid_argument(format!(
            "At most {MAX_BATCH} services can be enabled in one batchEnable request (got {}).",
            body.service_ids.len()
        )));
    }
    let unknown: Vec<&str> = body
        .service_ids
        .iter()
        .map(String::as_str)
        .filter(|s| !known(s))
        .collect();
    if !unknown.is_empty() {
        return Err(unknown_services(&unknown));
    }
    Ok(Reply::Json(start_enable(&call, body.service_ids, true)?))
}

async fn disable(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Body {
        name: Option<String>,
        disable_dependent_services: bool,
        check_if_service_has_usage: Option<String>,
    }
    let _: Body = call.body()?;
    let service = call.param("service").to_string();
    if !known(&service) {
        return Err(unknown_services(&[&service]));
    }
    let emu = call.emu.clone();
    let enforce = emu.config().enforce_api_enablement;
    let project = call.param("project").to_string();
    let number = emu.world(|w| {
        let p = w.projects.ensure(&project)?;
        if !p.reported_enabled(&service, enforce) {
            return Err(ApiError::failed_precondition(format!(
                "The service {service} is not enabled in project {}; there is nothing to disable.",
                p.number
            )));
        }
        Ok(p.number)
    })?;
    let name = format!("operations/acat.p2-{number}-{}", emu.random_hex(16));
    let metadata = json!({ "@type": METADATA_TYPE, "resourceNames": [format!("projects/{number}/services/{service}")] });
    let op = emu.world(|w| w.operations.start(name.clone(), SERVICE, metadata));
    emu.schedule(DISABLE_LATENCY, move |emu| async move {
        emu.world(|w| {
            let response = w.projects.ensure(&project).map(|p| {
                p.services.insert(service.clone(), Enablement::Disabled);
                ops::any(
                    "google.api.serviceusage.v1.DisableServiceResponse",
                    &json!({ "service": service_json(p, &service, enforce) }),
                )
            });
            w.operations.finish(&name, response);
        });
    });
    Ok(Reply::Json(op))
}
