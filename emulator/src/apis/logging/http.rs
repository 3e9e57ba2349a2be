//! The HTTP surface of Cloud Logging v2: `POST /v2/entries:write` and `POST /v2/entries:list`.
//! Neither path names a project: the projects come from the body (each entry's logName, the
//! request's resourceNames), so the handlers check enablement and permissions themselves.

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::model::{ListRequest, WriteRequest};
use super::{ENUMS, LIST_PERMISSION, SERVICE, WRITE_PERMISSION};
use crate::error::ApiError;
use crate::router::{Api, Call, Reply, row};

/// One row per method: verb, path, discovery id, query parameters (none), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            "/v2/entries:write",
            "logging.entries.write",
            &[],
            |c| Box::pin(write(c)),
        ),
        row(
            Method::POST,
            "/v2/entries:list",
            "logging.entries.list",
            &[],
            |c| Box::pin(list(c)),
        ),
    ],
};

/// Every project must have Logging usable and grant the caller `permission`.
fn check_projects(call: &Call, projects: &[String], permission: &str) -> Result<(), ApiError> {
    let enforce = call.emu.config().enforce_api_enablement;
    call.emu.world(|w| {
        for project in projects {
            w.projects.require_enabled(project, SERVICE, enforce)?;
            crate::access::require(
                w,
                project,
                call.principal.as_deref(),
                permission,
                &format!("projects/{project}"),
                None,
            )?;
        }
        Ok(())
    })
}

async fn write(call: Call) -> Result<Reply, ApiError> {
    let request: WriteRequest = call.body()?;
    let dry_run = request.dry_run;
    let entries = request.complete()?;
    let mut projects: Vec<String> = entries
        .iter()
        .filter_map(|e| e.project().map(str::to_string))
        .collect();
    projects.sort();
    projects.dedup();
    check_projects(&call, &projects, WRITE_PERMISSION)?;
    if !dry_run {
        call.emu.world(|w| w.logging.write(entries));
    }
    Ok(Reply::Json(json!({})))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let request: ListRequest = call.body()?;
    let projects = request.projects()?;
    check_projects(&call, &projects, LIST_PERMISSION)?;
    let page = call.emu.world(|w| w.logging.list(&request, &projects))?;
    let mut answer = Map::new();
    if !page.entries.is_empty() {
        answer.insert("entries".into(), Value::Array(page.entries));
    }
    if let Some(token) = page.next_page_token {
        answer.insert("nextPageToken".into(), Value::String(token));
    }
    Ok(Reply::Json(Value::Object(answer)))
}
