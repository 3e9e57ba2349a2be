//! Google's JSON APIs over plain HTTP, for the calls the official crates do not offer (Cloud
//! Storage's buckets and objects, Serverless VPC Access's `connectors.patch`, Cloud Logging's
//! entries, Org Policy's effective policies). Requests are
//! signed with the clients' credentials, and a refusal becomes the same error the crates return
//! (Google's status, with the code its HTTP status stands for), so one retry rule and one
//! explanation apply to these calls too.

use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, Status};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// One JSON API: its HTTP client and base URL, built once with the other clients.
#[derive(Clone, Debug)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
}

impl Rest {
    /// A client for `endpoint` (the override) or else `google_endpoint`, signing with
    /// `credentials`; one request may take at most `timeout`.
    pub fn new(
        endpoint: Option<&str>,
        google_endpoint: &str,
        credentials: Credentials,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Rest> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the client of {google_endpoint}: {e}"))?;
        let base = endpoint.unwrap_or(google_endpoint).trim_end_matches('/');
        Ok(Rest {
            http,
            base: base.to_string(),
            credentials,
        })
    }

    /// A request to `path` (starting with `/`) of this API.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends one attempt of `request` with the credentials' headers; the JSON answer, or the
    /// failure as a google-cloud error.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, GaxError> {
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
            if body.is_empty() {
                return Ok(Value::Null); // e.g. 204 No Content of a delete
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcp::errors::{Kind, classify};

    #[test]
    fn http_statuses_stand_for_the_codes_chatctl_reacts_to() {
        let error = |status| GaxError::service(Status::default().set_code(code_of(status)));
        assert_eq!(classify(&error(404)), Kind::NotFound);
        assert_eq!(classify(&error(409)), Kind::AlreadyExists);
        assert_eq!(classify(&error(503)), Kind::Transient);
        assert_eq!(classify(&error(500)), Kind::Transient);
    }
}
