//! Compute Engine's own operation shape (`status` PENDING/RUNNING/DONE, `error.errors[]`,
//! `httpErrorStatusCode`), kept in the shared operation store: the stored metadata is the
//! whole compute Operation, updated when it finishes.

use serde_json::{Value, json};

use super::SERVICE;
use super::model::{URL_PREFIX, region_link};
use crate::error::ApiError;
use crate::state::Emu;
use crate::world::World;

/// Why an operation failed, as Compute Engine reports it inside the operation.
pub struct OpFailure {
    /// e.g. `INVALID_USAGE`, `RESOURCE_NOT_FOUND`.
    pub code: &'static str,
    pub message: String,
    pub http_status: u16,
}

/// `projects/P/regions/R/operations/NAME`: the store key of a regional operation.
pub fn key(project: &str, region: &str, operation: &str) -> String {
    format!("projects/{project}/regions/{region}/operations/{operation}")
}

/// Records a running regional operation on `target_link` and returns its JSON.
pub fn start(
    emu: &Emu,
    w: &mut World,
    project: &str,
    region: &str,
    operation_type: &str,
    target_link: &str,
    target_id: u64,
) -> (String, Value) {
    let name = emu.operation_id();
    let key = key(project, region, &name);
    let now = crate::json::now_timestamp();
    let id = 1_000_000_000_000_000_000 + emu.random_range(0..8_000_000_000_000_000_000);
    let op = json!({
        "kind": "compute#operation",
        "id": id.to_string(),
        "name": name,
        "operationType": operation_type,
        "targetLink": target_link,
        "targetId": target_id.to_string(),
        "status": "RUNNING",
        "progress": 0,
        "insertTime": now,
        "startTime": now,
        "region": region_link(project, region),
        "selfLink": format!("{URL_PREFIX}{key}"),
    });
    w.operations.start(key.clone(), SERVICE, op.clone());
    (key, op)
}

/// Marks the operation DONE, with Compute Engine's error fields when it failed.
pub fn finish(w: &mut World, key: &str, result: Result<(), OpFailure>) {
    let Some(op) = w.operations.get_mut(key) else {
        return;
    };
    let meta = &mut op.metadata;
    meta["status"] = Value::from("DONE");
    meta["progress"] = Value::from(100);
    meta["endTime"] = Value::from(crate::json::now_timestamp());
    let outcome = match result {
        Ok(()) => Ok(Value::Null),
        Err(failure) => {
            meta["error"] = json!({"errors": [{"code": failure.code, "message": failure.message}]});
            meta["httpErrorStatusCode"] = Value::from(failure.http_status);
            meta["httpErrorMessage"] = Value::from(reason_phrase(failure.http_status));
            Err(ApiError::invalid_argument(failure.message))
        }
    };
    w.operations.finish(key, outcome);
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "BAD REQUEST",
        403 => "FORBIDDEN",
        404 => "NOT FOUND",
        409 => "CONFLICT",
        _ => "INTERNAL SERVER ERROR",
    }
}

/// The operation's JSON, if `key` names a Compute Engine operation.
pub fn get(w: &World, key: &str) -> Option<(Value, bool)> {
    w.operations
        .get(key)
        .filter(|op| op.service == SERVICE)
        .map(|op| (op.metadata.clone(), op.done()))
}
