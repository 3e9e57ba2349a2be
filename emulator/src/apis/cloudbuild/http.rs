//! The HTTP surface of Cloud Build v1: builds create (`/v1/projects/{projectId}/builds` and
//! `/v1/{parent=projects/*/locations/*}/builds`), get, list (newest first, with Cloud Build's
//! filter syntax, see `filter.rs`), cancel; the global build operations
//! (`operations/build/{project}/{id}`); the emulator-only build log
//! (`GET /_emulator/builds/{id}/log`). Timing: queued ≈ 5 s, done ≈ 3 min, × time scale.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::filter::Filter;
use super::model::{Build, RunAs, validate, writes_cloud_logging};
use super::{ENUMS, SERVICE};
use crate::apis::logging::model::{LogEntry, build_resource};
use crate::error::{ApiError, Code};
use crate::ops;
use crate::router::{Api, Call, Reply, paginate, row};
use crate::state::Emu;
use crate::world::World;

const QUEUE_LATENCY: Duration = Duration::from_secs(5);
const BUILD_LATENCY: Duration = Duration::from_secs(180);
const BUILD_TYPE: &str = "google.devtools.cloudbuild.v1.Build";
const METADATA_TYPE: &str =
    "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata";
const DEFAULT_TIMEOUT: &str = "3600s";
/// Builds per page of builds.list when the caller names no pageSize.
const DEFAULT_PAGE_SIZE: usize = 50;

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            "/v1/projects/{project}/builds",
            "cloudbuild.projects.builds.create",
            &["parent"],
            |c| Box::pin(create(c)),
        )
        .needs("cloudbuild.builds.create"),
        row(
            Method::POST,
            "/v1/projects/{project}/locations/{location}/builds",
            "cloudbuild.projects.locations.builds.create",
            &["projectId"],
            |c| Box::pin(create(c)),
        )
        .needs("cloudbuild.builds.create"),
        row(
            Method::GET,
            "/v1/projects/{project}/builds/{id}",
            "cloudbuild.projects.builds.get",
            &["name"],
            |c| Box::pin(get(c)),
        )
        .needs("cloudbuild.builds.get"),
        row(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/builds/{id}",
            "cloudbuild.projects.locations.builds.get",
            &["id", "projectId"],
            |c| Box::pin(get(c)),
        )
        .needs("cloudbuild.builds.get"),
        row(
            Method::GET,
            "/v1/projects/{project}/builds",
            "cloudbuild.projects.builds.list",
            &["filter", "pageSize", "pageToken", "parent"],
            |c| Box::pin(list(c)),
        )
        .needs("cloudbuild.builds.list"),
        row(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/builds",
            "cloudbuild.projects.locations.builds.list",
            &["filter", "pageSize", "pageToken", "projectId"],
            |c| Box::pin(list(c)),
        )
        .needs("cloudbuild.builds.list"),
        row(
            Method::POST,
            "/v1/projects/{project}/builds/{id}:cancel",
            "cloudbuild.projects.builds.cancel",
            &[],
            |c| Box::pin(cancel(c)),
        )
        .needs("cloudbuild.builds.update"),
        row(
            Method::POST,
            "/v1/projects/{project}/locations/{location}/builds/{id}:cancel",
            "cloudbuild.projects.locations.builds.cancel",
            &[],
            |c| Box::pin(cancel(c)),
        )
        .needs("cloudbuild.builds.update"),
        row(
            Method::GET,
            "/v1/operations/build/{project}/{operation}",
            "cloudbuild.operations.get",
            &[],
            |c| Box::pin(get_operation(c)),
        )
        .needs("cloudbuild.builds.get"),
    ],
};

/// The emulator-only endpoints of this API (no Google service, no enablement check).
pub static EMULATOR_API: Api = Api {
    service: "",
    enums: &[],
    methods: &[row(
        Method::GET,
        "/_emulator/builds/{id}/log",
        "emulator.builds.log",
        &[],
        |c| Box::pin(log(c)),
    )],
};

fn location(call: &Call) -> &str {
    match call.param("location") {
        "" => "global",
        l => l,
    }
}

/// A UUID-shaped build id.
fn build_id(emu: &Emu) -> String {
    let hex = emu.random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn log_url(location: &str, id: &str, number: u64) -> String {
    match location {
        "global" => {
            format!("https://console.cloud.google.com/cloud-build/builds/{id}?project={number}")
        }
        region => format!(
            "https://console.cloud.google.com/cloud-build/builds;region={region}/{id}?project={number}"
        ),
    }
}

async fn create(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project").to_string();
    let location = location(&call).to_string();
    if location != "global" {
        crate::validate::require_region(&location)?;
    }
    let mut build: Build = call.body()?;
    validate(&build, &project)?;
    let id = build_id(&call.emu);
    let operation = match location.as_str() {
        "global" => format!(
            "operations/build/{project}/{}",
            URL_SAFE_NO_PAD.encode(id.as_bytes())
        ),
        region => format!(
            "projects/{project}/locations/{region}/operations/{}",
            call.emu.operation_id()
        ),
    };
    let principal = call.principal.clone();
    let op = call.emu.world(|w| {
        let number = w.projects.ensure(&project)?.number;
        if let Some(email) = build.service_account.rsplit('/').next()
            && !email.is_empty()
            && !w.iam.is_visible_email(email)
        {
            return Err(ApiError::invalid_argument(format!(
                "invalid build: service account {email} does not exist (a new account can take a minute to become usable)."
            )));
        }
        check_act_as(w, &project, principal.as_deref(), &build)?;
        build.id = id.clone();
        build.project_id = project.clone();
        build.name = format!("projects/{number}/locations/{location}/builds/{id}");
        build.status = Some("QUEUED".to_string());
        build.status_detail.clear();
        build.results = None;
        build.failure_info = None;
        build.create_time = Some(crate::json::now_timestamp());
        build.start_time = None;
        build.finish_time = None;
        build.timeout.get_or_insert_with(|| DEFAULT_TIMEOUT.to_string());
        build.queue_ttl.get_or_insert_with(|| DEFAULT_TIMEOUT.to_string());
        build.log_url = log_url(&location, &id, number);
        if build.logs_bucket.is_empty() {
            build.logs_bucket = format!("gs://{number}.cloudbuild-logs.googleusercontent.com");
        }
        let metadata = json!({ "@type": METADATA_TYPE, "build": build });
        w.cloudbuild.insert(build.clone(), operation.clone());
        publish_log(w, &id);
        Ok(w.operations.start(operation.clone(), SERVICE, metadata))
    })?;
    let started = id.clone();
    let op_name = operation.clone();
    call.emu.schedule(QUEUE_LATENCY, move |emu| async move {
        emu.world(|w| {
            if let Some(build) = w.cloudbuild.start(&started) {
                set_metadata(w, &op_name, &build);
                publish_log(w, &started);
            }
        });
    });
    call.emu.schedule(BUILD_LATENCY, move |emu| async move {
        emu.world(|w| {
            let run_as = w
                .cloudbuild
                .get(&project, &id)
                .ok()
                .and_then(|s| account_access(w, &project, &s.build));
            let crate::world::World {
                cloudbuild,
                storage,
                artifactregistry,
                ..
            } = w;
            let Some(outcome) = cloudbuild.execute(&id, storage, artifactregistry, run_as.as_ref())
            else {
                return;
            };
            set_metadata(w, &operation, &outcome.build);
            publish_log(w, &id);
            let result = if outcome.success {
                Ok(ops::any(BUILD_TYPE, &outcome.build))
            } else {
                Err(ApiError::new(
                    Code::Unknown,
                    "Build failed; check build logs for details",
                ))
            };
            w.operations.finish(&operation, result);
        });
    });
    Ok(Reply::Json(op))
}

/// The email of a build's user-specified account (`projects/P/serviceAccounts/EMAIL`).
fn named_account(build: &Build) -> Option<&str> {
    build
        .service_account
        .rsplit('/')
        .next()
        .filter(|e| e.contains('@'))
}

/// The account a build runs as: its own, else the one the project's setup implies (described
/// projects only).
fn build_account(w: &World, project: &str, build: &Build) -> Option<String> {
    match named_account(build) {
        Some(email) => Some(email.to_string()),
        None => w.projects.find(project)?.default_build_account(),
    }
}

/// Where the project enforces IAM, the submitter must be able to act as the build's account
/// (a user-specified one, or the Compute default one; the legacy Cloud Build account is
/// Google's own and needs nothing).
fn check_act_as(
    w: &World,
    project: &str,
    principal: Option<&str>,
    build: &Build,
) -> Result<(), ApiError> {
    let Some(p) = w.projects.find(project).filter(|p| p.enforces_iam()) else {
        return Ok(());
    };
    let Some(email) = build_account(w, project, build) else {
        return Ok(());
    };
    if email == p.legacy_build_account() || crate::access::can_act_as(w, project, principal, &email)
    {
        return Ok(());
    }
    // Google names a user-managed account by its unique ID here.
    let named = w
        .iam
        .find("-", &email)
        .map_or_else(|| email.clone(), |a| a.unique_id.clone());
    Err(ApiError::permission_denied(format!(
        "caller does not have permission to act as service account {named}"
    ))
    .with_error_info(
        "IAM_PERMISSION_DENIED",
        "iam.googleapis.com",
        json!({ "permission": "iam.serviceAccounts.actAs" }),
    ))
}

/// What the build's account may do, judged by the project's policy (described projects), by
/// the bindings that have taken effect (a role granted a moment ago has not yet).
fn account_access(w: &World, project: &str, build: &Build) -> Option<RunAs> {
    let p = w.projects.find(project).filter(|p| p.setup.is_some())?;
    let email = build_account(w, project, build)?;
    let can = |permission: &str| crate::access::holds_propagated(p, &email, permission);
    Some(RunAs {
        account: format!("projects/{}/serviceAccounts/{email}", p.id),
        write_logs: writes_cloud_logging(build).then(|| can("logging.logEntries.create")),
        read_source: can("storage.objects.get"),
        push: can("artifactregistry.repositories.uploadArtifacts"),
        email,
    })
}

/// Hands the build's new log lines to Cloud Logging (log `cloudbuild`, resource `build`), as
/// Cloud Build does unless the build logs nowhere there (`logging: NONE`/`GCS_ONLY`) or its
/// account may not write log entries.
fn publish_log(w: &mut World, id: &str) {
    let Some((project, lines)) = w.cloudbuild.take_unlogged(id) else {
        return;
    };
    let Ok(stored) = w.cloudbuild.get(&project, id) else {
        return;
    };
    let build = &stored.build;
    let allowed = account_access(w, &project, build).is_none_or(|r| r.write_logs != Some(false));
    if lines.is_empty() || !writes_cloud_logging(build) || !allowed {
        return;
    }
    let resource = build_resource(&project, id);
    let entries = lines
        .iter()
        .map(|line| LogEntry::text(&project, "cloudbuild", resource.clone(), "INFO", line))
        .collect();
    w.logging.write(entries);
}

fn set_metadata(w: &mut crate::world::World, operation: &str, build: &Build) {
    if let Some(op) = w.operations.get_mut(operation) {
        op.metadata["build"] = serde_json::to_value(build).unwrap_or_default();
    }
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let build = call.emu.world(|w| {
        w.cloudbuild
            .get(call.param("project"), call.param("id"))
            .map(|s| s.build.clone())
    })?;
    Ok(Reply::Json(serde_json::to_value(build).unwrap_or_default()))
}

/// builds.list: the project's builds in the location (global unless the regional form or
/// `parent` names one), filtered, newest first, a page at a time.
async fn list(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project").to_string();
    let location = match (call.param("location"), call.query("parent")) {
        ("", None) => "global".to_string(),
        ("", Some(parent)) => parent_location(parent, &project)?,
        (region, _) => region.to_string(),
    };
    if location != "global" {
        crate::validate::require_region(&location)?;
    }
    let filter = Filter::parse(call.query("filter").unwrap_or_default())?;
    let builds: Vec<Build> = call
        .emu
        .world(|w| w.cloudbuild.list(&project, &location))
        .into_iter()
        .filter(|b| filter.matches(b))
        .collect();
    let (page, next) = paginate(&builds, &call, DEFAULT_PAGE_SIZE)?;
    let mut body = json!({});
    if !page.is_empty() {
        body["builds"] = serde_json::to_value(page).unwrap_or_default();
    }
    if let Some(token) = next {
        body["nextPageToken"] = json!(token);
    }
    Ok(Reply::Json(body))
}

/// The location of `parent` (`projects/P/locations/L`), which must name `project`.
fn parent_location(parent: &str, project: &str) -> Result<String, ApiError> {
    parent
        .strip_prefix(&format!("projects/{project}/locations/"))
        .filter(|l| !l.is_empty() && !l.contains('/'))
        .map(String::from)
        .ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "parent {parent} must be projects/{project}/locations/LOCATION."
            ))
        })
}

async fn cancel(call: Call) -> Result<Reply, ApiError> {
    let (project, id) = (call.param("project"), call.param("id"));
    let build = call.emu.world(|w| {
        let build = w.cloudbuild.cancel(project, id)?;
        if build.status.as_deref() == Some("CANCELLED") {
            let operation = w.cloudbuild.get(project, id)?.operation.clone();
            set_metadata(w, &operation, &build);
            publish_log(w, id);
            if w.operations.get(&operation).is_some_and(|o| !o.done()) {
                w.operations.finish(
                    &operation,
                    Err(ApiError::new(Code::Cancelled, "Build was cancelled")),
                );
            }
        }
        Ok::<_, ApiError>(build)
    })?;
    Ok(Reply::Json(serde_json::to_value(build).unwrap_or_default()))
}

async fn get_operation(call: Call) -> Result<Reply, ApiError> {
    let name = format!(
        "operations/build/{}/{}",
        call.param("project"),
        call.param("operation")
    );
    let op = call.emu.world(|w| w.operations.get(&name).cloned());
    match op {
        Some(op) => Ok(Reply::Json(op.to_json())),
        None => Err(ApiError::not_found(format!(
            "Resource '{name}' was not found"
        ))),
    }
}

/// The build's log as plain text (what the console's log page would show).
async fn log(call: Call) -> Result<Reply, ApiError> {
    let id = call.param("id");
    let text = call
        .emu
        .world(|w| w.cloudbuild.get_mut(id).map(|s| s.log.clone()));
    let text = text.ok_or_else(|| super::model::not_found(id))?;
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(text))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Reply::Raw(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_urls_name_the_region_when_there_is_one() {
        assert!(log_url("global", "b1", 12).ends_with("/builds/b1?project=12"));
        assert!(log_url("us-central1", "b1", 12).contains("builds;region=us-central1/b1"));
    }
}
