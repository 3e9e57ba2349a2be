//! A small client of the OCI distribution API (what `docker push` speaks): blob existence,
//! monolithic blob upload, manifest put/get. Handles the registry token flow (a 401 with a
//! `Bearer realm=…` challenge → token from the realm with basic credentials) and plain basic auth.
//! Counts what it uploads so callers can report bytes pushed and prove skipped blobs.

use super::ImageError;
use super::oci::Blob;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Credentials sent to a registry. `Debug` never shows the secret.
#[derive(Clone, Default)]
pub enum RegistryAuth {
    #[default]
    Anonymous,
    /// Username and password (for Artifact Registry: `oauth2accesstoken` and an access token).
    Basic { username: String, password: String },
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryAuth::Anonymous => f.write_str("Anonymous"),
            RegistryAuth::Basic { username, .. } => write!(f, "Basic({username}, [redacted])"),
        }
    }
}

/// What one client has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadStats {
    pub blobs_uploaded: u64,
    pub blobs_skipped: u64,
    pub bytes_uploaded: u64,
}

/// Docker Hub's registry API host: image references name `docker.io` (or `index.docker.io`),
/// but Docker serves the registry API at this host (Docker's documented mapping).
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The base URL of `registry`'s API (`host[:port]` as image references name it): Docker Hub's
/// names mapped to [`DOCKER_HUB_API`]; loopback registries (`localhost`, `127.*`, `[::1]`)
/// over plain HTTP, like Docker; every other registry over HTTPS.
pub fn endpoint(registry: &str) -> String {
    let registry = match registry {
        "docker.io" | "index.docker.io" | "registry.hub.docker.com" => DOCKER_HUB_API,
        other => other,
    };
    let host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
    let scheme = if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{registry}")
}

/// A registry at `base_url` (`https://host` or `http://127.0.0.1:port`).
pub struct RegistryClient {
    http: reqwest::Client,
    base_url: String,
    registry: String,
    auth: RegistryAuth,
    /// Authorization header earned from a challenge, reused until the registry refuses it.
    authorization: Mutex<Option<HeaderValue>>,
    blobs_uploaded: AtomicU64,
    blobs_skipped: AtomicU64,
    bytes_uploaded: AtomicU64,
}

impl RegistryClient {
    /// A client for `registry` (`host[:port]`). Loopback registries (`localhost`, `127.*`) are
    /// spoken to over plain HTTP, like Docker does; every other registry over HTTPS.
    pub fn new(registry: &str, auth: RegistryAuth) -> Result<RegistryClient, ImageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| {
                ImageError::registry(registry, format!("cannot create an HTTP client: {e}"))
            })?;
        Ok(RegistryClient {
            http,
            base_url: endpoint(registry),
            registry: registry.to_string(),
            auth,
            authorization: Mutex::new(None),
            blobs_uploaded: AtomicU64::new(0),
            blobs_skipped: AtomicU64::new(0),
            bytes_uploaded: AtomicU64::new(0),
        })
    }

    pub fn stats(&self) -> UploadStats {
        UploadStats {
            blobs_uploaded: self.blobs_uploaded.load(Ordering::Relaxed),
            blobs_skipped: self.blobs_skipped.load(Ordering::Relaxed),
            bytes_uploaded: self.bytes_uploaded.load(Ordering::Relaxed),
        }
    }

    /// Whether the registry already holds `digest` in `repository` (HEAD blob).
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, ImageError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base_url);
        let response = self.send(repository, || self.http.head(&url)).await?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(self.unexpected("check a blob", status, String::new())),
        }
    }

    /// Uploads `blob` unless the registry has it: HEAD, then POST an upload and PUT the bytes.
    /// Returns whether bytes were sent.
    pub async fn push_blob(&self, repository: &str, blob: &Blob) -> Result<bool, ImageError> {
        if self.blob_exists(repository, &blob.digest).await? {
            self.blobs_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let start_url = format!("{}/v2/{repository}/blobs/uploads/", self.base_url);
        let started = self.send(repository, || self.http.post(&start_url)).await?;
        if started.status() != StatusCode::ACCEPTED {
            let status = started.status();
            return Err(self.unexpected(
                "start a blob upload",
                status,
                started.text().await.unwrap_or_default(),
            ));
        }
        let location = started
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ImageError::registry(
                    &self.registry,
                    "the registry started an upload without a Location",
                )
            })?;
        let location = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base_url)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{separator}digest={}", blob.digest);
        let finished = self
            .send(repository, || {
                self.http
                    .put(&put_url)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(blob.data.clone())
            })
            .await?;
        if finished.status() != StatusCode::CREATED {
            let status = finished.status();
            return Err(self.unexpected(
                "upload a blob",
                status,
                finished.text().await.unwrap_or_default(),
            ));
        }
        self.blobs_uploaded.fetch_add(1, Ordering::Relaxed);
        self.bytes_uploaded
            .fetch_add(blob.data.len() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Stores `manifest` under `reference` (a tag or its digest); returns the digest the
    /// registry computed, which must equal `manifest.digest`.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &Blob,
    ) -> Result<String, ImageError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base_url);
        let response = self
            .send(repository, || {
                self.http
                    .put(&url)
                    .header(CONTENT_TYPE, manifest.media_type)
                    .body(manifest.data.clone())
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            let status = response.status();
            return Err(self.unexpected(
                "store the manifest",
                status,
                response.text().await.unwrap_or_default(),
            ));
        }
        self.bytes_uploaded
            .fetch_add(manifest.data.len() as u64, Ordering::Relaxed);
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&manifest.digest)
            .to_string();
        if digest != manifest.digest {
            return Err(ImageError::registry(
                &self.registry,
                format!(
                    "the registry stored the manifest as {digest}, not {}",
                    manifest.digest
                ),
            ));
        }
        Ok(digest)
    }

    /// The digest of the manifest `reference` points at, or `None` when there is none (HEAD).
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, ImageError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base_url);
        let response = self
            .send(repository, || {
                self.http.head(&url).header("accept", MANIFEST_ACCEPT)
            })
            .await?;
        match response.status() {
            status if status.is_success() => Ok(response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| {
                    reference
                        .starts_with("sha256:")
                        .then(|| reference.to_string())
                })),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(self.unexpected("look up the image", status, String::new())),
        }
    }

    /// Sends a request, answering one authentication challenge if the registry asks.
    async fn send(
        &self,
        repository: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ImageError> {
        let cached = self
            .authorization
            .lock()
            .expect("authorization lock")
            .clone();
        let response = self
            .authorized(request(), cached.as_ref())
            .send()
            .await
            .map_err(|e| self.transport("connect", &e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let authorization = self.answer_challenge(&challenge, repository).await?;
        *self.authorization.lock().expect("authorization lock") = Some(authorization.clone());
        let retried = self
            .authorized(request(), Some(&authorization))
            .send()
            .await
            .map_err(|e| self.transport("connect", &e))?;
        if retried.status() == StatusCode::UNAUTHORIZED || retried.status() == StatusCode::FORBIDDEN
        {
            return Err(self.refused(retried.status()));
        }
        Ok(retried)
    }

    fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        authorization: Option<&HeaderValue>,
    ) -> reqwest::RequestBuilder {
        match authorization {
            Some(value) => request.header(AUTHORIZATION, value.clone()),
            None => request,
        }
    }

    /// Turns a `WWW-Authenticate` challenge into an Authorization header.
    async fn answer_challenge(
        &self,
        challenge: &str,
        repository: &str,
    ) -> Result<HeaderValue, ImageError> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return match &self.auth {
                RegistryAuth::Basic { username, password } => Ok(basic_header(username, password)),
                RegistryAuth::Anonymous => Err(self.refused(StatusCode::UNAUTHORIZED)),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ImageError::registry(
                &self.registry,
                format!("unsupported authentication challenge `{scheme}`"),
            ));
        }
        let param = |key: &str| challenge_param(params, key);
        let realm = param("realm").ok_or_else(|| {
            ImageError::registry(&self.registry, "a Bearer challenge without a realm")
        })?;
        let scope = param("scope").unwrap_or_else(|| format!("repository:{repository}:pull,push"));
        let mut token_request = self.http.get(&realm).query(&[("scope", scope.as_str())]);
        if let Some(service) = param("service") {
            token_request = token_request.query(&[("service", service.as_str())]);
        }
        if let RegistryAuth::Basic { username, password } = &self.auth {
            token_request = token_request.header(AUTHORIZATION, basic_header(username, password));
        }
        let response = token_request
            .send()
            .await
            .map_err(|e| self.transport("get a registry token", &e))?;
        if !response.status().is_success() {
            return Err(self.refused(response.status()));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| self.transport("read the registry token", &e))?;
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .unwrap_or_default();
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ImageError::registry(&self.registry, "the registry issued a malformed token")
        })
    }

    fn refused(&self, status: StatusCode) -> ImageError {
        ImageError::RegistryRefused {
            registry: self.registry.clone(),
            status: status.as_u16(),
            hint: if self.registry.ends_with(".pkg.dev") {
                "check that your credentials (gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS) hold roles/artifactregistry.writer on the repository".into()
            } else {
                "check the registry's credentials and that your account may push to it".into()
            },
        }
    }

    fn unexpected(&self, what: &str, status: StatusCode, body: String) -> ImageError {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.refused(status);
        }
        let body: String = body.chars().take(300).collect();
        ImageError::registry(
            &self.registry,
            format!("could not {what}: HTTP {status} {body}"),
        )
    }

    fn transport(&self, what: &str, error: &reqwest::Error) -> ImageError {
        let mut message = format!("could not {what} at {}: {error}", self.base_url);
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ImageError::registry(
            &self.registry,
            format!("{message} (is the registry address right and reachable?)"),
        )
    }
}

/// Manifest types this client reads.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

fn basic_header(username: &str, password: &str) -> HeaderValue {
    use base64::Engine;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value =
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// `key="value"` from a challenge's parameter list (commas inside quotes belong to the value).
fn challenge_param(params: &str, key: &str) -> Option<String> {
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (
                    &quoted[..end],
                    quoted[end + 1..].trim_start_matches([',', ' ']),
                )
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if name.trim().eq_ignore_ascii_case(key) {
            return Some(value.to_string());
        }
        rest = after.trim();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageRef;

    #[test]
    fn docker_hub_references_reach_its_registry_api_host() {
        for reference in [
            "nginx",
            "nginx:latest",
            "docker.io/library/nginx:latest",
            "index.docker.io/library/nginx",
        ] {
            let image = ImageRef::parse(reference).unwrap();
            assert_eq!(image.registry, "docker.io", "{reference}");
            assert_eq!(image.repository, "library/nginx", "{reference}");
            assert_eq!(
                endpoint(&image.registry),
                "https://registry-1.docker.io",
                "{reference}"
            );
        }
        assert_eq!(endpoint("index.docker.io"), "https://registry-1.docker.io");
        assert_eq!(endpoint("gcr.io"), "https://gcr.io");
        assert_eq!(
            endpoint("us-central1-docker.pkg.dev"),
            "https://us-central1-docker.pkg.dev"
        );
        assert_eq!(endpoint("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(endpoint("localhost:5000"), "http://localhost:5000");
    }

    #[test]
    fn challenge_parameters_are_read() {
        let params = r#"realm="https://us-docker.pkg.dev/v2/token",service="us-docker.pkg.dev",scope="repository:p/r/i:pull,push""#;
        assert_eq!(
            challenge_param(params, "realm").as_deref(),
            Some("https://us-docker.pkg.dev/v2/token")
        );
        assert_eq!(
            challenge_param(params, "service").as_deref(),
            Some("us-docker.pkg.dev")
        );
        assert_eq!(
            challenge_param(params, "scope").as_deref(),
            Some("repository:p/r/i:pull,push")
        );
        assert_eq!(challenge_param(params, "missing"), None);
    }

    #[test]
    fn debug_hides_the_password() {
        let auth = RegistryAuth::Basic {
            username: "oauth2accesstoken".into(),
            password: "ya29.secret".into(),
        };
        assert!(!format!("{auth:?}").contains("ya29"));
    }
}
