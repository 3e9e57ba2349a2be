//! The store of buckets and objects: global bucket names (409 whoever holds them), upload
//! preconditions and checksum checks, generations, and resumable upload sessions. The field
//! and naming rules and the error shape live in `rules.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Map, Value, json};

pub use super::rules::StorageError;
use super::rules::{
    BUCKET_FIELDS, DUAL_REGIONS, MULTI_REGIONS, STORAGE_CLASSES, check_fields, checksums,
    valid_bucket_name, valid_object_name,
};

/// A bucket as stored.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub name: String,
    pub project: String,
    pub project_number: u64,
    pub location: String,
    pub storage_class: String,
    pub uniform_access: bool,
    pub time_created: String,
    /// Other accepted fields (labels, lifecycle, versioning, ...), echoed back.
    pub extra: Map<String, Value>,
}

impl Bucket {
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut v = Value::Object(self.extra.clone());
        let location_type = if MULTI_REGIONS.contains(&self.location.as_str()) {
            "multi-region"
        } else if DUAL_REGIONS.contains(&self.location.as_str()) {
            "dual-region"
        } else {
            "region"
        };
        let merge = json!({
            "kind": "storage#bucket",
            "selfLink": format!("{base_url}/storage/v1/b/{}", self.name),
            "id": self.name,
            "name": self.name,
            "projectNumber": self.project_number.to_string(),
            "metageneration": "1",
            "location": self.location,
            "locationType": location_type,
            "storageClass": self.storage_class,
            "etag": "CAE=",
            "timeCreated": self.time_created,
            "updated": self.time_created,
            "iamConfiguration": {
                "bucketPolicyOnly": { "enabled": self.uniform_access },
                "uniformBucketLevelAccess": { "enabled": self.uniform_access },
                "publicAccessPrevention": "inherited",
            },
            "rpo": "DEFAULT",
        });
        if let (Some(out), Value::Object(add)) = (v.as_object_mut(), merge) {
            out.extend(add);
        }
        v
    }
}

/// An object as stored; its bytes are skipped by `/_emulator/resources`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub bucket: String,
    pub name: String,
    pub generation: i64,
    pub content_type: String,
    pub size: u64,
    pub md5_hash: String,
    pub crc32c: String,
    pub time_created: String,
    pub metadata: Map<String, Value>,
    #[serde(skip)]
    pub data: Arc<Vec<u8>>,
}

impl Object {
    pub fn to_json(&self, base_url: &str) -> Value {
        let encoded: String =
            percent_encoding::utf8_percent_encode(&self.name, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut v = json!({
            "kind": "storage#object",
            "id": format!("{}/{}/{}", self.bucket, self.name, self.generation),
            "selfLink": format!("{base_url}/storage/v1/b/{}/o/{encoded}", self.bucket),
            "mediaLink": format!(
                "{base_url}/download/storage/v1/b/{}/o/{encoded}?generation={}&alt=media",
                self.bucket, self.generation
            ),
            "name": self.name,
            "bucket": self.bucket,
            "generation": self.generation.to_string(),
            "metageneration": "1",
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": self.size.to_string(),
            "md5Hash": self.md5_hash,
            "crc32c": self.crc32c,
            "etag": self.etag(),
            "timeCreated": self.time_created,
            "updated": self.time_created,
            "timeStorageClassUpdated": self.time_created,
            "timeFinalized": self.time_created,
        });
        if !self.metadata.is_empty() {
            v["metadata"] = Value::Object(self.metadata.clone());
        }
        v
    }

    /// Google's object etags are base64 of the generation varint-ish bytes; any stable token will do.
    pub fn etag(&self) -> String {
        STANDARD.encode(self.generation.to_be_bytes())
    }
}

/// What an upload asks for besides the bytes.
#[derive(Debug, Default)]
pub struct Upload {
    pub name: String,
    pub content_type: String,
    pub metadata: Map<String, Value>,
    pub if_generation_match: Option<i64>,
    pub if_generation_not_match: Option<i64>,
    /// Checksums the client computed; the upload fails if the bytes do not match them.
    pub md5_hash: Option<String>,
    pub crc32c: Option<String>,
}

/// All buckets (by name: the namespace is global) and objects (by bucket, then name).
#[derive(Default, Serialize)]
pub struct Store {
    buckets: BTreeMap<String, Bucket>,
    objects: BTreeMap<String, BTreeMap<String, Object>>,
    #[serde(skip)]
    last_generation: i64,
    /// Resumable upload sessions by id.
    #[serde(skip)]
    sessions: BTreeMap<String, Session>,
}

/// A resumable upload in progress (or finished: the object is kept for status queries).
#[derive(Debug, Default)]
struct Session {
    bucket: String,
    upload: Upload,
    data: Vec<u8>,
    done: Option<Object>,
}

/// Where a resumable upload stands after a request.
pub enum Progress {
    /// This many bytes are persisted; more are expected.
    Partial(u64),
    Done(Object),
}

impl Store {
    pub fn bucket(&self, name: &str) -> Result<&Bucket, StorageError> {
        self.buckets.get(name).ok_or_else(StorageError::no_bucket)
    }

    /// Validates and records a bucket of `project` (`number` is its project number).
    pub fn insert_bucket(
        &mut self,
        project: &str,
        number: u64,
        body: Map<String, Value>,
    ) -> Result<Bucket, StorageError> {
        check_fields(&body, BUCKET_FIELDS)?;
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| StorageError::required("name"))?
            .to_string();
        if !valid_bucket_name(&name) {
            return Err(StorageError::invalid(format!(
                "Invalid bucket name: '{name}'. Bucket names are 3-63 characters of lowercase letters, digits, '-', '_' and '.', start and end with a letter or digit, and may not contain \"google\"."
            )));
        }
        let location = body
            .get("location")
            .and_then(Value::as_str)
            .unwrap_or("US")
            .to_uppercase();
        let region_like = location
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if location.is_empty() || !region_like {
            return Err(StorageError::invalid(format!(
                "Invalid location: '{location}'. Use a region such as us-central1 or a multi-region such as US."
            )));
        }
        let storage_class = body
            .get("storageClass")
            .and_then(Value::as_str)
            .unwrap_or("STANDARD")
            .to_uppercase();
        if !STORAGE_CLASSES.contains(&storage_class.as_str()) {
            return Err(StorageError::invalid(format!(
                "Invalid storage class: '{storage_class}'. Use STANDARD, NEARLINE, COLDLINE or ARCHIVE."
            )));
        }
        let iam_config = body.get("iamConfiguration").cloned().unwrap_or_default();
        let uniform = iam_config
            .pointer("/uniformBucketLevelAccess/enabled")
            .or_else(|| iam_config.pointer("/bucketPolicyOnly/enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(existing) = self.buckets.get(&name) {
            let message = if existing.project == project {
                "Your previous request to create the named bucket succeeded and you already own it."
            } else {
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
            };
            return Err(StorageError::new(StatusCode::CONFLICT, "conflict", message));
        }
        let mut extra = body;
        for derived in [
            "name",
            "location",
            "storageClass",
            "iamConfiguration",
            "id",
            "kind",
            "etag",
            "selfLink",
            "projectNumber",
            "metageneration",
            "timeCreated",
            "updated",
            "locationType",
        ] {
            extra.remove(derived);
        }
        let bucket = Bucket {
            name: name.clone(),
            project: project.to_string(),
            project_number: number,
            location,
            storage_class,
            uniform_access: uniform,
            time_created: crate::json::now_timestamp(),
            extra,
        };
        self.buckets.insert(name, bucket.clone());
        Ok(bucket)
    }

    /// Buckets of a project whose name starts with `prefix`.
    pub fn list_buckets(&self, project: &str, prefix: &str) -> Vec<Bucket> {
        self.buckets
            .values()
            .filter(|b| b.project == project && b.name.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Deletes an empty bucket.
    pub fn delete_bucket(&mut self, name: &str) -> Result<(), StorageError> {
        self.bucket(name)?;
        if self.objects.get(name).is_some_and(|o| !o.is_empty()) {
            return Err(StorageError::new(
                StatusCode::CONFLICT,
                "conflict",
                "The bucket you tried to delete is not empty.",
            ));
        }
        self.buckets.remove(name);
        self.objects.remove(name);
        Ok(())
    }

    fn next_generation(&mut self) -> i64 {
        let now = jiff::Timestamp::now().as_microsecond();
        self.last_generation = now.max(self.last_generation + 1);
        self.last_generation
    }

    /// Stores an object (a new generation), after the name, preconditions and checksums.
    pub fn upload(
        &mut self,
        bucket: &str,
        upload: Upload,
        data: Vec<u8>,
    ) -> Result<Object, StorageError> {
        self.bucket(bucket)?;
        if upload.name.is_empty() {
            return Err(StorageError::required("name"));
        }
        if !valid_object_name(&upload.name) {
            return Err(StorageError::invalid(format!(
                "The object name '{}' is invalid: names are 1-1024 bytes of UTF-8 without carriage returns or line feeds.",
                upload.name.escape_debug()
            )));
        }
        let current = self
            .objects
            .get(bucket)
            .and_then(|o| o.get(&upload.name))
            .map_or(0, |o| o.generation);
        if upload.if_generation_match.is_some_and(|g| g != current)
            || upload.if_generation_not_match.is_some_and(|g| g == current)
        {
            return Err(StorageError::precondition());
        }
        let (md5_hash, crc32c) = checksums(&data);
        if upload.md5_hash.as_ref().is_some_and(|h| *h != md5_hash)
            || upload.crc32c.as_ref().is_some_and(|h| *h != crc32c)
        {
            return Err(StorageError::invalid(
                "Provided MD5 hash or CRC32C checksum does not match the data received; the upload was corrupted, retry it.",
            ));
        }
        let object = Object {
            bucket: bucket.to_string(),
            name: upload.name.clone(),
            generation: self.next_generation(),
            content_type: if upload.content_type.is_empty() {
                "application/octet-stream".to_string()
            } else {
                upload.content_type
            },
            size: data.len() as u64,
            md5_hash,
            crc32c,
            time_created: crate::json::now_timestamp(),
            metadata: upload.metadata,
            data: Arc::new(data),
        };
        self.objects
            .entry(bucket.to_string())
            .or_default()
            .insert(upload.name, object.clone());
        Ok(object)
    }

    /// The live object, optionally only if it is at `generation`.
    pub fn object(
        &self,
        bucket: &str,
        name: &str,
        generation: Option<i64>,
    ) -> Result<&Object, StorageError> {
        self.bucket(bucket)?;
        self.objects
            .get(bucket)
            .and_then(|o| o.get(name))
            .filter(|o| generation.is_none_or(|g| g == o.generation))
            .ok_or_else(|| StorageError::no_object(bucket, name))
    }

    pub fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>, StorageError> {
        self.bucket(bucket)?;
        Ok(self
            .objects
            .get(bucket)
            .map(|o| {
                o.values()
                    .filter(|o| o.name.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Deletes the live object, only if its generation is `if_generation_match` when given
    /// (412 otherwise, as Google answers).
    pub fn delete_object(
        &mut self,
        bucket: &str,
        name: &str,
        if_generation_match: Option<i64>,
    ) -> Result<(), StorageError> {
        let live = self.object(bucket, name, None)?;
        if if_generation_match.is_some_and(|g| g != live.generation) {
            return Err(StorageError::precondition());
        }
        if let Some(objects) = self.objects.get_mut(bucket) {
            objects.remove(name);
        }
        Ok(())
    }
}

impl Store {
    /// Opens a resumable upload session for `upload` into `bucket`.
    pub fn start_session(
        &mut self,
        id: String,
        bucket: &str,
        upload: Upload,
    ) -> Result<(), StorageError> {
        self.bucket(bucket)?;
        if upload.name.is_empty() {
            return Err(StorageError::required("name"));
        }
        let session = Session {
            bucket: bucket.to_string(),
            upload,
            ..Session::default()
        };
        self.sessions.insert(id, session);
        Ok(())
    }

    /// Adds `bytes` at `offset` to a session (bytes already persisted are skipped, as the
    /// service does); with `total` known and reached, the object is created.
    pub fn resume(
        &mut self,
        id: &str,
        offset: Option<u64>,
        bytes: &[u8],
        total: Option<u64>,
    ) -> Result<Progress, StorageError> {
        let session = self.sessions.get_mut(id).ok_or_else(|| {
            StorageError::new(
                StatusCode::NOT_FOUND,
                "notFound",
                format!("No such upload session: {id}"),
            )
        })?;
        if let Some(object) = &session.done {
            return Ok(Progress::Done(object.clone()));
        }
        let have = session.data.len() as u64;
        if let Some(offset) = offset {
            if offset > have {
                return Err(StorageError::invalid(format!(
                    "Upload chunk starts at byte {offset}, but only {have} bytes are persisted; resume from byte {have}."
                )));
            }
            let skip = usize::try_from(have - offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            session.data.extend_from_slice(&bytes[skip..]);
        }
        let have = session.data.len() as u64;
        match total {
            Some(total) if have > total => Err(StorageError::invalid(format!(
                "The upload sent {have} bytes, more than the declared total of {total}."
            ))),
            Some(total) if have == total => {
                let bucket = session.bucket.clone();
                let upload = std::mem::take(&mut session.upload);
                let data = std::mem::take(&mut session.data);
                let object = self.upload(&bucket, upload, data);
                let session = self
                    .sessions
                    .get_mut(id)
                    .expect("the session was just used");
                let object = object?;
                session.done = Some(object.clone());
                Ok(Progress::Done(object))
            }
            _ => Ok(Progress::Partial(have)),
        }
    }
}
