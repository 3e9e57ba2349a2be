//! Cloud Storage: the calls `--build source` makes to stage its sources. Buckets and object
//! metadata through the JSON API (the official storage crate manages buckets over gRPC only),
//! the sources' upload through google-cloud-storage's resumable writes.

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

/// How often one upload's requests are tried by google-cloud-storage (a resumable upload
/// resumes from what the service acknowledged), before [`super::send`]'s retries start over.
const UPLOAD_ATTEMPTS: u32 = 5;

/// Uploads `data` as `object` through google-cloud-storage's resumable upload (even when small:
/// a dropped connection resumes instead of resending the archive), with CRC32C and MD5
/// checksums the service verifies; idempotent (it overwrites). Returns the object's generation.
pub async fn upload(
    google: &Google,
    bucket: &str,
    object: &str,
    data: Bytes,
) -> anyhow::Result<i64> {
    use google_cloud_gax::retry_policy::RetryPolicyExt;
    let objects = &google.clients.objects;
    let what = format!("upload the chat-server sources to gs://{bucket}/{object}");
    let written = super::send(google, google.call(&what, ROLE), || {
        objects
            .write_object(format!("projects/_/buckets/{bucket}"), object, data.clone())
            .set_content_type("application/gzip")
            .with_resumable_upload_threshold(0_usize)
            .compute_md5()
            .with_idempotency(true)
            .with_retry_policy(
                google_cloud_storage::retry_policy::RetryableErrors
                    .with_attempt_limit(UPLOAD_ATTEMPTS),
            )
            .send_buffered()
    })
    .await?;
    Ok(written.generation)
}

/// The answer to a call with a generation precondition.
enum Conditional {
    Done(Value),
    /// 412: the object's generation was not the one named.
    PreconditionFailed,
    NotFound,
}

/// Sends a call with a generation precondition, with retries; 412 and 404 are answers, any
/// other failure an explained error.
async fn send_conditional<F, Fut>(
    google: &Google,
    call: super::errors::Call<'_>,
    send: F,
) -> anyhow::Result<Conditional>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Value, google_cloud_gax::error::Error>>,
{
    use google_cloud_gax::error::rpc::Code;
    match google.retry().run(call.what, send).await {
        Ok(value) => Ok(Conditional::Done(value)),
        Err(e) => match e.status().map(|s| s.code) {
            Some(Code::FailedPrecondition) => Ok(Conditional::PreconditionFailed),
            Some(Code::NotFound) => Ok(Conditional::NotFound),
            _ => Err(super::errors::explain(e, call)),
        },
    }
}

/// Writes `value` as the JSON object `object` only if its live generation is `if_generation`
/// (0: only if there is none): Ok(Some(the new generation)), or Ok(None) when that
/// precondition did not hold. Needs storage.objects.create (and .delete to replace).
pub async fn write_json_if(
    google: &Google,
    bucket: &str,
    object: &str,
    value: &Value,
    if_generation: i64,
) -> anyhow::Result<Option<i64>> {
    let storage = &google.clients.storage;
    let what = format!("write gs://{bucket}/{object}");
    let body = serde_json::to_vec(value)?;
    let answer = send_conditional(google, google.call(&what, ROLE), || {
        storage.send(
            storage
                .request(
                    reqwest::Method::POST,
                    &format!("/upload/storage/v1/b/{bucket}/o"),
                )
                .query(&[
                    ("uploadType", "media"),
                    ("name", object),
                    ("ifGenerationMatch", &if_generation.to_string()),
                ])
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone()),
        )
    })
    .await?;
    match answer {
        Conditional::Done(answer) => Ok(Some(generation_of(&answer, &what)?)),
        Conditional::PreconditionFailed => Ok(None),
        Conditional::NotFound => anyhow::bail!(
            "{what} failed: bucket {bucket} does not exist (it was deleted meanwhile?): run the \
             command again"
        ),
    }
}

/// The live generation of the JSON object `object` and its content; None when there is none.
pub async fn read_json(
    google: &Google,
    bucket: &str,
    object: &str,
) -> anyhow::Result<Option<(i64, Value)>> {
    let storage = &google.clients.storage;
    let what = format!("read gs://{bucket}/{object}");
    let path = format!("/storage/v1/b/{bucket}/o/{object}");
    let call = || google.call(&what, "roles/storage.objectViewer");
    let Some(metadata) = super::send_unless(google, call(), Kind::NotFound, || {
        storage.send(storage.request(reqwest::Method::GET, &path))
    })
    .await?
    else {
        return Ok(None);
    };
    let generation = generation_of(&metadata, &what)?;
    // The content of that very generation: a newer one means it changed meanwhile (absent).
    let content = super::send_unless(google, call(), Kind::NotFound, || {
        storage.send(
            storage
                .request(reqwest::Method::GET, &path)
                .query(&[("alt", "media"), ("generation", &generation.to_string())]),
        )
    })
    .await?;
    Ok(content.map(|content| (generation, content)))
}

/// Deletes `object` if its live generation is `if_generation` (whatever it is when None);
/// Ok(false) when there was none or the precondition did not hold.
pub async fn delete_if(
    google: &Google,
    bucket: &str,
    object: &str,
    if_generation: Option<i64>,
) -> anyhow::Result<bool> {
    let storage = &google.clients.storage;
    let what = format!("delete gs://{bucket}/{object}");
    let mut query = Vec::new();
    if let Some(generation) = if_generation {
        query.push(("ifGenerationMatch", generation.to_string()));
    }
    let deleted = send_conditional(google, google.call(&what, ROLE), || {
        storage.send(
            storage
                .request(
                    reqwest::Method::DELETE,
                    &format!("/storage/v1/b/{bucket}/o/{object}"),
                )
                .query(&query),
        )
    })
    .await?;
    Ok(matches!(deleted, Conditional::Done(_)))
}

/// An object's generation (int64 fields are strings in the JSON API).
fn generation_of(answer: &Value, what: &str) -> anyhow::Result<i64> {
    answer["generation"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{what}: the answer carries no generation"))
}
