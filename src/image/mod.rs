//! Getting the chat-server image into a registry, by digest, for Cloud Run (issue 5).
//! Three ways ([`ImageSource`]): build the embedded sources with Cloud Build (`--build source`),
//! build and push from this machine without Docker (`--build local`), or check a prebuilt
//! reference (`--image REF`). The engine calls [`ensure_image`] and deploys what it returns.

mod artifact_registry;
pub mod cloud_build;
mod docker_config;
pub mod local;
pub mod oci;
pub mod reference;
pub mod registry;
pub mod source_archive;
pub mod source_bundle;
pub(crate) mod staging;
pub mod tarball;

pub use local::LocalBuild;
pub use reference::{ImageRef, InvalidReference};

use crate::config::BuildMode;
use crate::config::{ConfigError, Settings};
use crate::gcp::Google;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The Artifact Registry repository `gcloud run deploy --source` uses, and our default.
pub const DEFAULT_REPOSITORY: &str = "cloud-run-source-deploy";
/// The image (package) name inside the repository.
pub const IMAGE_NAME: &str = "chat-server";

/// How the engine wants the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `--build source`: Cloud Build builds the embedded sources' Dockerfile (skipped when the
    /// repository already has the tag `src-<source sha256>`).
    Source,
    /// `--build local`: compile here, assemble an OCI image, push it through the registry API.
    Local(LocalBuild),
    /// `--image REF`: a prebuilt image; checked to exist, resolved to its digest.
    Prebuilt(String),
}

/// Decides how `up` gets the image, from the settings, before any API call. `emulated` is
/// true when CHATCTL_API_ENDPOINT redirects the Google APIs: `--build local` then needs
/// `--registry`, because the emulator has no registry to push to.
pub fn source(settings: &Settings, emulated: bool) -> Result<ImageSource, ConfigError> {
    if let Some(image) = &settings.image {
        ImageRef::parse(image).map_err(|e| ConfigError(e.to_string()))?;
        return Ok(ImageSource::Prebuilt(image.clone()));
    }
    match settings.build {
        BuildMode::Source => Ok(ImageSource::Source),
        BuildMode::Local => {
            if emulated && settings.registry.is_none() {
                return Err(ConfigError(
                    "`--build local` against CHATCTL_API_ENDPOINT needs --registry HOST:PORT/PATH \
                     (a registry to push to, e.g. 127.0.0.1:5000/chatctl): the emulator has no \
                     Artifact Registry registry"
                        .into(),
                ));
            }
            if let Some(registry) = &settings.registry {
                ImageRef::parse(&format!("{}/{IMAGE_NAME}", registry.trim_end_matches('/')))
                    .map_err(|e| ConfigError(format!("--registry `{registry}`: {e}")))?;
            }
            Ok(ImageSource::Local(LocalBuild::from_environment(
                &settings.environment,
            )))
        }
    }
}

/// Progress of [`ensure_image`], for the engine's report (one event per step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageEvent {
    /// The Artifact Registry repository was created (it did not exist).
    RepositoryCreated { repository: String },
    /// An image built from the same sources exists already: no build.
    BuildSkipped { image: String },
    /// The source archive was uploaded to the staging bucket.
    SourceUploaded {
        bucket: String,
        object: String,
        bytes: u64,
    },
    /// Cloud Build accepted the build; follow it at `log_url`.
    BuildStarted { build_id: String, log_url: String },
    /// A build of the same sources was already running (an earlier run was interrupted or
    /// stopped waiting): it is followed instead of starting another.
    BuildResumed { build_id: String, log_url: String },
    /// The build failed for a permission of its service account (`failure`: Cloud Build's
    /// failure type), as a role granted moments ago does until it has propagated: it is
    /// started again after `pause`.
    BuildRetrying {
        build_id: String,
        failure: String,
        pause: std::time::Duration,
    },
    /// The build changed state (QUEUED, WORKING, ...).
    BuildStatus { build_id: String, status: String },
    /// `--build local` is compiling chat-server.
    Compiling { workspace: PathBuf, profile: String },
    /// A blob was pushed (`uploaded`) or found already in the registry.
    Blob {
        digest: String,
        bytes: u64,
        uploaded: bool,
    },
    /// The image is ready, by digest.
    Ready { image: String },
}

/// Receives [`ImageEvent`]s; cheap to clone.
pub type Progress = Arc<dyn Fn(&ImageEvent) + Send + Sync>;

/// Everything [`ensure_image`] needs to know about the environment.
#[derive(Clone)]
pub struct ImageContext {
    /// The Google calls (Artifact Registry, Storage, Cloud Build): project, region, clients.
    pub google: Google,
    /// Artifact Registry repository id ([`DEFAULT_REPOSITORY`] by default).
    pub repository: String,
    /// Push `--build local` images under this `host[:port]/path` instead of the Artifact
    /// Registry repository (e.g. `127.0.0.1:5000/chatctl` for a local registry).
    pub registry_override: Option<String>,
    /// Staging bucket for `--build source`; default `<project>_cloudbuild` as gcloud names it.
    pub staging_bucket: Option<String>,
    /// The service account Cloud Build runs the build as (an email); `None` leaves it to the
    /// project's default build account.
    pub build_service_account: Option<String>,
    /// GOOGLE_APPLICATION_CREDENTIALS: a service-account key here is also the registry login.
    pub credentials_file: Option<PathBuf>,
    /// Docker's config.json: the `docker login`s used for registries other than Google's.
    pub docker_config: Option<PathBuf>,
    /// Labels put on what this module creates (repository, bucket).
    pub labels: Vec<(String, String)>,
    /// How often a running Cloud Build build is polled.
    pub poll_interval: Duration,
    /// Longest wait for a Cloud Build build before giving up (the build keeps running).
    pub build_timeout: Duration,
    pub progress: Progress,
}

impl ImageContext {
    /// A context with the defaults: repository `cloud-run-source-deploy`, `managed-by=chatctl`
    /// labels, 3 s polling, 30 min build limit, progress ignored.
    pub fn new(google: Google) -> ImageContext {
        ImageContext {
            google,
            repository: DEFAULT_REPOSITORY.into(),
            registry_override: None,
            staging_bucket: None,
            build_service_account: None,
            credentials_file: None,
            docker_config: None,
            labels: vec![("managed-by".into(), "chatctl".into())],
            poll_interval: Duration::from_secs(3),
            build_timeout: Duration::from_secs(30 * 60),
            progress: Arc::new(|_| {}),
        }
    }

    /// Where images go in Artifact Registry: `REGION-docker.pkg.dev/PROJECT/REPO/chat-server`.
    pub fn artifact_registry_image(&self) -> ImageRef {
        ImageRef {
            registry: format!("{}-docker.pkg.dev", self.google.region),
            repository: format!("{}/{}/{IMAGE_NAME}", self.google.project, self.repository),
            tag: None,
            digest: None,
        }
    }
}

/// Why the image could not be provided. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    InvalidReference(#[from] InvalidReference),
    #[error("image {image} does not exist: {hint}")]
    NotFound { image: String, hint: String },
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    #[error("registry {registry} refused the request (HTTP {status}): {hint}")]
    RegistryRefused {
        registry: String,
        status: u16,
        hint: String,
    },
    #[error("could not {action}: {message}")]
    Api { action: String, message: String },
    /// A Google API call failed (explained by [`crate::gcp::errors::explain`]).
    #[error(transparent)]
    Google(#[from] anyhow::Error),
    #[error("Cloud Build build {build_id} ended {status}: {detail}. Logs: {log_url}")]
    BuildFailed {
        build_id: String,
        status: String,
        detail: String,
        log_url: String,
    },
    #[error("local build: {0}")]
    LocalBuild(String),
}

impl ImageError {
    fn registry(registry: &str, message: impl Into<String>) -> ImageError {
        ImageError::Registry {
            registry: registry.to_string(),
            message: message.into(),
        }
    }
}

/// Makes sure the chat-server image exists in a registry and returns it pinned by digest.
///
/// * [`ImageSource::Source`]: ensures the repository and the staging bucket, uploads the
///   embedded sources, runs Cloud Build and follows it (skipped when the tag exists; a build
///   of the same sources already running is followed instead of starting another).
/// * [`ImageSource::Local`]: compiles a static chat-server, pushes a one-layer OCI image.
/// * [`ImageSource::Prebuilt`]: checks the reference exists (Artifact Registry API for
///   `*-docker.pkg.dev`, the registry API otherwise) and resolves it to its digest.
pub async fn ensure_image(ctx: &ImageContext, how: &ImageSource) -> Result<ImageRef, ImageError> {
    let image = match how {
        ImageSource::Source => {
            cloud_build::build_from_source(ctx, &source_archive::BuildContext::embedded()).await?
        }
        ImageSource::Local(build) => push_local_build(ctx, build).await?.image,
        ImageSource::Prebuilt(reference) => check_prebuilt(ctx, reference).await?,
    };
    (ctx.progress)(&ImageEvent::Ready {
        image: image.to_string(),
    });
    Ok(image)
}

/// `--build local` with its figures (bytes pushed, blobs skipped), for reports and benchmarks.
pub async fn push_local_build(
    ctx: &ImageContext,
    build: &LocalBuild,
) -> Result<local::LocalPush, ImageError> {
    let (destination, auth) = match &ctx.registry_override {
        Some(target) => {
            let destination =
                ImageRef::parse(&format!("{}/{IMAGE_NAME}", target.trim_end_matches('/')))?;
            let auth = registry_login(ctx, &destination.registry).await?;
            (destination, auth)
        }
        None => {
            artifact_registry::ensure_repository(ctx).await?;
            (
                ctx.artifact_registry_image(),
                artifact_registry::registry_auth(ctx).await?,
            )
        }
    };
    let binary = local::build_binary(build, &ctx.progress).await?;
    let client = registry::RegistryClient::new(&destination.registry, auth)?;
    local::push_binary(&binary, &destination, &client, &ctx.progress).await
}

/// `--image REF`: the reference resolved to its digest, or a clear error when it does not exist.
pub async fn check_prebuilt(ctx: &ImageContext, reference: &str) -> Result<ImageRef, ImageError> {
    let image = ImageRef::parse(reference)?;
    if let Some(path) = image.artifact_registry() {
        let digest = artifact_registry::resolve_digest(ctx, &path, &image).await?;
        return Ok(image.with_digest(&digest));
    }
    let auth = registry_login(ctx, &image.registry).await?;
    let client = registry::RegistryClient::new(&image.registry, auth)?;
    match client
        .manifest_digest(&image.repository, image.manifest_reference())
        .await?
    {
        Some(digest) => Ok(image.with_digest(&digest)),
        None => Err(ImageError::NotFound {
            image: image.to_string(),
            hint: "check the reference, or build one with `--build source` or `--build local`"
                .into(),
        }),
    }
}

/// The login to `registry` (`host[:port]`): the Google credentials for Google's registries
/// (Artifact Registry's `*.pkg.dev`, Container Registry's `gcr.io` and `*.gcr.io`), else the
/// `docker login` that Docker's config.json holds for it, else none (anonymous).
async fn registry_login(
    ctx: &ImageContext,
    registry: &str,
) -> Result<registry::RegistryAuth, ImageError> {
    let host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
    if host.ends_with(".pkg.dev") || host == "gcr.io" || host.ends_with(".gcr.io") {
        return artifact_registry::registry_auth(ctx).await;
    }
    Ok(ctx
        .docker_config
        .as_deref()
        .and_then(|file| docker_config::login(file, registry))
        .unwrap_or_default())
}
