//! Cloud Storage through its JSON API (the official storage crate manages buckets over gRPC
//! only): the calls `--build source` makes to stage its sources.

use bytes::Bytes;
use serde_json::{Value, json};

use super::Google;
use super::errors::Kind;

/// Google's endpoint of the Cloud Storage JSON API.
pub const ENDPOINT: &str = "https://storage.googleapis.com";
pub const ROLE: &str = "roles/storage.admin";

/// The names of `google.project`'s buckets that start with `prefix` (one page: enough to find
/// one name).
pub async fn bucket_names(google: &Google, prefix: &str) -> anyhow::Result<Vec<String>> {
    let storage = &google.clients.storage;
    let what = format!("list the buckets of project {}", google.project);
    let answer = super::send(google, google.call(&what, ROLE), || {
        storage.send(
            storage
                .request(reqwest::Method::GET, "/storage/v1/b")
                .query(&[("project", google.project.as_str()), ("prefix", prefix)]),
        )
    })
    .await?;
    Ok(answer["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|bucket| bucket["name"].as_str().map(str::to_string))
        .collect())
}

/// Creates `bucket` in the region, with uniform access, `labels` and a rule deleting objects
/// after `delete_after_days`. Ok(false) when the name is taken (bucket names are global). A
/// create that failed transiently is looked up among the project's buckets before it is sent
/// again, so a create that went through is not mistaken for a name taken by someone else.
pub async fn create_bucket(
    google: &Google,
    bucket: &str,
    labels: &[(String, String)],
    delete_after_days: u32,
) -> anyhow::Result<bool> {
    let storage = &google.clients.storage;
    let labels: serde_json::Map<String, Value> =
        labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let body = json!({
        "name": bucket,
        "location": google.region,
        "storageClass": "STANDARD",
        "iamConfiguration": { "uniformBucketLevelAccess": { "enabled": true } },
        "labels": labels,
        "lifecycle": { "rule": [ { "action": { "type": "Delete" }, "condition": { "age": delete_after_days } } ] },
    });
    let what = format!("create staging bucket {bucket}");
    let created = google
        .retry()
        .create_or_find(
            &what,
            || {
                storage.send(
                    storage
                        .request(reqwest::Method::POST, "/storage/v1/b")
                        .query(&[("project", google.project.as_str())])
                        .json(&body),
                )
            },
            || async {
                let listed = storage
                    .send(
                        storage
                            .request(reqwest::Method::GET, "/storage/v1/b")
                            .query(&[("project", google.project.as_str()), ("prefix", bucket)]),
                    )
                    .await?;
                let ours = listed["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|b| b["name"] == bucket));
                Ok(ours.then_some(Value::Null))
            },
        )
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(e) if super::errors::classify(&e) == Kind::AlreadyExists => Ok(false),
        Err(e) => Err(super::errors::explain(e, google.call(&what, ROLE))),
    }
}

/// Uploads `data` as `object` (a simple media upload, idempotent: it overwrites); returns the
/// object's generation.
pub async fn upload(
    google: &Google,
    bucket: &str,
    object: &str,
    data: Bytes,
) -> anyhow::Result<i64> {
    let storage = &google.clients.storage;
    let what = format!("upload the chat-server sources to gs://{bucket}/{object}");
    let answer = super::send(google, google.call(&what, ROLE), || {
        storage.send(
            storage
                .request(
                    reqwest::Method::POST,
                    &format!("/upload/storage/v1/b/{bucket}/o"),
                )
                .query(&[("uploadType", "media"), ("name", object)])
                .header(reqwest::header::CONTENT_TYPE, "application/gzip")
                .body(data.clone()),
        )
    })
    .await?;
    // int64 fields are strings in the JSON API.
    answer["generation"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{what}: the answer carries no generation"))
}
