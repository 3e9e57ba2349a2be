//! Long-running operations (google.longrunning.Operation): the store and their JSON form. The
//! operation routes shared by every API (get, list, delete, cancel, wait) are in `ops/http.rs`.
//!
//! An API starts an operation with [`Operations::start`], then schedules its completion with
//! `Emu::schedule(latency, ..)`, which calls [`Operations::finish`] with the response (carrying
//! its `@type`) or the error. Late validation failures go into that error, not the POST.

pub mod http;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::json;

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
