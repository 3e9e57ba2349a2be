//! What the image needs from Artifact Registry (calls in [`crate::gcp::artifact_registry`]):
//! the Docker repository made sure of, a tag or digest resolved to the image's digest, and the
//! Google credentials turned into a login to the registry.

use super::reference::{ArtifactRegistryPath, ImageRef};
use super::registry::RegistryAuth;
use super::{ImageContext, ImageError, ImageEvent};
use crate::gcp::artifact_registry as gcp;
use google_cloud_artifactregistry_v1::model::Repository;
use google_cloud_artifactregistry_v1::model::repository::Format;

/// Ensures the Docker repository `ctx.repository` exists in the region (observe → create →
/// wait). An existing repository is adopted as long as it holds Docker images.
pub async fn ensure_repository(ctx: &ImageContext) -> Result<(), ImageError> {
    let google = &ctx.google;
    let name = format!("{}/repositories/{}", google.parent(), ctx.repository);
    let found = match gcp::get_repository(google, &name).await? {
        Some(found) => Some(found),
        None => {
            let repository = Repository::new()
                .set_format(Format::Docker)
                .set_description("chat-server images built by chatctl")
                .set_labels(ctx.labels.clone());
            if gcp::create_repository(google, &ctx.repository, repository).await? {
                (ctx.progress)(&ImageEvent::RepositoryCreated { repository: name });
                return Ok(());
            }
            // Someone (another chatctl, gcloud) created it meanwhile: adopt it if it fits.
            gcp::get_repository(google, &name).await?
        }
    };
    match found {
        Some(repository) if repository.format != Format::Docker => Err(ImageError::Api {
            action: format!("use repository {name}"),
            message: format!(
                "it holds {:?} packages, not Docker images; choose another repository name",
                repository.format
            ),
        }),
        _ => Ok(()),
    }
}

/// The digest of the image a tag points at, or `None` when the tag (or package) does not exist.
pub async fn tag_digest(
    ctx: &ImageContext,
    path: &ArtifactRegistryPath,
    tag: &str,
) -> Result<Option<String>, ImageError> {
    let version = gcp::tag_version(&ctx.google, &path.tag_name(tag)).await?;
    // `version` is `…/packages/PKG/versions/sha256:…`.
    Ok(version.and_then(|version| {
        version
            .rsplit_once("/versions/")
            .map(|(_, digest)| digest.to_string())
    }))
}

/// Resolves `image` (in Artifact Registry at `path`) to a digest, or says it does not exist.
pub async fn resolve_digest(
    ctx: &ImageContext,
    path: &ArtifactRegistryPath,
    image: &ImageRef,
) -> Result<String, ImageError> {
    let not_found = || ImageError::NotFound {
        image: image.to_string(),
        hint: format!(
            "nothing with that {} in repository {}; push it first, or let chatctl build one with `--build source` or `--build local`",
            if image.digest.is_some() {
                "digest"
            } else {
                "tag"
            },
            path.repository_name()
        ),
    };
    if let Some(digest) = &image.digest {
        let exists = gcp::docker_image_exists(&ctx.google, &path.docker_image_name(digest)).await?;
        return if exists {
            Ok(digest.clone())
        } else {
            Err(not_found())
        };
    }
    let tag = image.tag.as_deref().unwrap_or("latest");
    tag_digest(ctx, path, tag).await?.ok_or_else(not_found)
}

/// Registry credentials for `*-docker.pkg.dev` from the Google credentials: user
/// `oauth2accesstoken`, password = the access token (what `gcloud auth configure-docker` does).
/// A service-account key file in GOOGLE_APPLICATION_CREDENTIALS is sent as Artifact Registry's
/// documented `_json_key` login instead, because google-cloud-auth turns such keys into
/// self-signed JWTs rather than OAuth access tokens.
pub async fn registry_auth(ctx: &ImageContext) -> Result<RegistryAuth, ImageError> {
    if let Some(key) = service_account_key_file(ctx) {
        return Ok(RegistryAuth::Basic {
            username: "_json_key".into(),
            password: key,
        });
    }
    let headers = crate::gcp::rest::headers(&ctx.google.clients.credentials)
        .await
        .map_err(|e| {
            crate::gcp::errors::explain(
                e,
                ctx.google.call("log in to Artifact Registry", gcp::ROLE),
            )
        })?;
    let token = headers
        .get(reqwest::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    Ok(match token {
        Some(token) => RegistryAuth::Basic {
            username: "oauth2accesstoken".into(),
            password: token.to_string(),
        },
        None => RegistryAuth::Anonymous,
    })
}

/// The contents of GOOGLE_APPLICATION_CREDENTIALS when it is a service-account key.
fn service_account_key_file(ctx: &ImageContext) -> Option<String> {
    let text = std::fs::read_to_string(ctx.credentials_file.as_ref()?).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    (json["type"] == "service_account").then_some(text)
}
