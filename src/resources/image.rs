//! The chat-server image, as one step of the stack: `--build source` (Cloud Build), `--build
//! local` (compile and push from here) or `--image REF`, through [`crate::image`]. Publishes
//! the image by digest for the Cloud Run service. `down` keeps it: the repository and the
//! staging bucket are shared with `gcloud run deploy --source` and other environments.

use std::sync::Arc;

use super::{Action, Outputs, Planned, apis, project_binding, service_account};
use crate::context::Ctx;
use crate::image::source_archive::BuildContext;
use crate::image::{
    self, ImageContext, ImageError, ImageEvent, ImageRef, ImageSource, cloud_build,
};
use crate::names::Account;
use crate::outcome::{Interrupted, TimedOut};
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId};

pub const ID: ResourceId = ResourceId("image");

/// The chat-server container image, built or checked, by digest.
pub struct Image;

impl Resource for Image {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[
            Edge::Ready(apis::ID),
            Edge::Ready(project_binding::BUILDER_ID),
        ]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["artifactregistry.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        display_name(ctx)
    }

    /// Observe and decide (reads only): a prebuilt image must exist; a source build is reused
    /// when the repository has the tag of the embedded sources, and resumed (followed, not started
    /// again) when an earlier run left its build running; a local build always runs (its digest is
    /// known only after compiling; an unchanged binary pushes nothing new).
    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let image_ctx = context(ctx);
        match source(ctx)? {
            ImageSource::Prebuilt(reference) => {
                let image = image::check_prebuilt(&image_ctx, &reference).await?;
                publish(out, &image);
                Ok(Planned::new(image.to_string(), "EXISTS", Action::NoOp))
            }
            ImageSource::Source => {
                let sources = BuildContext::embedded();
                match cloud_build::existing_build(&image_ctx, &sources).await? {
                    Some(image) => {
                        publish(out, &image);
                        Ok(Planned::new(image.to_string(), "BUILT", Action::NoOp))
                    }
                    None => {
                        let tagged = cloud_build::tagged_image(&image_ctx, &sources).to_string();
                        Ok(
                            match cloud_build::running_build(&image_ctx, &sources).await? {
                                Some(build) => Planned::new(
                                    tagged,
                                    build.status.clone(),
                                    Action::Resume {
                                        state: build.status,
                                    },
                                ),
                                None => Planned::new(tagged, "absent", Action::Create),
                            },
                        )
                    }
                }
            }
            ImageSource::Local(_) => Ok(Planned::new(
                display_name(ctx),
                "built by up (--build local)",
                Action::Create,
            )),
        }
    }

    /// Build (or check) the image, reporting each step, and publish it by digest.
    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        _planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let how = source(ctx)?;
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let mut image_ctx = context(ctx);
        image_ctx.progress = Arc::new(move |event: &ImageEvent| {
            let _ = events.send(event.clone());
        });
        let work = image::ensure_image(&image_ctx, &how);
        tokio::pin!(work);
        let mut build_id = None;
        let mut show = |event: ImageEvent| {
            if let ImageEvent::BuildStarted { build_id: id, .. }
            | ImageEvent::BuildResumed { build_id: id, .. } = &event
            {
                build_id = Some(id.clone());
            }
            if let Some(text) = describe(&event) {
                progress.detail(Phase::Building, &text);
            }
        };
        let result = loop {
            tokio::select! {
                result = &mut work => {
                    while let Ok(event) = received.try_recv() {
                        show(event);
                    }
                    break result;
                }
                Some(event) = received.recv() => show(event),
                _ = ctx.google.waiting.cancel.cancelled() => {
                    // Events sent before the interrupt (the build id) still count.
                    while let Ok(event) = received.try_recv() {
                        show(event);
                    }
                    let what = match &build_id {
                        Some(id) => format!("Cloud Build build {id} keeps running; the next `chatctl up` follows it (or reuses its image once it is pushed)"),
                        None => "stopped before the image was ready".to_string(),
                    };
                    return Err(anyhow::Error::new(Interrupted).context(what));
                }
            }
        };
        let image = result.map_err(|error| explain(error, ctx.settings.timeout))?;
        publish(out, &image);
        Ok(())
    }
}

/// How often a Cloud Build build is polled on Google, and against an endpoint override.
const BUILD_POLL_GOOGLE: std::time::Duration = std::time::Duration::from_secs(3);
const BUILD_POLL_OVERRIDE: std::time::Duration = std::time::Duration::from_millis(20);

/// How the settings ask for the image.
pub fn source(ctx: &Ctx) -> anyhow::Result<ImageSource> {
    Ok(image::source(&ctx.settings, ctx.google.emulated())?)
}

/// The image module's view of this run: the Google handle, and the image's settings.
fn context(ctx: &Ctx) -> ImageContext {
    let s = &ctx.settings;
    let mut image = ImageContext::new(ctx.google.clone());
    if let Some(repository) = &s.repository {
        image.repository = repository.clone();
    }
    image.registry_override = s.registry.clone();
    image.staging_bucket = s.staging_bucket.clone();
    image.build_service_account = match &s.build_service_account {
        Some(email) => Some(email.clone()),
        None if service_account::needed(ctx, Account::Builder) => {
            Some(s.names.account_email(Account::Builder, &s.project))
        }
        None => None,
    };
    image.credentials_file = s.environment.credentials_file.clone();
    image.docker_config = s.environment.docker_config.clone();
    image.build_timeout = s.timeout;
    image.poll_interval = if ctx.google.emulated() {
        BUILD_POLL_OVERRIDE
    } else {
        BUILD_POLL_GOOGLE
    };
    image
}

/// The name shown before the image is known.
fn display_name(ctx: &Ctx) -> String {
    match (&ctx.settings.image, &ctx.settings.registry) {
        (Some(image), _) => image.clone(),
        (None, Some(registry)) if ctx.settings.build == crate::config::BuildMode::Local => {
            format!("{}/{}", registry.trim_end_matches('/'), image::IMAGE_NAME)
        }
        _ => context(ctx).artifact_registry_image().to_string(),
    }
}

fn publish(out: &Outputs, image: &ImageRef) {
    let image = image.to_string();
    out.update(|v| v.image = Some(image));
}

/// A build still running at the deadline (`waited`) is a timeout (exit 5), like any other
/// operation; the next `up` follows the same build.
fn explain(error: ImageError, waited: std::time::Duration) -> anyhow::Error {
    match error {
        ImageError::BuildFailed {
            build_id, status, ..
        } if status == cloud_build::STILL_RUNNING => TimedOut {
            what: "Cloud Build build of chat-server".into(),
            operation: build_id,
            waited,
        }
        .into(),
        // Keep the explained error as it is (an interrupt or timeout inside stays visible).
        ImageError::Google(error) => error,
        other => other.into(),
    }
}

/// One progress line per step of the image's making.
fn describe(event: &ImageEvent) -> Option<String> {
    Some(match event {
        ImageEvent::RepositoryCreated { repository } => format!("created {repository}"),
        ImageEvent::BuildSkipped { .. } => "reusing the image built from the same sources".into(),
        ImageEvent::SourceUploaded { bucket, bytes, .. } => {
            format!("sources uploaded to gs://{bucket} ({} KiB)", bytes / 1024)
        }
        ImageEvent::BuildStarted { build_id, log_url } => {
            format!("Cloud Build {build_id} started, logs: {log_url}")
        }
        ImageEvent::BuildResumed { build_id, log_url } => {
            format!("following Cloud Build {build_id}, started by an earlier run, logs: {log_url}")
        }
        ImageEvent::BuildRetrying {
            build_id,
            failure,
            pause,
        } => format!(
            "build {build_id} failed for a permission of its service account ({failure}); a \
             role granted moments ago can take minutes to reach Cloud Build: starting the build \
             again in {}s",
            pause.as_secs_f64().ceil()
        ),
        ImageEvent::BuildStatus { status, .. } => format!("build {status}"),
        ImageEvent::Compiling { profile, .. } => format!("compiling chat-server ({profile})"),
        ImageEvent::Blob {
            digest,
            bytes,
            uploaded,
        } => {
            let short = digest.get(..19).unwrap_or(digest);
            if *uploaded {
                format!("pushed {short} ({} KiB)", bytes / 1024)
            } else {
                format!("registry has {short}")
            }
        }
        ImageEvent::Ready { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{EXIT_FAILED, EXIT_TIMED_OUT, exit_code};
    use std::time::Duration;

    fn build_error(status: &str) -> ImageError {
        ImageError::BuildFailed {
            build_id: "0f3c-42".into(),
            status: status.into(),
            detail: "step 0 exited with 1".into(),
            log_url: "https://console.cloud.google.com/cloud-build/builds/0f3c-42".into(),
        }
    }

    #[test]
    fn a_build_still_running_at_the_deadline_exits_5_and_names_the_build() {
        let error = explain(
            build_error(cloud_build::STILL_RUNNING),
            Duration::from_secs(600),
        );
        assert_eq!(exit_code(&error), EXIT_TIMED_OUT);
        let message = format!("{error:#}");
        for part in ["0f3c-42", "600s", "run the same command again"] {
            assert!(message.contains(part), "{message}");
        }
    }

    #[test]
    fn a_failed_build_is_a_failure_with_its_log() {
        let error = explain(build_error("FAILURE"), Duration::from_secs(600));
        assert_eq!(exit_code(&error), EXIT_FAILED);
        assert!(format!("{error:#}").contains("cloud-build/builds/0f3c-42"));
    }

    #[test]
    fn a_build_started_again_says_why_and_when() {
        let line = describe(&ImageEvent::BuildRetrying {
            build_id: "0f3c-42".into(),
            failure: "FETCH_SOURCE_FAILED".into(),
            pause: Duration::from_millis(1500),
        })
        .unwrap();
        for part in [
            "0f3c-42",
            "FETCH_SOURCE_FAILED",
            "role granted moments ago",
            "again in 2s",
        ] {
            assert!(line.contains(part), "{line}");
        }
    }
}
