//! `--build source`: the gcloud `run deploy --source` flow without gcloud. Ensure the
//! repository, skip everything when the tag `src-<source sha256>` exists, follow the build of
//! that tag already in flight when an earlier run started one (interrupted or timed out),
//! otherwise stage the embedded archive in the bucket, run a Cloud Build build of
//! chat-server/Dockerfile that pushes the tagged image, follow it, and return the image by the
//! digest the build reports.

use super::source_archive::{self, BuildContext};
use super::{ImageContext, ImageError, ImageEvent, ImageRef, artifact_registry, staging};
use crate::gcp::cloud_build as gcp;
use google_cloud_build_v1::model::build::Status;
use google_cloud_build_v1::model::build_options::LoggingMode;
use google_cloud_build_v1::model::{Build, BuildOptions, BuildStep, Source, StorageSource};

/// The builder image that runs `docker build` in Cloud Build.
const DOCKER_BUILDER: &str = "gcr.io/cloud-builders/docker";
/// Cloud Build's own limit for the build (it stops the build after this).
const BUILD_TIMEOUT_SECONDS: i64 = 30 * 60;
/// The `status` of [`ImageError::BuildFailed`] when chatctl stopped waiting at its deadline
/// (the build itself keeps running).
pub const STILL_RUNNING: &str = "still running";
/// The Cloud Build tag on every build chatctl starts (how it finds them again).
const CHATCTL_TAG: &str = "chatctl";

/// Builds `context` (its `chat-server/Dockerfile`) into `REGION-docker.pkg.dev/PROJECT/REPO/
/// chat-server:src-<sha256>` and returns that image by digest; reuses the tag when it exists.
pub async fn build_from_source(
    ctx: &ImageContext,
    context: &BuildContext,
) -> Result<ImageRef, ImageError> {
    let has_dockerfile =
        context
            .contains(source_archive::DOCKERFILE)
            .map_err(|e| ImageError::Api {
                action: "read the build context".into(),
                message: e.to_string(),
            })?;
    if !has_dockerfile {
        return Err(ImageError::Api {
            action: "build from source".into(),
            message: format!(
                "the build context has no {}; use `--build local` or `--image REF`",
                source_archive::DOCKERFILE
            ),
        });
    }
    artifact_registry::ensure_repository(ctx).await?;
    if let Some(built) = existing_build(ctx, context).await? {
        (ctx.progress)(&ImageEvent::BuildSkipped {
            image: built.to_string(),
        });
        return Ok(built);
    }
    let image = tagged_image(ctx, context);
    if let Some(running) = find_running(ctx, &image.to_string()).await? {
        (ctx.progress)(&ImageEvent::BuildResumed {
            build_id: running.id.clone(),
            log_url: running.log_url.clone(),
        });
        return finish(ctx, &running.id, image).await;
    }

    let bucket = staging::ensure_bucket(ctx).await?;
    let object = format!("source/chat-server-{}.tgz", context.sha256_hex());
    let generation = staging::upload(ctx, &bucket, &object, context.bytes().clone()).await?;
    (ctx.progress)(&ImageEvent::SourceUploaded {
        bucket: bucket.clone(),
        object: object.clone(),
        bytes: context.bytes().len() as u64,
    });

    // Like gcloud, read the build from the operation's metadata and follow the build itself.
    let tagged = image.to_string();
    let mut request = build_request(&tagged, &bucket, &object, generation);
    if let Some(email) = &ctx.build_service_account {
        // Cloud Build's form; a build with its own account must choose where logs go, which
        // build_request does (CLOUD_LOGGING_ONLY).
        request = request.set_service_account(format!(
            "projects/{}/serviceAccounts/{email}",
            ctx.google.project
        ));
    }
    // A role granted to the build account a moment ago (chatctl's chat-builder-ENV gets
    // roles/run.builder in this same run) may not have reached Cloud Build yet: a build that
    // fails for a permission of its account is started again while the grant can still be
    // propagating.
    let first_start = tokio::time::Instant::now();
    let mut pause = ctx.poll_interval;
    let mut attempt = 1;
    loop {
        let started = gcp::create(&ctx.google, request.clone(), &running_filter(&tagged)).await?;
        (ctx.progress)(&ImageEvent::BuildStarted {
            build_id: started.id.clone(),
            log_url: started.log_url.clone(),
        });
        let finished = follow(ctx, &started.id).await?;
        let again = ctx.build_service_account.is_some()
            && account_lacked_permission(&finished)
            && attempt < MAX_BUILD_ATTEMPTS
            && first_start.elapsed() + pause < IAM_PROPAGATION;
        if !again {
            return pushed_digest(&finished, &tagged).map(|digest| image.with_digest(&digest));
        }
        (ctx.progress)(&ImageEvent::BuildRetrying {
            build_id: started.id.clone(),
            failure: failure_type(&finished),
            pause,
        });
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = ctx.google.waiting.cancel.cancelled() => {
                return pushed_digest(&finished, &tagged).map(|digest| image.with_digest(&digest));
            }
        }
        pause = (pause * 2).min(MAX_PAUSE);
        attempt += 1;
    }
}

/// How long a role granted to the build account may take to reach Cloud Build (Google: IAM
/// changes take effect within about 2 minutes, sometimes 7 or more).
const IAM_PROPAGATION: std::time::Duration = std::time::Duration::from_secs(7 * 60);
/// Builds started for one image at most while the account's roles propagate, and the longest
/// pause between two of them.
const MAX_BUILD_ATTEMPTS: u32 = 10;
const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a build failed because its account lacked a permission: reading the staged source,
/// pushing the image or writing its logs (what a role not yet propagated looks like).
fn account_lacked_permission(build: &Build) -> bool {
    use google_cloud_build_v1::model::build::failure_info::FailureType;
    build.status == Status::Failure
        && build.failure_info.as_ref().is_some_and(|info| {
            matches!(
                info.r#type,
                FailureType::FetchSourceFailed
                    | FailureType::PushNotAuthorized
                    | FailureType::LoggingFailure
            )
        })
}

/// Cloud Build's name for why `build` failed (`FETCH_SOURCE_FAILED`...), for messages.
fn failure_type(build: &Build) -> String {
    build
        .failure_info
        .as_ref()
        .and_then(|info| info.r#type.name())
        .unwrap_or("FAILURE")
        .to_string()
}

/// Follows build `build_id` to its end and returns `image` by the digest it pushed.
async fn finish(
    ctx: &ImageContext,
    build_id: &str,
    image: ImageRef,
) -> Result<ImageRef, ImageError> {
    let finished = follow(ctx, build_id).await?;
    pushed_digest(&finished, &image.to_string()).map(|digest| image.with_digest(&digest))
}

/// A Cloud Build build still under way (queued, pending or working).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningBuild {
    pub id: String,
    /// QUEUED, PENDING or WORKING.
    pub status: String,
    pub log_url: String,
}

/// The newest build of `context`'s tagged image that Cloud Build is still running (one an
/// interrupted or timed-out `up` left behind), or `None`. Reads only.
pub async fn running_build(
    ctx: &ImageContext,
    context: &BuildContext,
) -> Result<Option<RunningBuild>, ImageError> {
    find_running(ctx, &tagged_image(ctx, context).to_string()).await
}

/// The builds.list filter for chatctl's builds of `image` that have not ended.
pub fn running_filter(image: &str) -> String {
    let quoted = image.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"tags="{CHATCTL_TAG}" AND images="{quoted}" AND (status="QUEUED" OR status="PENDING" OR status="WORKING")"#
    )
}

/// The newest of chatctl's builds of `image` that has not ended (the first page of one:
/// builds.list answers newest first); None when Cloud Build is not enabled.
async fn find_running(ctx: &ImageContext, image: &str) -> Result<Option<RunningBuild>, ImageError> {
    let builds = gcp::list(&ctx.google, &running_filter(image), 1).await?;
    let found = builds
        .into_iter()
        .flatten()
        .find(|b| !is_terminal(&b.status) && b.images.iter().any(|i| i == image));
    Ok(found.map(|b| RunningBuild {
        status: b.status.name().unwrap_or("UNKNOWN").to_string(),
        id: b.id,
        log_url: b.log_url,
    }))
}

/// Where the build of `context` goes: `REGION-docker.pkg.dev/PROJECT/REPO/chat-server:src-<sha256>`.
pub fn tagged_image(ctx: &ImageContext, context: &BuildContext) -> ImageRef {
    ImageRef {
        tag: Some(context.image_tag()),
        ..ctx.artifact_registry_image()
    }
}

/// The image an earlier build of the same sources pushed, by digest; `None` when there is none
/// (or no repository yet). Reads only.
pub async fn existing_build(
    ctx: &ImageContext,
    context: &BuildContext,
) -> Result<Option<ImageRef>, ImageError> {
    let image = tagged_image(ctx, context);
    let path = image
        .artifact_registry()
        .expect("artifact_registry_image is an Artifact Registry reference");
    let digest = artifact_registry::tag_digest(ctx, &path, &context.image_tag()).await?;
    Ok(digest.map(|digest| image.with_digest(&digest)))
}

/// The build: `docker build -f chat-server/Dockerfile -t IMAGE .` on the staged archive, then
/// push IMAGE (listed in `images`, so its digest lands in `results.images`).
pub fn build_request(image: &str, bucket: &str, object: &str, generation: i64) -> Build {
    Build::new()
        .set_source(
            Source::new().set_storage_source(
                StorageSource::new()
                    .set_bucket(bucket)
                    .set_object(object)
                    .set_generation(generation),
            ),
        )
        .set_steps([BuildStep::new().set_name(DOCKER_BUILDER).set_args([
            "build",
            "--network=cloudbuild",
            "-f",
            source_archive::DOCKERFILE,
            "-t",
            image,
            ".",
        ])])
        .set_images([image])
        .set_timeout(google_cloud_wkt::Duration::clamp(BUILD_TIMEOUT_SECONDS, 0))
        .set_tags([CHATCTL_TAG, "chat-server"])
        .set_options(BuildOptions::new().set_logging(LoggingMode::CloudLoggingOnly))
}

fn is_terminal(status: &Status) -> bool {
    !matches!(
        status,
        Status::Unknown | Status::Pending | Status::Queued | Status::Working
    )
}

/// Polls the build until it ends (or `ctx.build_timeout` passes), reporting each new status.
async fn follow(ctx: &ImageContext, build_id: &str) -> Result<Build, ImageError> {
    let deadline = tokio::time::Instant::now() + ctx.build_timeout;
    let mut last_status = None;
    loop {
        let build = gcp::get(&ctx.google, build_id).await?;
        if last_status.as_ref() != Some(&build.status) {
            let status = build.status.name().unwrap_or("UNKNOWN").to_string();
            (ctx.progress)(&ImageEvent::BuildStatus {
                build_id: build_id.to_string(),
                status,
            });
            last_status = Some(build.status.clone());
        }
        if is_terminal(&build.status) {
            return Ok(build);
        }
        if tokio::time::Instant::now() + ctx.poll_interval > deadline {
            return Err(ImageError::BuildFailed {
                build_id: build_id.to_string(),
                status: STILL_RUNNING.into(),
                detail: format!(
                    "chatctl stopped waiting after {} s; the next `chatctl up` follows the build (or reuses its image once it is pushed)",
                    ctx.build_timeout.as_secs()
                ),
                log_url: build.log_url,
            });
        }
        tokio::time::sleep(ctx.poll_interval).await;
    }
}

/// The digest of `image` from a finished build, or the build's failure as an error.
pub fn pushed_digest(build: &Build, image: &str) -> Result<String, ImageError> {
    let status = build.status.name().unwrap_or("UNKNOWN").to_string();
    if build.status != Status::Success {
        let detail = build
            .failure_info
            .as_ref()
            .map(|info| info.detail.clone())
            .filter(|detail| !detail.is_empty())
            .unwrap_or_else(|| build.status_detail.clone());
        return Err(ImageError::BuildFailed {
            build_id: build.id.clone(),
            status,
            detail: if detail.is_empty() {
                "no detail given".into()
            } else {
                detail
            },
            log_url: build.log_url.clone(),
        });
    }
    build
        .results
        .iter()
        .flat_map(|results| &results.images)
        .find(|built| built.name == image)
        .map(|built| built.digest.clone())
        .filter(|digest| digest.starts_with("sha256:"))
        .ok_or_else(|| ImageError::BuildFailed {
            build_id: build.id.clone(),
            status,
            detail: format!("the build succeeded but reports no digest for {image}"),
            log_url: build.log_url.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_build_v1::model::{BuiltImage, Results};

    const IMAGE: &str = "us-central1-docker.pkg.dev/p/cloud-run-source-deploy/chat-server:src-abc";

    #[test]
    fn request_builds_the_dockerfile_from_the_staged_archive_and_pushes_the_image() {
        let build = build_request(IMAGE, "p_cloudbuild", "source/x.tgz", 42);
        let json = serde_json::to_value(&build).unwrap();
        assert_eq!(json["source"]["storageSource"]["bucket"], "p_cloudbuild");
        assert_eq!(json["source"]["storageSource"]["object"], "source/x.tgz");
        assert_eq!(json["source"]["storageSource"]["generation"], "42");
        assert_eq!(json["steps"][0]["name"], DOCKER_BUILDER);
        let args: Vec<&str> = json["steps"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "--network=cloudbuild",
                "-f",
                "chat-server/Dockerfile",
                "-t",
                IMAGE,
                "."
            ]
        );
        assert_eq!(json["images"][0], IMAGE);
        assert_eq!(json["timeout"], "1800s");
    }

    #[test]
    fn success_yields_the_pushed_digest() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let build = Build::new()
            .set_id("b1")
            .set_status(Status::Success)
            .set_results(
                Results::new().set_images([BuiltImage::new().set_name(IMAGE).set_digest(&digest)]),
            );
        assert_eq!(pushed_digest(&build, IMAGE).unwrap(), digest);
    }

    #[test]
    fn failure_names_the_build_status_detail_and_log() {
        let build = Build::new()
            .set_id("b2")
            .set_status(Status::Failure)
            .set_status_detail("step 0 exited with 1")
            .set_log_url("https://console.cloud.google.com/cloud-build/builds/b2");
        let error = pushed_digest(&build, IMAGE).unwrap_err().to_string();
        for part in [
            "b2",
            "FAILURE",
            "step 0 exited with 1",
            "cloud-build/builds/b2",
        ] {
            assert!(error.contains(part), "{error}");
        }
    }
}
