//! The Cloud Storage staging bucket for `--build source` (JSON API over reqwest with ADC
//! headers: the official storage crate manages buckets over gRPC only). Names the bucket as
//! `gcloud builds submit` does, checks that the project owns it, creates it with uniform
//! access and a 7-day lifecycle for staged sources, and uploads the archive.

use super::{ImageContext, ImageError};
use crate::gcp::errors::Kind;
use reqwest::header::HeaderMap;
use serde_json::json;

const STORAGE_ENDPOINT: &str = "https://storage.googleapis.com";
/// Staged sources are deleted by the bucket's lifecycle rule after this many days.
const STAGED_SOURCE_DAYS: u32 = 7;

/// `gcloud builds submit`'s default: `<project>_cloudbuild`, with `:` and `.` of domain-scoped
/// project ids replaced by `_` and `google` spelt `elgoog` (bucket names may not contain it).
pub fn default_bucket_name(project: &str) -> String {
    format!(
        "{}_cloudbuild",
        project.replace([':', '.'], "_").replace("google", "elgoog")
    )
}

/// The Authorization (and quota project) headers of `ctx.credentials`; empty when anonymous.
pub async fn google_headers(ctx: &ImageContext) -> Result<HeaderMap, ImageError> {
    use google_cloud_auth::credentials::CacheableResource;
    match ctx.credentials.headers(http::Extensions::new()).await {
        Ok(CacheableResource::New { data, .. }) => Ok(data),
        Ok(CacheableResource::NotModified) => Ok(HeaderMap::new()),
        Err(e) => Err(ImageError::Api {
            action: "get Google credentials".into(),
            message: format!(
                "{e} (run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS)"
            ),
        }),
    }
}

/// One Storage JSON API session: endpoint, HTTP client and auth headers.
struct Storage {
    http: reqwest::Client,
    base: String,
    headers: HeaderMap,
    retry: crate::gcp::retry::RetryPolicy,
}

impl Storage {
    async fn new(ctx: &ImageContext) -> Result<Storage, ImageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| ImageError::Api {
                action: "create an HTTP client".into(),
                message: e.to_string(),
            })?;
        let base = ctx
            .api_endpoint
            .clone()
            .unwrap_or_else(|| STORAGE_ENDPOINT.into());
        Ok(Storage {
            http,
            base: base.trim_end_matches('/').to_string(),
            headers: google_headers(ctx).await?,
            retry: ctx.retry,
        })
    }

    /// Sends `request`, retrying as every Google call is retried ([`crate::gcp::retry::RetryPolicy::window`]):
    /// 429, 5xx and network failures, and SERVICE_DISABLED right after an enable, with the
    /// context's backoff. Every Storage call here is idempotent: a list, a named insert, an
    /// overwrite.
    async fn send(
        &self,
        action: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, serde_json::Value), ImageError> {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            let attempt_request = request.try_clone().ok_or_else(|| ImageError::Api {
                action: action.into(),
                message: "the request body cannot be resent".into(),
            })?;
            let (kind, outcome) = match attempt_request.headers(self.headers.clone()).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.json().await.unwrap_or(serde_json::Value::Null);
                    let kind = match status {
                        429 | 500..=504 => Kind::Transient,
                        403 if service_disabled(&body) => Kind::ServiceDisabled,
                        _ => Kind::Other,
                    };
                    (kind, Ok((status, body)))
                }
                Err(e) => {
                    let kind = if e.is_connect() || e.is_timeout() {
                        Kind::Transient
                    } else {
                        Kind::Other
                    };
                    let error = ImageError::Api {
                        action: action.into(),
                        message: format!("{e} ({})", self.base),
                    };
                    (kind, Err(error))
                }
            };
            let delay = self.retry.backoff(attempt);
            match self.retry.window(kind) {
                Some(window) if started.elapsed() + delay < window => {}
                _ => return outcome,
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Whether a JSON error body says the API is disabled (ErrorInfo SERVICE_DISABLED, or the
/// legacy `accessNotConfigured` reason).
fn service_disabled(body: &serde_json::Value) -> bool {
    let error = &body["error"];
    let info = error["details"]
        .as_array()
        .is_some_and(|d| d.iter().any(|d| d["reason"] == "SERVICE_DISABLED"));
    let legacy = error["errors"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["reason"] == "accessNotConfigured"));
    info || legacy
}

fn api_error(action: &str, status: u16, body: &serde_json::Value) -> ImageError {
    let message = body["error"]["message"].as_str().unwrap_or("no message");
    let hint = match status {
        401 => " (run `gcloud auth application-default login`)",
        403 => {
            " (your account needs roles/storage.admin on the project, and the Cloud Storage API must be enabled)"
        }
        _ => "",
    };
    ImageError::Api {
        action: action.into(),
        message: format!("HTTP {status}: {message}{hint}"),
    }
}

/// Makes sure the staging bucket exists and belongs to the project; returns its name.
pub async fn ensure_bucket(ctx: &ImageContext) -> Result<String, ImageError> {
    let bucket = ctx
        .staging_bucket
        .clone()
        .unwrap_or_else(|| default_bucket_name(&ctx.project));
    let storage = Storage::new(ctx).await?;
    // Ownership check as gcloud does it: list the project's buckets with the name as prefix.
    let list = storage
        .http
        .get(format!("{}/storage/v1/b", storage.base))
        .query(&[
            ("project", ctx.project.as_str()),
            ("prefix", bucket.as_str()),
        ]);
    let action = format!("list the buckets of project {}", ctx.project);
    let (status, body) = storage.send(&action, list).await?;
    if status != 200 {
        return Err(api_error(&action, status, &body));
    }
    let owned = body["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|b| b["name"] == bucket.as_str()));
    if owned {
        return Ok(bucket);
    }
    let labels: serde_json::Map<String, serde_json::Value> = ctx
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let insert = storage
        .http
        .post(format!("{}/storage/v1/b", storage.base))
        .query(&[("project", ctx.project.as_str())])
        .json(&json!({
            "name": bucket,
            "location": ctx.region,
            "storageClass": "STANDARD",
            "iamConfiguration": { "uniformBucketLevelAccess": { "enabled": true } },
            "labels": labels,
            "lifecycle": { "rule": [ { "action": { "type": "Delete" }, "condition": { "age": STAGED_SOURCE_DAYS } } ] },
        }));
    let action = format!("create staging bucket {bucket}");
    match storage.send(&action, insert).await? {
        (200, _) => Ok(bucket),
        (409, _) => Err(ImageError::Api {
            action,
            message: "the name is taken by another project (bucket names are global); choose one with --staging-bucket".into(),
        }),
        (status, body) => Err(api_error(&action, status, &body)),
    }
}

/// Uploads `data` as `object` (a simple media upload); returns the object's generation.
pub async fn upload(
    ctx: &ImageContext,
    bucket: &str,
    object: &str,
    data: bytes::Bytes,
) -> Result<i64, ImageError> {
    let storage = Storage::new(ctx).await?;
    let request = storage
        .http
        .post(format!("{}/upload/storage/v1/b/{bucket}/o", storage.base))
        .query(&[("uploadType", "media"), ("name", object)])
        .header(reqwest::header::CONTENT_TYPE, "application/gzip")
        .body(data);
    let action = format!("upload the chat-server sources to gs://{bucket}/{object}");
    let (status, body) = storage.send(&action, request).await?;
    if status != 200 {
        return Err(api_error(&action, status, &body));
    }
    // int64 fields are strings in the JSON API.
    body["generation"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .ok_or_else(|| ImageError::Api {
            action,
            message: "the upload's response has no generation".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_gcloud() {
        assert_eq!(default_bucket_name("my-project"), "my-project_cloudbuild");
        assert_eq!(
            default_bucket_name("example.com:my-google-app"),
            "example_com_my-elgoog-app_cloudbuild"
        );
    }
}
