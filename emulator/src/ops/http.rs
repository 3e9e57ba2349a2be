//! The operation routes shared by every API: get, list, delete, `:cancel` and Cloud Run's
//! `:wait` on `/v1/projects/*/locations/*/operations` (Redis, VPC Access, Artifact Registry),
//! `/v2/...` (Cloud Run), `/v1/operations/*` (Service Usage) and `/v3/operations/*` (Resource
//! Manager). Operation ids are unique across APIs, so the one store answers them all.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{Value, json};

use super::Operation;
use crate::error::ApiError;
use crate::json::{self, EnumField};
use crate::router::{Api, Call, Reply, paginate, row};

const V1_OP: &str = "/v1/projects/{project}/locations/{location}/operations/{operation}";
const V2_OP: &str = "/v2/projects/{project}/locations/{location}/operations/{operation}";
/// Query parameters of `operations.list` in every discovery document that has it.
const LIST_QUERY: &[&str] = &["filter", "pageSize", "pageToken", "returnPartialSuccess"];

/// The shared routes. Their service is empty: [`find`] checks the enablement of the API that
/// owns the operation.
pub static API: Api = Api {
    service: "",
    enums: &[],
    methods: &[
        row(Method::GET, V1_OP, "operations.get", &[], |c| {
            Box::pin(get(c))
        }),
        row(Method::DELETE, V1_OP, "operations.delete", &[], |c| {
            Box::pin(delete(c))
        }),
        row(
            Method::POST,
            "/v1/projects/{project}/locations/{location}/operations/{operation}:cancel",
            "operations.cancel",
            &[],
            |c| Box::pin(cancel(c)),
        ),
        row(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/operations",
            "operations.list",
            LIST_QUERY,
            |c| Box::pin(list(c)),
        ),
        row(Method::GET, V2_OP, "operations.get", &[], |c| {
            Box::pin(get(c))
        }),
        row(Method::DELETE, V2_OP, "operations.delete", &[], |c| {
            Box::pin(delete(c))
        }),
        row(
            Method::POST,
            "/v2/projects/{project}/locations/{location}/operations/{operation}:wait",
            "operations.wait",
            &[],
            |c| Box::pin(wait(c)),
        ),
        row(
            Method::GET,
            "/v2/projects/{project}/locations/{location}/operations",
            "operations.list",
            LIST_QUERY,
            |c| Box::pin(list(c)),
        ),
        row(
            Method::GET,
            "/v1/operations/{operation}",
            "operations.get",
            &[],
            |c| Box::pin(get(c)),
        ),
        row(
            Method::GET,
            "/v3/operations/{operation}",
            "operations.get",
            &[],
            |c| Box::pin(get(c)),
        ),
    ],
};

/// `projects/P/locations/L/operations/ID` (or `operations/ID`) from the route's variables.
fn op_name(call: &Call) -> String {
    let op = call.param("operation");
    match (call.param("project"), call.param("location")) {
        ("", _) => format!("operations/{op}"),
        (p, l) => format!("projects/{p}/locations/{l}/operations/{op}"),
    }
}

/// Looks an operation up, checking its API is enabled in the project it belongs to.
fn find(call: &Call, name: &str) -> Result<Operation, ApiError> {
    call.emu.world(|w| {
        let op = w
            .operations
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("Resource '{name}' was not found")))?;
        let project = call.param("project");
        if !project.is_empty() {
            w.projects.require_enabled(
                project,
                op.service,
                call.emu.config().enforce_api_enablement,
            )?;
            // `redis.googleapis.com` → `redis.operations.get`.
            let api = op.service.split('.').next().unwrap_or_default();
            crate::access::require(
                w,
                project,
                call.principal.as_deref(),
                &format!("{api}.operations.get"),
                name,
                None,
            )?;
        }
        Ok(op)
    })
}

fn reply(op: &Operation) -> Reply {
    Reply::JsonWithEnums(op.to_json(), crate::apis::enums_of(op.service))
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let op = find(&call, &op_name(&call))?;
    Ok(reply(&op))
}

async fn delete(call: Call) -> Result<Reply, ApiError> {
    let name = op_name(&call);
    find(&call, &name)?;
    call.emu.world(|w| w.operations.remove(&name));
    Ok(Reply::Json(json!({})))
}

/// `:cancel` is best effort, as Google documents it: a running operation is marked
/// `requestedCancellation` and keeps running; a finished one cannot be cancelled.
async fn cancel(call: Call) -> Result<Reply, ApiError> {
    let name = op_name(&call);
    let op = find(&call, &name)?;
    if op.done() {
        return Err(ApiError::failed_precondition(format!(
            "Operation {name} has already completed and cannot be cancelled."
        )));
    }
    call.emu.world(|w| {
        if let Some(op) = w.operations.get_mut(&name)
            && op.metadata.is_object()
        {
            op.metadata["requestedCancellation"] = Value::Bool(true);
        }
    });
    Ok(Reply::Json(json!({})))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let prefix = format!(
        "projects/{}/locations/{}/operations/",
        call.param("project"),
        call.param("location")
    );
    let ops = call.emu.world(|w| w.operations.list(&prefix));
    let (page, next) = paginate(&ops, &call, 100)?;
    let enums: Vec<&'static [EnumField]> = page
        .iter()
        .map(|o| crate::apis::enums_of(o.service))
        .collect();
    let mut items: Vec<Value> = Vec::new();
    for (op, fields) in page.iter().zip(enums) {
        let mut v = op.to_json();
        json::encode_enums(&mut v, fields, json::EnumEncoding::from_query(&call.query));
        items.push(v);
    }
    let mut body = json!({ "operations": items });
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

/// `:wait` blocks until the operation is done or the timeout (default and cap 60 s) passes.
async fn wait(call: Call) -> Result<Reply, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct WaitBody {
        timeout: Option<String>,
    }
    let body: WaitBody = call.body()?;
    let timeout = match body.timeout {
        Some(t) => json::parse_duration(&t)?.min(60.0),
        None => 60.0,
    };
    let name = op_name(&call);
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        let op = find(&call, &name)?;
        if op.done() || Instant::now() >= deadline {
            return Ok(reply(&op));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
