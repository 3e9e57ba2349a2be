//! What Storage accepts and how it refuses: the legacy error shape (`errors[].reason`),
//! the fields a bucket or object may carry, bucket and object naming rules, storage classes,
//! and the checksums (md5, crc32c) the JSON API reports.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// An error in Storage's legacy shape: HTTP status, message and `errors[].reason`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

impl StorageError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        StorageError {
            status,
            reason,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    pub fn required(parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "required",
            format!("Required parameter: {parameter}"),
        )
    }
    pub fn no_bucket() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "notFound",
            "The specified bucket does not exist.",
        )
    }
    pub fn no_object(bucket: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("No such object: {bucket}/{name}"),
        )
    }
    pub fn precondition() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "conditionNotMet",
            "At least one of the pre-conditions you specified did not hold.",
        )
    }

    /// `{"error":{"code","message","errors":[{"message","domain":"global","reason"}]}}`.
    pub fn body(&self) -> Value {
        json!({ "error": {
            "code": self.status.as_u16(),
            "message": self.message,
            "errors": [{ "message": self.message, "domain": "global", "reason": self.reason }],
        }})
    }
}

/// Bucket fields a request may carry (discovery `Bucket`); others are rejected.
pub(super) const BUCKET_FIELDS: &[&str] = &[
    "acl",
    "autoclass",
    "billing",
    "cors",
    "customPlacementConfig",
    "defaultEventBasedHold",
    "defaultObjectAcl",
    "encryption",
    "etag",
    "hierarchicalNamespace",
    "iamConfiguration",
    "id",
    "kind",
    "labels",
    "lifecycle",
    "location",
    "locationType",
    "logging",
    "metageneration",
    "name",
    "objectRetention",
    "owner",
    "projectNumber",
    "retentionPolicy",
    "rpo",
    "satisfiesPZS",
    "selfLink",
    "softDeletePolicy",
    "storageClass",
    "timeCreated",
    "updated",
    "versioning",
    "website",
];

/// Object metadata fields an upload may carry (discovery `Object`).
pub(super) const OBJECT_FIELDS: &[&str] = &[
    "acl",
    "bucket",
    "cacheControl",
    "componentCount",
    "contentDisposition",
    "contentEncoding",
    "contentLanguage",
    "contentType",
    "crc32c",
    "customTime",
    "customerEncryption",
    "etag",
    "eventBasedHold",
    "generation",
    "hardDeleteTime",
    "id",
    "kind",
    "kmsKeyName",
    "md5Hash",
    "mediaLink",
    "metadata",
    "metageneration",
    "name",
    "owner",
    "retention",
    "retentionExpirationTime",
    "selfLink",
    "size",
    "softDeleteTime",
    "storageClass",
    "temporaryHold",
    "timeCreated",
    "timeDeleted",
    "timeStorageClassUpdated",
    "updated",
];

pub(super) const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "NEARLINE",
    "COLDLINE",
    "ARCHIVE",
    "MULTI_REGIONAL",
    "REGIONAL",
    "DURABLE_REDUCED_AVAILABILITY",
];
pub(super) const MULTI_REGIONS: &[&str] = &["US", "EU", "ASIA"];
pub(super) const DUAL_REGIONS: &[&str] = &["NAM4", "EUR4", "ASIA1", "EUR5", "EUR7", "EUR8"];

/// Rejects keys outside `allowed`, worded like Google's JSON parser.
pub fn check_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), StorageError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(StorageError::invalid(format!(
            "Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."
        ))),
        None => Ok(()),
    }
}

/// The bucket naming rules of cloud.google.com/storage/docs/buckets#naming.
pub fn valid_bucket_name(name: &str) -> bool {
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let max = if name.contains('.') { 222 } else { 63 };
    let components_ok = name.split('.').all(|c| !c.is_empty() && c.len() <= 63);
    let is_ip = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
    (3..=max).contains(&name.len())
        && chars_ok
        && ends_ok(name.as_bytes().first())
        && ends_ok(name.as_bytes().last())
        && components_ok
        && !is_ip
        && !name.starts_with("goog")
        && !name.contains("google")
        && !name.contains("g00gle")
}

/// Object names: 1–1024 bytes of UTF-8, no CR/LF, not `.` or `..`.
pub fn valid_object_name(name: &str) -> bool {
    (1..=1024).contains(&name.len())
        && !name.contains(['\r', '\n'])
        && name != "."
        && name != ".."
        && !name.starts_with(".well-known/acme-challenge/")
}

/// The md5 and crc32c of `data`, base64 as the JSON API reports them.
pub fn checksums(data: &[u8]) -> (String, String) {
    let md5 = STANDARD.encode(md5::compute(data).0);
    let crc = STANDARD.encode(crc32c::crc32c(data).to_be_bytes());
    (md5, crc)
}

/// Object metadata fields an upload's JSON part may carry.
pub fn object_fields() -> &'static [&'static str] {
    OBJECT_FIELDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("my-project_cloudbuild"));
        assert!(valid_bucket_name("run-sources-p-us-central1"));
        assert!(!valid_bucket_name("ab"));
        assert!(!valid_bucket_name("My-Bucket"));
        assert!(!valid_bucket_name("-bucket"));
        assert!(!valid_bucket_name("my-google-bucket"));
        assert!(!valid_bucket_name("goog-bucket"));
        assert!(!valid_bucket_name("192.168.5.4"));
    }

    #[test]
    fn checksums_match_the_json_api() {
        // The values the JSON API documents for "hello world".
        let (md5, crc) = checksums(b"hello world");
        assert_eq!(md5, "XrY7u+Ae7tCTyyK7j1rNww==");
        assert_eq!(crc, "yZRlqg==");
    }
}
