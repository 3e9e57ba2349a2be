//! Cloud Storage JSON API: buckets over raw HTTP (the official crate manages buckets over gRPC
//! only), objects through the official google-cloud-storage client (multipart upload, ranged
//! media reads with checksum validation) and through simple media uploads; errors in
//! Storage's legacy shape.

mod common;

use common::*;
use google_cloud_storage::client::Storage;
use serde_json::{Value, json};

const PROJECT: &str = "storage-test-proj";
const BUCKET: &str = "storage-test-proj_cloudbuild";

async fn storage_client(base_url: &str) -> Storage {
    Storage::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .build()
        .await
        .expect("build the Storage client")
}

async fn insert_bucket(base_url: &str, project: &str, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{base_url}/storage/v1/b"))
        .query(&[("project", project)])
        .json(&body)
        .send()
        .await
        .expect("the emulator answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A legacy error body: `{"error":{"code","message","errors":[{reason,..}]}}`, no `status`.
fn legacy_reason(body: &Value) -> &str {
    assert!(
        body["error"].get("status").is_none(),
        "Storage errors have no status: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body["error"]["errors"][0]["reason"].as_str().unwrap_or("")
}

#[tokio::test]
async fn buckets_are_global_named_by_rule_and_uniform_when_asked() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let (status, bucket) = insert_bucket(
        base,
        PROJECT,
        json!({
            "name": BUCKET,
            "location": "us-central1",
            "storageClass": "STANDARD",
            "iamConfiguration": { "uniformBucketLevelAccess": { "enabled": true } },
            "labels": { "managed-by": "chatctl" },
            "lifecycle": { "rule": [{ "action": { "type": "Delete" }, "condition": { "age": 7 } }] },
        }),
    )
    .await;
    assert_eq!(status, 200, "{bucket}");
    assert_eq!(bucket["kind"], "storage#bucket");
    assert_eq!(bucket["name"], BUCKET);
    assert_eq!(bucket["location"], "US-CENTRAL1");
    assert_eq!(
        bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"],
        true
    );
    assert_eq!(bucket["labels"]["managed-by"], "chatctl");
    assert!(
        bucket["projectNumber"].as_str().is_some(),
        "int64 as a string"
    );

    let got: Value = get_json(format!("{base}/storage/v1/b/{BUCKET}")).await;
    assert_eq!(got["name"], BUCKET);
    let listed: Value = get_json(format!(
        "{base}/storage/v1/b?project={PROJECT}&prefix=storage-test"
    ))
    .await;
    assert_eq!(listed["items"][0]["name"], BUCKET);
    let others: Value = get_json(format!("{base}/storage/v1/b?project=another-project")).await;
    assert!(
        others.get("items").is_none(),
        "another project owns no bucket: {others}"
    );

    // Names are global: taken by this project or by another, it is 409.
    let (status, body) = insert_bucket(base, PROJECT, json!({ "name": BUCKET })).await;
    assert_eq!((status, legacy_reason(&body)), (409, "conflict"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already own it")
    );
    let (status, body) = insert_bucket(base, "another-project", json!({ "name": BUCKET })).await;
    assert_eq!((status, legacy_reason(&body)), (409, "conflict"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not available")
    );

    for bad in ["My_Bucket", "ab", "my-google-bucket", "-dash"] {
        let (status, body) = insert_bucket(base, PROJECT, json!({ "name": bad })).await;
        assert_eq!((status, legacy_reason(&body)), (400, "invalid"), "{bad}");
    }
    let (status, body) =
        insert_bucket(base, PROJECT, json!({ "name": "x-y-z", "colour": 1 })).await;
    assert_eq!((status, legacy_reason(&body)), (400, "invalid"));
    let response = http()
        .post(format!("{base}/storage/v1/b"))
        .json(&json!({ "name": "no-project-given" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(legacy_reason(&body), "required");
    let missing = http()
        .get(format!("{base}/storage/v1/b/no-such-bucket"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(legacy_reason(&missing.json().await.unwrap()), "notFound");
}

#[tokio::test]
async fn objects_upload_and_read_back_through_the_official_client() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let (status, _) = insert_bucket(base, PROJECT, json!({ "name": BUCKET })).await;
    assert_eq!(status, 200);
    let storage = storage_client(base).await;
    let bucket = format!("projects/_/buckets/{BUCKET}");
    let contents = "chat-server sources ".repeat(1000);

    let written = storage
        .write_object(&bucket, "source/chat-server.tgz", contents.clone())
        .set_content_type("application/gzip")
        .send_buffered()
        .await
        .expect("the multipart upload succeeds (checksums verified by the client)");
    assert_eq!(written.size, contents.len() as i64);
    assert!(written.generation > 0);
    assert_eq!(written.content_type, "application/gzip");

    let mut reader = storage
        .read_object(&bucket, "source/chat-server.tgz")
        .send()
        .await
        .expect("the object can be read");
    assert_eq!(reader.object().generation, written.generation);
    let mut read = Vec::new();
    while let Some(chunk) = reader.next().await {
        read.extend_from_slice(&chunk.expect("a chunk, checksum verified"));
    }
    assert_eq!(read, contents.as_bytes());

    // A new upload is a new generation; ifGenerationMatch=0 (create-only) now fails with 412.
    let again = storage
        .write_object(&bucket, "source/chat-server.tgz", "v2")
        .send_buffered()
        .await
        .unwrap();
    assert!(again.generation > written.generation);
    let refused = storage
        .write_object(&bucket, "source/chat-server.tgz", "v3")
        .set_if_generation_match(0)
        .send_buffered()
        .await
        .expect_err("the object exists");
    assert_eq!(refused.http_status_code(), Some(412), "{refused}");

    let missing = storage
        .read_object(&bucket, "source/none.tgz")
        .send()
        .await
        .expect_err("no such object");
    assert_eq!(missing.http_status_code(), Some(404), "{missing}");
}

#[tokio::test]
async fn simple_media_uploads_answer_the_object_json() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    insert_bucket(base, PROJECT, json!({ "name": BUCKET })).await;
    let upload = |name: &str, body: &'static [u8], extra: &[(&str, &str)]| {
        let mut query = vec![("uploadType", "media"), ("name", name)];
        query.extend_from_slice(extra);
        http()
            .post(format!("{base}/upload/storage/v1/b/{BUCKET}/o"))
            .query(&query)
            .header("content-type", "application/gzip")
            .body(body)
    };
    let response = upload("source/a b.tgz", b"hello world", &[])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let object: Value = response.json().await.unwrap();
    assert_eq!(object["name"], "source/a b.tgz");
    assert_eq!(object["size"], "11");
    assert_eq!(object["md5Hash"], "XrY7u+Ae7tCTyyK7j1rNww==");
    assert_eq!(object["crc32c"], "yZRlqg==");
    assert_eq!(object["contentType"], "application/gzip");
    let generation = object["generation"]
        .as_str()
        .expect("int64 as a string")
        .to_string();

    let metadata: Value =
        get_json(format!("{base}/storage/v1/b/{BUCKET}/o/source%2Fa%20b.tgz")).await;
    assert_eq!(metadata["generation"], generation.as_str());
    let media = http()
        .get(format!("{base}/storage/v1/b/{BUCKET}/o/source%2Fa%20b.tgz"))
        .query(&[("alt", "media")])
        .send()
        .await
        .unwrap();
    assert_eq!(media.headers()["x-goog-generation"], generation.as_str());
    assert_eq!(media.bytes().await.unwrap().as_ref(), b"hello world");

    let conflict = upload("source/a b.tgz", b"x", &[("ifGenerationMatch", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 412);
    assert_eq!(
        legacy_reason(&conflict.json().await.unwrap()),
        "conditionNotMet"
    );
    let no_bucket = http()
        .post(format!("{base}/upload/storage/v1/b/no-such-bucket/o"))
        .query(&[("uploadType", "media"), ("name", "x")])
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(no_bucket.status(), 404);
    let no_name = upload("", b"x", &[]).send().await.unwrap();
    assert_eq!(no_name.status(), 400);
    assert_eq!(legacy_reason(&no_name.json().await.unwrap()), "required");
}

#[tokio::test]
async fn resumable_uploads_in_chunks_through_the_official_client() {
    let emu = start(fast_config()).await;
    insert_bucket(emu.base_url(), PROJECT, json!({ "name": BUCKET })).await;
    let storage = storage_client(emu.base_url()).await;
    let bucket = format!("projects/_/buckets/{BUCKET}");
    // 600 KiB in 256 KiB chunks: three PUTs, the first two answered 308 with the range kept.
    let contents: String = (0..600 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    for (name, unbuffered) in [("big-buffered.tgz", false), ("big-unbuffered.tgz", true)] {
        let write = storage
            .write_object(&bucket, name, contents.clone())
            .set_content_type("application/gzip")
            .with_resumable_upload_threshold(0_usize)
            .with_resumable_upload_buffer_size(256 * 1024_usize);
        let written = if unbuffered {
            write.send_unbuffered().await
        } else {
            write.send_buffered().await
        }
        .unwrap_or_else(|e| panic!("the resumable upload of {name} succeeds: {e}"));
        assert_eq!(written.size, contents.len() as i64);
        assert_eq!(written.content_type, "application/gzip");
        let mut reader = storage.read_object(&bucket, name).send().await.unwrap();
        let mut read = Vec::new();
        while let Some(chunk) = reader.next().await {
            read.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(read, contents.as_bytes(), "{name} reads back");
    }
    let uploads = get_text(format!("{}/_emulator/requests", emu.base_url())).await;
    assert!(
        uploads.matches("uploadType=resumable&upload_id=").count() >= 4,
        "the buffered upload went in several chunks:\n{uploads}"
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_refused() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let (status, _) = insert_bucket(base, PROJECT, json!({ "name": BUCKET })).await;
    assert_eq!(status, 200);
    use reqwest::Method;
    let bucket = format!("{base}/storage/v1/b/{BUCKET}");
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{base}/storage/v1/b?project={PROJECT}&maxResults=5&prefix=storage"),
    )
    .await;
    assert_only_known_query_parameters(Method::GET, &format!("{bucket}?projection=full")).await;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{bucket}/o?prefix=src/&maxResults=10&delimiter=/&versions=false"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::POST,
        &format!(
            "{base}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name=a.txt&ifGenerationMatch=0"
        ),
    )
    .await;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{bucket}/o/a.txt?alt=media&generation=1"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::PUT,
        &format!("{base}/upload/storage/v1/b/{BUCKET}/o?uploadType=resumable&upload_id=none"),
    )
    .await;
}
