//! Compute Engine's own operation shape (regional, zonal or global) (`status` PENDING/RUNNING/DONE, `error.errors[]`,
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

/// Where an operation lives: a region (subnets), a zone (instances) or global (firewalls).
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    Region(&'a str),
    Zone(&'a str),
    Global,
}

impl Scope<'_> {
    /// `projects/P/{regions/R|zones/Z|global}/operations/NAME`: the operation's store key.
    pub fn key(self, project: &str, operation: &str) -> String {
        match self {
            Scope::Region(region) => key(project, region, operation),
            Scope::Zone(zone) => format!("projects/{project}/zones/{zone}/operations/{operation}"),
            Scope::Global => format!("projects/{project}/global/operations/{operation}"),
        }
    }
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
    start_in(
        emu,
        w,
        project,
        Scope::Region(region),
        operation_type,
        target_link,
        target_id,
    )
}

/// Records a running operation of `scope` on `target_link` and returns its JSON.
pub fn start_in(
    emu: &Emu,
    w: &mut World,
    project: &str,
    scope: Scope<'_>,
    operation_type: &str,
    target_link: &str,
    target_id: u64,
) -> (String, Value) {
    let name = emu.operation_id();
    let key = scope.key(project, &name);
    let now = crate::json::now_timestamp();
    let id = 1_000_000_000_000_000_000 + emu.random_range(0..8_000_000_000_000_000_000);
    let mut op = json!({
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
        "selfLink": format!("{URL_PREFIX}{key}"),
    });
    match scope {
        Scope::Region(region) => op["region"] = region_link(project, region).into(),
        Scope::Zone(zone) => op["zone"] = super::vms::zone_link(project, zone).into(),
        Scope::Global => {}
    }
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
