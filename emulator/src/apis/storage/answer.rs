//! What every Storage handler shares: answers in the JSON API's shape (errors in its legacy
//! shape), the project and enablement checks, integer query parameters, header values and an
//! upload's JSON metadata. Used by the object handlers (`http.rs`) and resumable uploads.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};

use super::SERVICE;
use super::model::{StorageError, Upload};
use super::rules::{check_fields, object_fields};
use crate::error::{ApiError, Code};
use crate::router::Call;

pub type Answer = Result<Response, StorageError>;

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

pub fn ok(body: &Value) -> Answer {
    Ok(json_response(StatusCode::OK, body))
}

/// A core error (bad project, API disabled) in the legacy shape.
fn from_api(error: ApiError) -> StorageError {
    let reason = match error.code {
        Code::PermissionDenied => "accessNotConfigured",
        Code::NotFound => "notFound",
        _ => "invalid",
    };
    StorageError::new(error.code.http(), reason, error.message)
}

/// Checks the project exists and has Storage enabled; returns its number.
pub fn require_project(call: &Call, project: &str) -> Result<u64, StorageError> {
    let enforce = call.emu.config().enforce_api_enablement;
    call.emu
        .world(|w| {
            w.projects.require_enabled(project, SERVICE, enforce)?;
            Ok(w.projects.get(project).map_or(0, |p| p.number))
        })
        .map_err(from_api)
}

/// The bucket's project must have Storage enabled.
pub fn require_bucket_project(call: &Call, bucket: &str) -> Result<(), StorageError> {
    let project = call
        .emu
        .world(|w| w.storage.bucket(bucket).map(|b| b.project.clone()))?;
    require_project(call, &project).map(drop)
}

pub fn int_query(call: &Call, name: &str) -> Result<Option<i64>, StorageError> {
    call.query(name)
        .map(|v| {
            v.parse().map_err(|_| {
                StorageError::invalid(format!(
                    "Invalid value for {name}: {v} (expected an integer)"
                ))
            })
        })
        .transpose()
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Applies an upload's JSON metadata (name, content type, checksums, custom metadata).
pub fn read_metadata(json: &[u8], upload: &mut Upload) -> Result<(), StorageError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let metadata: Map<String, Value> = serde_json::from_slice(json).map_err(|e| {
        StorageError::new(
            StatusCode::BAD_REQUEST,
            "parseError",
            format!("Parse Error in the object metadata: {e}"),
        )
    })?;
    check_fields(&metadata, object_fields())?;
    let text = |k: &str| metadata.get(k).and_then(Value::as_str).map(String::from);
    if let Some(name) = text("name") {
        upload.name = name;
    }
    if let Some(content_type) = text("contentType") {
        upload.content_type = content_type;
    }
    upload.md5_hash = text("md5Hash");
    upload.crc32c = text("crc32c");
    if let Some(Value::Object(custom)) = metadata.get("metadata") {
        upload.metadata = custom.clone();
    }
    Ok(())
}
