//! Long-running operations (google.longrunning.Operation): the store, their JSON form, and the
//! operation routes shared by every API (get, list, delete, cancel, wait).
//!
//! An API starts an operation with [`Operations::start`], then schedules its completion with
//! `Emu::schedule(latency, ..)`, which calls [`Operations::finish`] with the response (carrying
//! its `@type`) or the error. Late validation failures go into that error, not the POST.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::json::{self, EnumField};
use crate::router::{Call, Reply, Route, paginate};
use crate::state::Emu;

/// The `@type` of `google.protobuf.Empty`, the response of most deletes.
pub const EMPTY: &str = "type.googleapis.com/google.protobuf.Empty";

/// A message packed as `google.protobuf.Any`: its JSON with `@type` =
/// `type.googleapis.com/{type_name}` (e.g. `google.cloud.redis.v1.Instance`).
pub fn any(type_name: &str, message: &impl Serialize) -> Value {
    let mut value = serde_json::to_value(message).unwrap_or_else(|_| json!({}));
    if !value.is_object() {
        value = json!({});
    }
    value["@type"] = Value::String(format!("type.googleapis.com/{type_name}"));
    value
}

/// One operation.
#[derive(Clone, Debug, Serialize)]
pub struct Operation {
    pub name: String,
    /// The API that owns it (`redis.googleapis.com`): decides enum encoding and enablement.
    pub service: &'static str,
    pub metadata: Value,
    #[serde(skip)]
    pub result: Option<Result<Value, ApiError>>,
}

impl Operation {
    pub fn done(&self) -> bool {
        self.result.is_some()
    }

    /// The proto3 JSON form (an unfinished operation has no `done` key at all).
    pub fn to_json(&self) -> Value {
        let mut op = json!({ "name": self.name });
        if !self.metadata.is_null() {
            op["metadata"] = self.metadata.clone();
        }
        match &self.result {
            None => {}
            Some(Ok(response)) => {
                op["done"] = Value::Bool(true);
                op["response"] = response.clone();
            }
            Some(Err(error)) => {
                op["done"] = Value::Bool(true);
                op["error"] = error.rpc_status();
            }
        }
        op
    }
}

/// All operations of all APIs, by full name.
#[derive(Default, Serialize)]
pub struct Operations(BTreeMap<String, Operation>);

impl Operations {
    /// Records a new, unfinished operation and returns its JSON.
    pub fn start(&mut self, name: String, service: &'static str, metadata: Value) -> Value {
        let op = Operation {
            name: name.clone(),
            service,
            metadata,
            result: None,
        };
        let json = op.to_json();
        self.0.insert(name, op);
        json
    }

    /// Records an operation that is already done (e.g. a synchronous enable) and returns it.
    pub fn start_done(
        &mut self,
        name: String,
        service: &'static str,
        metadata: Value,
        result: Result<Value, ApiError>,
    ) -> Value {
        self.start(name.clone(), service, metadata);
        self.finish(&name, result);
        self.0
            .get(&name)
            .map(Operation::to_json)
            .unwrap_or_default()
    }

    /// Ends an operation. Sets `metadata.endTime` when the metadata has a `createTime`.
    pub fn finish(&mut self, name: &str, result: Result<Value, ApiError>) {
        if let Some(op) = self.0.get_mut(name) {
            if op.metadata.get("createTime").is_some() {
                op.metadata["endTime"] = Value::String(json::now_timestamp());
            }
            op.result = Some(result);
        }
    }

    pub fn get(&self, name: &str) -> Option<&Operation> {
        self.0.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Operation> {
        self.0.get_mut(name)
    }

    /// Operations whose name starts with `prefix`, in name order.
    pub fn list(&self, prefix: &str) -> Vec<Operation> {
        self.0
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, op)| op.clone())
            .collect()
    }

    pub fn remove(&mut self, name: &str) -> Option<Operation> {
        self.0.remove(name)
    }
}

impl Emu {
    /// A fresh operation id in Google's `operation-<ms>-<hex>-<hex>-<hex>` style.
    pub fn operation_id(&self) -> String {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        format!(
            "operation-{ms}-{}-{}-{}",
            &self.random_hex(7)[..13],
            self.random_hex(4),
            self.random_hex(4)
        )
    }
}

/// The shared operation routes. Project-scoped ones serve Redis, VPC Access, Artifact Registry
/// (v1) and Cloud Run (v2) alike: operation ids are unique across APIs, so one store answers.
pub fn routes() -> Vec<Route> {
    let r = |m: Method, p: &'static str, id: &'static str, h: crate::router::Handler| {
        Route::new(m, p, "", id, &[], h)
    };
    let loc_op = "/v1/projects/{project}/locations/{location}/operations/{operation}";
    vec![
        r(Method::GET, loc_op, "operations.get", |c| Box::pin(get(c))),
        r(Method::DELETE, loc_op, "operations.delete", |c| {
            Box::pin(delete(c))
        }),
        r(
            Method::POST,
            "/v1/projects/{project}/locations/{location}/operations/{operation}:cancel",
            "operations.cancel",
            |c| Box::pin(cancel(c)),
        ),
        r(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/operations",
            "operations.list",
            |c| Box::pin(list(c)),
        ),
        r(
            Method::GET,
            "/v2/projects/{project}/locations/{location}/operations/{operation}",
            "operations.get",
            |c| Box::pin(get(c)),
        ),
        r(
            Method::DELETE,
            "/v2/projects/{project}/locations/{location}/operations/{operation}",
            "operations.delete",
            |c| Box::pin(delete(c)),
        ),
        r(
            Method::POST,
            "/v2/projects/{project}/locations/{location}/operations/{operation}:wait",
            "operations.wait",
            |c| Box::pin(wait(c)),
        ),
        r(
            Method::GET,
            "/v2/projects/{project}/locations/{location}/operations",
            "operations.list",
            |c| Box::pin(list(c)),
        ),
        r(
            Method::GET,
            "/v1/operations/{operation}",
            "operations.get",
            |c| Box::pin(get(c)),
        ),
        r(
            Method::GET,
            "/v3/operations/{operation}",
            "operations.get",
            |c| Box::pin(get(c)),
        ),
    ]
}

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
            w.require_enabled(&call.emu, project, op.service)?;
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
