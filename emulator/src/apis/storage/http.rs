//! The HTTP surface of the Cloud Storage JSON API: bucket and object routes, media and
//! multipart uploads (`multipart/related`: JSON metadata, the bytes, and optionally the
//! checksums google-cloud-storage appends), `alt=media` downloads with the `x-goog-*` headers
//! the official client reads. Every error is answered in Storage's legacy shape.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::answer::{
    Answer, header_str, int_query, json_response, ok, read_metadata, require_bucket_project,
    require_project,
};
use super::model::{Object, StorageError, Upload};
use crate::error::ApiError;
use crate::router::{Api, Call, Reply, row};

/// Query parameters of storage.objects.get (metadata and `alt=media` downloads alike).
const OBJECT_GET_QUERY: &[&str] = &[
    "generation",
    "ifGenerationMatch",
    "ifGenerationNotMatch",
    "ifMetagenerationMatch",
    "ifMetagenerationNotMatch",
    "projection",
    "restoreToken",
    "softDeleted",
    "userProject",
];
/// Query parameters of storage.objects.insert.
const OBJECT_INSERT_QUERY: &[&str] = &[
    "contentEncoding",
    "ifGenerationMatch",
    "ifGenerationNotMatch",
    "ifMetagenerationMatch",
    "ifMetagenerationNotMatch",
    "kmsKeyName",
    "name",
    "predefinedAcl",
    "projection",
    "userProject",
];
/// The PUTs of a resumable upload: the session URL the insert answered names the session with
/// `upload_id` (a parameter of the resumable upload protocol, not of the discovery method).
const RESUMABLE_QUERY: &[&str] = &["uploadId"];
const OBJECT_PATH: &str = "/storage/v1/b/{bucket}/o/{object=**}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: "",
    enums: &[],
    methods: &[
        row(
            Method::POST,
            "/storage/v1/b",
            "storage.buckets.insert",
            &[
                "enableObjectRetention",
                "predefinedAcl",
                "predefinedDefaultObjectAcl",
                "project",
                "projection",
                "userProject",
            ],
            |c| Box::pin(legacy(c, insert_bucket)),
        )
        .needs("storage.buckets.create"),
        row(
            Method::GET,
            "/storage/v1/b",
            "storage.buckets.list",
            &[
                "maxResults",
                "pageToken",
                "prefix",
                "project",
                "projection",
                "returnPartialSuccess",
                "softDeleted",
                "userProject",
            ],
            |c| Box::pin(legacy(c, list_buckets)),
        )
        .needs("storage.buckets.list"),
        row(
            Method::GET,
            "/storage/v1/b/{bucket}",
            "storage.buckets.get",
            &[
                "generation",
                "ifMetagenerationMatch",
                "ifMetagenerationNotMatch",
                "projection",
                "softDeleted",
                "userProject",
            ],
            |c| Box::pin(legacy(c, get_bucket)),
        )
        .needs("storage.buckets.get"),
        row(
            Method::DELETE,
            "/storage/v1/b/{bucket}",
            "storage.buckets.delete",
            &[
                "ifMetagenerationMatch",
                "ifMetagenerationNotMatch",
                "userProject",
            ],
            |c| Box::pin(legacy(c, delete_bucket)),
        )
        .needs("storage.buckets.delete"),
        row(
            Method::POST,
            "/upload/storage/v1/b/{bucket}/o",
            "storage.objects.insert",
            OBJECT_INSERT_QUERY,
            |c| Box::pin(legacy(c, upload)),
        )
        .needs("storage.objects.create"),
        row(
            Method::PUT,
            "/upload/storage/v1/b/{bucket}/o",
            "storage.objects.insert",
            RESUMABLE_QUERY,
            |c| Box::pin(legacy(c, super::resumable::put)),
        )
        .needs("storage.objects.create"),
        row(
            Method::GET,
            "/storage/v1/b/{bucket}/o",
            "storage.objects.list",
            &[
                "delimiter",
                "endOffset",
                "filter",
                "includeFoldersAsPrefixes",
                "includeTrailingDelimiter",
                "matchGlob",
                "maxResults",
                "pageToken",
                "prefix",
                "projection",
                "softDeleted",
                "startOffset",
                "userProject",
                "versions",
            ],
            |c| Box::pin(legacy(c, list_objects)),
        )
        .needs("storage.objects.list"),
        row(
            Method::GET,
            OBJECT_PATH,
            "storage.objects.get",
            OBJECT_GET_QUERY,
            |c| Box::pin(legacy(c, get_object)),
        )
        .needs("storage.objects.get"),
        row(
            Method::GET,
            "/download/storage/v1/b/{bucket}/o/{object=**}",
            "storage.objects.get",
            OBJECT_GET_QUERY,
            |c| Box::pin(legacy(c, download)),
        )
        .needs("storage.objects.get"),
        row(
            Method::DELETE,
            OBJECT_PATH,
            "storage.objects.delete",
            &[
                "generation",
                "ifGenerationMatch",
                "ifGenerationNotMatch",
                "ifMetagenerationMatch",
                "ifMetagenerationNotMatch",
                "userProject",
            ],
            |c| Box::pin(legacy(c, delete_object)),
        )
        .needs("storage.objects.delete"),
    ],
};

/// Runs a handler and answers its error in Storage's legacy shape.
async fn legacy(call: Call, handler: fn(&Call) -> Answer) -> Result<Reply, ApiError> {
    let response = handler(&call).unwrap_or_else(|e| json_response(e.status, &e.body()));
    Ok(Reply::Raw(response))
}

fn insert_bucket(call: &Call) -> Answer {
    let project = call
        .query("project")
        .ok_or_else(|| StorageError::required("project"))?;
    let number = require_project(call, project)?;
    let body: Map<String, Value> = serde_json::from_slice(&call.body).map_err(|e| {
        StorageError::new(
            StatusCode::BAD_REQUEST,
            "parseError",
            format!("Parse Error: {e}"),
        )
    })?;
    let bucket = call
        .emu
        .world(|w| w.storage.insert_bucket(project, number, body))?;
    ok(&bucket.to_json(call.emu.base_url()))
}

fn list_buckets(call: &Call) -> Answer {
    let project = call
        .query("project")
        .ok_or_else(|| StorageError::required("project"))?;
    require_project(call, project)?;
    let prefix = call.query("prefix").unwrap_or_default();
    let buckets = call.emu.world(|w| w.storage.list_buckets(project, prefix));
    let items = buckets.iter().map(|b| b.to_json(call.emu.base_url()));
    ok(&list_body("storage#buckets", items))
}

/// A list answer: `{"kind", "items"}`, `items` omitted when empty (as the JSON API does).
fn list_body(kind: &str, items: impl Iterator<Item = Value>) -> Value {
    let items: Vec<Value> = items.collect();
    let mut body = json!({ "kind": kind });
    if !items.is_empty() {
        body["items"] = Value::Array(items);
    }
    body
}

fn get_bucket(call: &Call) -> Answer {
    let bucket = call.param("bucket");
    require_bucket_project(call, bucket)?;
    let found = call.emu.world(|w| w.storage.bucket(bucket).cloned())?;
    ok(&found.to_json(call.emu.base_url()))
}

fn delete_bucket(call: &Call) -> Answer {
    let bucket = call.param("bucket");
    require_bucket_project(call, bucket)?;
    call.emu.world(|w| w.storage.delete_bucket(bucket))?;
    Ok(empty())
}

fn empty() -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .unwrap_or_default()
}

fn upload(call: &Call) -> Answer {
    let bucket = call.param("bucket");
    require_bucket_project(call, bucket)?;
    let mut upload = Upload {
        name: call.query("name").unwrap_or_default().to_string(),
        if_generation_match: int_query(call, "ifGenerationMatch")?,
        if_generation_not_match: int_query(call, "ifGenerationNotMatch")?,
        ..Upload::default()
    };
    let content_type = header_str(&call.headers, header::CONTENT_TYPE);
    let data = match call.query("uploadType") {
        Some("media") => {
            upload.content_type = content_type.to_string();
            call.body.to_vec()
        }
        Some("multipart") => multipart(content_type, &call.body, &mut upload)?,
        Some("resumable") => return super::resumable::start(call, upload),
        Some(other) => {
            return Err(StorageError::invalid(format!(
                "Invalid upload type '{other}': use media or multipart."
            )));
        }
        None => return Err(StorageError::required("uploadType")),
    };
    let object = call.emu.world(|w| w.storage.upload(bucket, upload, data))?;
    ok(&object.to_json(call.emu.base_url()))
}

/// Reads a `multipart/related` upload: metadata JSON, the bytes, optional trailing checksums.
fn multipart(
    content_type: &str,
    body: &[u8],
    upload: &mut Upload,
) -> Result<Vec<u8>, StorageError> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .next()
        .filter(|_| content_type.starts_with("multipart/related"))
        .ok_or_else(|| {
            StorageError::invalid(
                "A multipart upload needs Content-Type: multipart/related; boundary=...",
            )
        })?;
    let parts = split_multipart(body, &boundary)
        .filter(|parts| parts.len() >= 2)
        .ok_or_else(|| {
            StorageError::invalid(
                "Malformed multipart body: expected a metadata part and a media part.",
            )
        })?;
    read_metadata(parts[0].1, upload)?;
    if upload.content_type.is_empty() {
        upload.content_type = part_header(parts[1].0, "content-type").unwrap_or_default();
    }
    let text = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(String::from);
    if let Some((_, trailer)) = parts.get(2) {
        let sums: Map<String, Value> = serde_json::from_slice(trailer).unwrap_or_default();
        upload.md5_hash = text(&sums, "md5Hash").or(upload.md5_hash.take());
        upload.crc32c = text(&sums, "crc32c").or(upload.crc32c.take());
    }
    Ok(parts[1].1.to_vec())
}

fn part_header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The parts of a multipart body as (headers, content).
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<(&'a str, &'a [u8])>> {
    let open = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut rest = &body[find(body, open.as_bytes())? + open.len()..];
    let mut parts = Vec::new();
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, next.as_bytes())?;
        let part = &rest[..end];
        let split = find(part, b"\r\n\r\n");
        let (headers, content) = match split {
            Some(i) => (&part[..i], &part[i + 4..]),
            None if part.starts_with(b"\r\n") => (&part[..0], &part[2..]),
            None => return None,
        };
        parts.push((std::str::from_utf8(headers).ok()?, content));
        rest = &rest[end + next.len()..];
    }
    Some(parts)
}

fn get_object(call: &Call) -> Answer {
    if call.query("alt") == Some("media") {
        return download(call);
    }
    let object = requested_object(call)?;
    ok(&object.to_json(call.emu.base_url()))
}

/// The object the path names (at the `generation` asked for, else the live one).
fn requested_object(call: &Call) -> Result<Object, StorageError> {
    let bucket = call.param("bucket");
    require_bucket_project(call, bucket)?;
    let generation = int_query(call, "generation")?;
    call.emu.world(|w| {
        w.storage
            .object(bucket, call.param("object"), generation)
            .cloned()
    })
}

/// The bytes, with the headers google-cloud-storage's reader requires.
fn download(call: &Call) -> Answer {
    let object = requested_object(call)?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, &object.content_type)
        .header(header::ETAG, object.etag())
        .header("x-goog-generation", object.generation.to_string())
        .header("x-goog-metageneration", "1")
        .header("x-goog-stored-content-length", object.size.to_string())
        .header("x-goog-stored-content-encoding", "identity")
        .header("x-goog-storage-class", "STANDARD")
        .header(
            "x-goog-hash",
            format!("crc32c={},md5={}", object.crc32c, object.md5_hash),
        )
        .body(Body::from(object.data.as_ref().clone()))
        .map_err(|e| {
            StorageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "backendError",
                e.to_string(),
            )
        })
}

fn list_objects(call: &Call) -> Answer {
    let bucket = call.param("bucket");
    require_bucket_project(call, bucket)?;
    let prefix = call.query("prefix").unwrap_or_default();
    let objects = call.emu.world(|w| w.storage.list_objects(bucket, prefix))?;
    let items = objects.iter().map(|o| o.to_json(call.emu.base_url()));
    ok(&list_body("storage#objects", items))
}

fn delete_object(call: &Call) -> Answer {
    let bucket = call.param("bucket");
    require_bucket_project(call, bucket)?;
    let if_generation_match = int_query(call, "ifGenerationMatch")?;
    call.emu.world(|w| {
        w.storage
            .delete_object(bucket, call.param("object"), if_generation_match)
    })?;
    Ok(empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_are_split_on_the_boundary() {
        let body = b"--xyz\r\nContent-Type: application/json\r\n\r\n{\"name\":\"a.txt\"}\r\n--xyz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xyz--\r\n";
        let parts = split_multipart(body, "xyz").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].1, b"{\"name\":\"a.txt\"}");
        assert_eq!(parts[1].1, b"hello");
        let mut upload = Upload::default();
        let data = multipart("multipart/related; boundary=xyz", body, &mut upload).unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(upload.name, "a.txt");
        assert_eq!(upload.content_type, "text/plain");
    }
}
