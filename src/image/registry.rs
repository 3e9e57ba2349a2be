//! The registry side of images through `oci-client` (the OCI distribution API `docker push`
//! speaks): blob existence, chunked blob uploads retried on transient failures, manifest
//! put/head. oci-client answers the registries' challenges (Bearer token flow or basic auth);
//! this module picks the host (Docker Hub's documented mapping, plain HTTP for loopback
//! registries), turns its errors into [`ImageError`]s that say what to do, and counts what it
//! uploads so callers can report bytes pushed and prove skipped blobs.

use super::ImageError;
use super::oci::Blob;
use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use reqwest::header::HeaderValue;
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

impl RegistryAuth {
    fn to_oci(&self) -> oci_client::secrets::RegistryAuth {
        match self {
            RegistryAuth::Anonymous => oci_client::secrets::RegistryAuth::Anonymous,
            RegistryAuth::Basic { username, password } => {
                oci_client::secrets::RegistryAuth::Basic(username.clone(), password.clone())
            }
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

/// The `host[:port]` serving `registry`'s API (as image references name it): Docker Hub's
/// names mapped to [`DOCKER_HUB_API`], every other registry itself.
pub fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" | "registry.hub.docker.com" => DOCKER_HUB_API,
        other => other,
    }
}

/// Whether `host[:port]` is a loopback registry (`localhost`, `127.*`, `[::1]`), spoken to
/// over plain HTTP like Docker does; every other registry is spoken to over HTTPS.
fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// The base URL of `registry`'s API: `https://<api_host>`, or `http://` for loopback.
pub fn endpoint(registry: &str) -> String {
    let host = api_host(registry);
    let scheme = if is_loopback(host) { "http" } else { "https" };
    format!("{scheme}://{host}")
}

/// How many times a blob upload is tried before its last failure is reported.
const UPLOAD_ATTEMPTS: u32 = 4;

/// A client of one registry (`host[:port]` as image references name it).
pub struct RegistryClient {
    client: oci_client::Client,
    /// Where requests go ([`api_host`]).
    host: String,
    /// As the user named it, for messages.
    registry: String,
    auth: oci_client::secrets::RegistryAuth,
    blobs_uploaded: AtomicU64,
    blobs_skipped: AtomicU64,
    bytes_uploaded: AtomicU64,
}

impl RegistryClient {
    /// A client for `registry` (`host[:port]`) with `auth`.
    pub fn new(registry: &str, auth: RegistryAuth) -> Result<RegistryClient, ImageError> {
        let host = api_host(registry).to_string();
        let protocol = if is_loopback(&host) {
            ClientProtocol::HttpsExcept(vec![host.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = oci_client::Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("chatctl/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        });
        Ok(RegistryClient {
            client,
            host,
            registry: registry.to_string(),
            auth: auth.to_oci(),
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

    /// `repository` at `reference` (a tag, or a `sha256:` digest) on this registry, with the
    /// credentials stored for oci-client's requests that take none (blobs).
    async fn reference(&self, repository: &str, reference: &str) -> Reference {
        self.client
            .store_auth_if_needed(&self.host, &self.auth)
            .await;
        if reference.starts_with("sha256:") {
            Reference::with_digest(self.host.clone(), repository.into(), reference.into())
        } else {
            Reference::with_tag(self.host.clone(), repository.into(), reference.into())
        }
    }

    /// Whether the registry already holds `digest` in `repository` (HEAD blob).
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, ImageError> {
        let image = self.reference(repository, "latest").await;
        self.client
            .blob_exists(&image, digest)
            .await
            .map_err(|e| self.explain("check a blob", e))
    }

    /// Uploads `blob` unless the registry has it: HEAD, then a chunked upload (oci-client falls
    /// back to one PUT for registries that refuse chunks), retried on transient failures.
    /// Returns whether bytes were sent.
    pub async fn push_blob(&self, repository: &str, blob: &Blob) -> Result<bool, ImageError> {
        if self.blob_exists(repository, &blob.digest).await? {
            self.blobs_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let image = self.reference(repository, "latest").await;
        let backoff = crate::gcp::retry::RetryPolicy::default();
        let mut attempt = 0;
        loop {
            match self
                .client
                .push_blob(&image, blob.data.clone(), &blob.digest)
                .await
            {
                Ok(_) => break,
                Err(e) if attempt + 1 < UPLOAD_ATTEMPTS && is_transient(&e) => {
                    tracing::debug!(registry = %self.registry, digest = %blob.digest, error = %e, "retrying a blob upload");
                    tokio::time::sleep(backoff.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.explain("upload a blob", e)),
            }
        }
        self.blobs_uploaded.fetch_add(1, Ordering::Relaxed);
        self.bytes_uploaded
            .fetch_add(blob.data.len() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Stores `manifest` under `reference` (a tag or its digest); returns its digest (the
    /// registry names a manifest by the sha256 of the very bytes sent).
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &Blob,
    ) -> Result<String, ImageError> {
        let image = self.reference(repository, reference).await;
        self.client
            .push_manifest_raw(
                &image,
                manifest.data.clone(),
                HeaderValue::from_static(manifest.media_type),
            )
            .await
            .map_err(|e| self.explain("store the manifest", e))?;
        self.bytes_uploaded
            .fetch_add(manifest.data.len() as u64, Ordering::Relaxed);
        Ok(manifest.digest.clone())
    }

    /// The digest of the manifest `reference` points at, or `None` when there is none.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, ImageError> {
        let image = self.reference(repository, reference).await;
        match self.client.fetch_manifest_digest(&image, &self.auth).await {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.explain("look up the image", e)),
        }
    }

    /// `error` as the user should read it: refusals with what to check, transport failures
    /// with the address tried.
    fn explain(&self, what: &str, error: OciDistributionError) -> ImageError {
        if let Some(status) = refusal_status(&error) {
            return self.refused(status);
        }
        if let OciDistributionError::RequestError(e) = &error
            && e.status().is_none()
        {
            let mut message = format!("could not {what} at {}: {e}", endpoint(&self.registry));
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            return ImageError::registry(
                &self.registry,
                format!("{message} (is the registry address right and reachable?)"),
            );
        }
        let detail: String = error.to_string().chars().take(300).collect();
        ImageError::registry(&self.registry, format!("could not {what}: {detail}"))
    }

    fn refused(&self, status: u16) -> ImageError {
        ImageError::RegistryRefused {
            registry: self.registry.clone(),
            status,
            hint: if self.registry.ends_with(".pkg.dev") {
                "check that your credentials (gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS) hold roles/artifactregistry.writer on the repository".into()
            } else {
                "check the registry's credentials (chatctl reads the logins `docker login` stores in Docker's config.json) and that your account may pull from and push to it".into()
            },
        }
    }
}

/// The HTTP status of a refusal (401 or 403), in whichever form oci-client reports it.
fn refusal_status(error: &OciDistributionError) -> Option<u16> {
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Some(401),
        OciDistributionError::ServerError { code, .. } if matches!(code, 401 | 403) => Some(*code),
        OciDistributionError::RequestError(e) => e
            .status()
            .map(|s| s.as_u16())
            .filter(|s| matches!(s, 401 | 403)),
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().find_map(|e| match e.code {
                OciErrorCode::Unauthorized => Some(401),
                OciErrorCode::Denied => Some(403),
                _ => None,
            })
        }
        _ => None,
    }
}

/// Whether `error` says the manifest (or its repository) does not exist.
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RequestError(e) => e.status().is_some_and(|s| s.as_u16() == 404),
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}

/// Whether sending again may succeed: the network failed, or the registry was overloaded
/// (429, 5xx). Refusals and malformed requests are final.
fn is_transient(error: &OciDistributionError) -> bool {
    let retryable = |status: u16| status == 429 || (500..600).contains(&status);
    match error {
        OciDistributionError::RequestError(e) => match e.status() {
            Some(status) => retryable(status.as_u16()),
            None => e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(),
        },
        OciDistributionError::ServerError { code, .. } => retryable(*code),
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| e.code == OciErrorCode::Toomanyrequests),
        _ => false,
    }
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

    #[tokio::test]
    async fn requests_for_docker_hub_name_its_api_host_not_docker_io() {
        let client = RegistryClient::new("docker.io", RegistryAuth::Anonymous).unwrap();
        let image = client.reference("library/nginx", "latest").await;
        assert_eq!(image.resolve_registry(), "registry-1.docker.io");
        assert_eq!(image.repository(), "library/nginx");
    }

    #[test]
    fn only_overload_and_network_failures_are_retried_and_refusals_are_named() {
        let server = |code: u16| OciDistributionError::ServerError {
            code,
            url: "http://127.0.0.1:5000/v2/x/blobs/uploads/".into(),
            message: String::new(),
        };
        for code in [429, 500, 502, 503] {
            assert!(is_transient(&server(code)), "{code}");
        }
        for code in [400, 401, 403, 404] {
            assert!(!is_transient(&server(code)), "{code}");
        }
        assert_eq!(refusal_status(&server(403)), Some(403));
        assert_eq!(refusal_status(&server(500)), None);
        assert!(is_not_found(&server(404)));
        assert!(!is_not_found(&server(401)));
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
