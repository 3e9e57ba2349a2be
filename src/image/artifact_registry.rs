//! Artifact Registry through the official client: make sure the Docker repository exists,
//! resolve a tag or digest to the image's digest, and turn ADC into registry credentials.

use super::reference::{ArtifactRegistryPath, ImageRef};
use super::registry::RegistryAuth;
use super::{ImageContext, ImageError, ImageEvent};
use google_cloud_artifactregistry_v1::client::ArtifactRegistry;
use google_cloud_artifactregistry_v1::model::Repository;
use google_cloud_artifactregistry_v1::model::repository::Format;
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;

async fn client(ctx: &ImageContext) -> Result<ArtifactRegistry, ImageError> {
    super::client_builder(ctx, ArtifactRegistry::builder())
        .build()
        .await
        .map_err(|e| ImageError::Api {
            action: "create the Artifact Registry client".into(),
            message: e.to_string(),
        })
}

fn is_code(error: &google_cloud_gax::error::Error, code: Code) -> bool {
    error.status().is_some_and(|s| s.code == code)
}

/// Ensures the Docker repository `ctx.repository` exists in `ctx.region` (observe → create →
/// wait). An existing repository is adopted as long as it holds Docker images.
pub async fn ensure_repository(ctx: &ImageContext) -> Result<(), ImageError> {
    let client = client(ctx).await?;
    let parent = format!("projects/{}/locations/{}", ctx.project, ctx.region);
    let name = format!("{parent}/repositories/{}", ctx.repository);
    // The repository, or None; read to observe, and again after a create failed transiently.
    let find = || async {
        match client.get_repository().set_name(&name).send().await {
            Ok(found) => Ok(Some(found)),
            Err(e) if is_code(&e, Code::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    };
    match find().await {
        Ok(Some(repository)) if repository.format == Format::Docker => return Ok(()),
        Ok(Some(repository)) => {
            return Err(ImageError::Api {
                action: format!("use repository {name}"),
                message: format!(
                    "it holds {:?} packages, not Docker images; choose another repository name",
                    repository.format
                ),
            });
        }
        Ok(None) => {}
        Err(e) => return Err(ImageError::api(format!("read repository {name}"), &e)),
    }
    let repository = Repository::new()
        .set_format(Format::Docker)
        .set_description("chat-server images built by chatctl")
        .set_labels(ctx.labels.clone());
    // A create that failed transiently may have happened: look before sending it again.
    let created = ctx
        .retry
        .create_or_find(
            &format!("create repository {name}"),
            || {
                client
                    .create_repository()
                    .set_parent(&parent)
                    .set_repository_id(&ctx.repository)
                    .set_repository(repository.clone())
                    .poller()
                    .until_done()
            },
            find,
        )
        .await;
    match created {
        Ok(_) => {}
        // Someone (another chatctl, gcloud) created it meanwhile: adopt it.
        Err(e) if is_code(&e, Code::AlreadyExists) => return Ok(()),
        Err(e) => return Err(ImageError::api(format!("create repository {name}"), &e)),
    }
    (ctx.progress)(&ImageEvent::RepositoryCreated { repository: name });
    Ok(())
}

/// The digest of the image a tag points at, or `None` when the tag (or package) does not exist.
pub async fn tag_digest(
    ctx: &ImageContext,
    path: &ArtifactRegistryPath,
    tag: &str,
) -> Result<Option<String>, ImageError> {
    let client = client(ctx).await?;
    let name = path.tag_name(tag);
    match client.get_tag().set_name(&name).send().await {
        // `version` is `…/packages/PKG/versions/sha256:…`.
        Ok(found) => Ok(found
            .version
            .rsplit_once("/versions/")
            .map(|(_, digest)| digest.to_string())),
        Err(e) if is_code(&e, Code::NotFound) => Ok(None),
        Err(e) => Err(ImageError::api(format!("read tag {name}"), &e)),
    }
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
        let client = client(ctx).await?;
        let name = path.docker_image_name(digest);
        return match client.get_docker_image().set_name(&name).send().await {
            Ok(_) => Ok(digest.clone()),
            Err(e) if is_code(&e, Code::NotFound) => Err(not_found()),
            Err(e) => Err(ImageError::api(format!("read image {name}"), &e)),
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
    let headers = super::staging::google_headers(ctx).await?;
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
