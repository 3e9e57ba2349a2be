//! Cloud Storage through its JSON API (the official storage crate manages buckets over gRPC
//! only): the calls `--build source` makes to stage its sources. A refusal becomes the same
//! error the other clients return (Google's status, with the code its HTTP status stands for),
//! so one retry rule and one explanation apply to these calls too.

use bytes::Bytes;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, Status};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::Google;
use super::errors::Kind;

const STORAGE_ENDPOINT: &str = "https://storage.googleapis.com";
pub const ROLE: &str = "roles/storage.admin";

/// The HTTP client and endpoint of the JSON API, built once with the other clients.
#[derive(Clone, Debug)]
pub struct Storage {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
}

impl Storage {
    /// A client for `endpoint` (Google's when `None`) that signs with `credentials`.
    pub fn new(endpoint: Option<&str>, credentials: Credentials) -> anyhow::Result<Storage> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the Cloud Storage client: {e}"))?;
        let base = endpoint.unwrap_or(STORAGE_ENDPOINT).trim_end_matches('/');
        Ok(Storage {
            http,
            base: base.to_string(),
            credentials,
        })
    }

    /// Sends one attempt of `request` with the credentials' headers; the JSON answer, or the
    /// failure as a google-cloud error.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, GaxError> {
        let headers = headers(&self.credentials).await?;
        let response = request.headers(headers).send().await.map_err(|e| {
            // No answer: as transient as Google's own clients consider it.
            refused(
                Code::Unavailable,
                format!("cannot reach {}: {e}", self.base),
            )
        })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(GaxError::deser);
        }
        let mut answer = Status::try_from(&body).unwrap_or_else(|_| {
            Status::default().set_message(String::from_utf8_lossy(&body).into_owned())
        });
        if answer.code == Code::Unknown {
            answer.code = code_of(status);
        }
        Err(GaxError::service(answer))
    }
}

/// The Authorization (and quota project) headers of `credentials`; none when anonymous.
pub async fn headers(credentials: &Credentials) -> Result<HeaderMap, GaxError> {
    match credentials.headers(http::Extensions::new()).await {
        Ok(CacheableResource::New { data, .. }) => Ok(data),
        Ok(CacheableResource::NotModified) => Ok(HeaderMap::new()),
        Err(e) => Err(refused(
            if e.is_transient() {
                Code::Unavailable
            } else {
                Code::Unauthenticated
            },
            format!("cannot get Google credentials: {e}"),
        )),
    }
}

fn refused(code: Code, message: String) -> GaxError {
    GaxError::service(Status::default().set_code(code).set_message(message))
}

/// The canonical code an HTTP status stands for (the JSON API's errors carry no `status`).
fn code_of(http_status: u16) -> Code {
    match http_status {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::AlreadyExists,
        412 => Code::FailedPrecondition,
        429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        500..=599 => Code::Internal,
        _ => Code::Unknown,
    }
}

/// The names of `google.project`'s buckets that start with `prefix` (one page: enough to find
/// one name).
pub async fn bucket_names(google: &Google, prefix: &str) -> anyhow::Result<Vec<String>> {
    let storage = &google.clients.storage;
    let what = format!("list the buckets of project {}", google.project);
    let answer = super::send(google, google.call(&what, ROLE), || {
        storage.send(
            storage
                .http
                .get(format!("{}/storage/v1/b", storage.base))
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
                        .http
                        .post(format!("{}/storage/v1/b", storage.base))
                        .query(&[("project", google.project.as_str())])
                        .json(&body),
                )
            },
            || async {
                let listed = storage
                    .send(
                        storage
                            .http
                            .get(format!("{}/storage/v1/b", storage.base))
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
                .http
                .post(format!("{}/upload/storage/v1/b/{bucket}/o", storage.base))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_stand_for_the_codes_chatctl_reacts_to() {
        let error = |status| GaxError::service(Status::default().set_code(code_of(status)));
        assert_eq!(super::super::errors::classify(&error(404)), Kind::NotFound);
        assert_eq!(
            super::super::errors::classify(&error(409)),
            Kind::AlreadyExists
        );
        assert_eq!(super::super::errors::classify(&error(503)), Kind::Transient);
        assert_eq!(super::super::errors::classify(&error(500)), Kind::Transient);
    }
}
