//! `--build source` against the emulator (Artifact Registry, Cloud Storage, Cloud Build through
//! the official clients and the JSON API): the repository and the staging bucket are created,
//! the archive is uploaded, the build runs and its digest comes back; the second run skips the
//! build; a build an earlier run stopped waiting for is followed, not started again; a failed
//! build and a squatted bucket name give clear errors.

mod image_support;

use chatctl::image::source_archive::{self, BuildContext};
use chatctl::image::tarball::{self, FileEntry, Owner};
use chatctl::image::{self, ImageContext, ImageError, ImageEvent, ImageSource, cloud_build};
use emulator::{Emulator, EmulatorConfig, EmulatorHandle, NoRuntime};
use image_support::google;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROJECT: &str = "image-test";

async fn start_emulator() -> EmulatorHandle {
    start_emulator_scaled(0.001).await
}

async fn start_emulator_scaled(time_scale: f64) -> EmulatorHandle {
    start_emulator_with(EmulatorConfig {
        time_scale,
        allow_anonymous: true,
        seed: Some(7),
        ..EmulatorConfig::default()
    })
    .await
}

async fn start_emulator_with(config: EmulatorConfig) -> EmulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Emulator::start(listener, config, Arc::new(NoRuntime))
        .await
        .expect("start the emulator")
}

/// A context pointed at the emulator that records every progress event.
async fn context(emulator: &EmulatorHandle) -> (ImageContext, Arc<Mutex<Vec<ImageEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut ctx = ImageContext::new(google(emulator.base_url(), PROJECT).await);
    ctx.poll_interval = Duration::from_millis(20);
    ctx.build_timeout = Duration::from_secs(60);
    let seen = events.clone();
    ctx.progress = Arc::new(move |event| seen.lock().unwrap().push(event.clone()));
    (ctx, events)
}

/// A small build context with a Dockerfile (the flow does not depend on what it builds).
fn test_context(marker: &str) -> BuildContext {
    let files = [
        FileEntry {
            path: "chat-server/Dockerfile".into(),
            mode: 0o644,
            data: b"FROM scratch\nCOPY chat-server/app /app\n".to_vec(),
        },
        FileEntry {
            path: "chat-server/app".into(),
            mode: 0o755,
            data: marker.as_bytes().to_vec(),
        },
    ];
    let tar = tarball::tar(&files, Owner { uid: 0, gid: 0 }).unwrap();
    BuildContext::from_tar_gz(tarball::gzip(&tar).unwrap())
}

async fn emulator_requests(emulator: &EmulatorHandle) -> Vec<serde_json::Value> {
    let text = reqwest::get(format!("{}/_emulator/requests", emulator.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

fn count(requests: &[serde_json::Value], method: &str, path_part: &str) -> usize {
    requests
        .iter()
        .filter(|r| {
            r["method"] == method && r["path"].as_str().unwrap_or_default().contains(path_part)
        })
        .count()
}

#[tokio::test]
async fn source_build_stages_builds_and_then_reuses_the_image() {
    let emulator = start_emulator().await;
    let (ctx, events) = context(&emulator).await;
    let sources = test_context("v1");

    let image = cloud_build::build_from_source(&ctx, &sources)
        .await
        .expect("build from source");
    let digest = image.digest.clone().expect("by digest");
    assert!(digest.starts_with("sha256:"));
    assert_eq!(image.registry, "us-central1-docker.pkg.dev");
    assert_eq!(
        image.repository,
        format!("{PROJECT}/cloud-run-source-deploy/chat-server")
    );
    assert_eq!(image.tag, Some(sources.image_tag()));

    let seen = events.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|e| matches!(e, ImageEvent::RepositoryCreated { .. })),
        "{seen:?}"
    );
    assert!(seen.contains(&ImageEvent::SourceUploaded {
        bucket: format!("{PROJECT}_cloudbuild"),
        object: format!("source/chat-server-{}.tgz", sources.sha256_hex()),
        bytes: sources.bytes().len() as u64,
    }));
    assert!(
        seen.iter()
            .any(|e| matches!(e, ImageEvent::BuildStarted { log_url, .. } if !log_url.is_empty())),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, ImageEvent::BuildStatus { status, .. } if status == "SUCCESS")),
        "{seen:?}"
    );

    // The bucket is uniform-access and holds exactly the archive we built.
    let base = emulator.base_url();
    let bucket = get_json(&format!("{base}/storage/v1/b/{PROJECT}_cloudbuild")).await;
    assert_eq!(
        bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"], true,
        "{bucket}"
    );
    let object_name = format!("source%2Fchat-server-{}.tgz", sources.sha256_hex());
    let object = get_json(&format!(
        "{base}/storage/v1/b/{PROJECT}_cloudbuild/o/{object_name}"
    ))
    .await;
    assert_eq!(
        object["size"],
        sources.bytes().len().to_string(),
        "{object}"
    );

    // --image with the tag or the digest resolves through the Artifact Registry API.
    let tagged = chatctl::image::ImageRef {
        digest: None,
        ..image.clone()
    };
    let by_tag = image::check_prebuilt(&ctx, &tagged.to_string())
        .await
        .unwrap();
    assert_eq!(by_tag.digest.as_deref(), Some(digest.as_str()));
    let by_digest = format!(
        "us-central1-docker.pkg.dev/{PROJECT}/cloud-run-source-deploy/chat-server@{digest}"
    );
    assert_eq!(
        image::check_prebuilt(&ctx, &by_digest)
            .await
            .unwrap()
            .digest
            .as_deref(),
        Some(digest.as_str())
    );

    // Same sources again: no upload, no build, same digest.
    let before = emulator_requests(&emulator).await;
    events.lock().unwrap().clear();
    let again = cloud_build::build_from_source(&ctx, &sources)
        .await
        .expect("second run");
    assert_eq!(again.digest.as_deref(), Some(digest.as_str()));
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, ImageEvent::BuildSkipped { .. }))
    );
    let after = emulator_requests(&emulator).await;
    assert_eq!(
        count(&after, "POST", "/builds"),
        count(&before, "POST", "/builds"),
        "no second build"
    );
    assert_eq!(
        count(&after, "POST", "/upload/"),
        count(&before, "POST", "/upload/"),
        "no second upload"
    );

    // Other sources build a new image with another tag.
    let other = cloud_build::build_from_source(&ctx, &test_context("v2"))
        .await
        .expect("other sources");
    assert_ne!(other.digest, image.digest);
}

#[tokio::test]
async fn a_build_left_running_is_followed_by_the_next_run_not_started_again() {
    // 0.02 × (5 s queued + 3 min): the build runs 3.7 s, far past the first run's deadline.
    let emulator = start_emulator_scaled(0.02).await;
    let (mut ctx, events) = context(&emulator).await;
    let sources = test_context("v1");
    ctx.build_timeout = Duration::from_millis(1);
    let error = cloud_build::build_from_source(&ctx, &sources)
        .await
        .expect_err("chatctl stops waiting at its deadline");
    let ImageError::BuildFailed {
        build_id, status, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(status, cloud_build::STILL_RUNNING);

    let running = cloud_build::running_build(&ctx, &sources)
        .await
        .expect("list the builds")
        .expect("the build is still running");
    assert_eq!(&running.id, build_id);
    assert!(
        ["QUEUED", "WORKING"].contains(&running.status.as_str()),
        "{running:?}"
    );
    assert!(running.log_url.contains(build_id.as_str()), "{running:?}");
    let other_sources = cloud_build::running_build(&ctx, &test_context("v2")).await;
    assert_eq!(other_sources.expect("list the builds"), None);

    events.lock().unwrap().clear();
    ctx.build_timeout = Duration::from_secs(60);
    let image = cloud_build::build_from_source(&ctx, &sources)
        .await
        .expect("the next run follows the running build");
    assert!(image.digest.is_some(), "{image}");
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|e| matches!(e, ImageEvent::BuildResumed { build_id: id, .. } if id == build_id)),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ImageEvent::BuildStarted { .. } | ImageEvent::SourceUploaded { .. }
        )),
        "nothing uploaded or started again: {seen:?}"
    );
    let requests = emulator_requests(&emulator).await;
    assert_eq!(count(&requests, "POST", "/builds"), 1, "one build in all");
    assert_eq!(count(&requests, "POST", "/upload/"), 1, "one upload in all");
    assert_eq!(
        cloud_build::running_build(&ctx, &sources).await.unwrap(),
        None,
        "nothing runs once the image is pushed"
    );
}

#[tokio::test]
async fn no_build_runs_where_cloud_build_is_not_enabled() {
    // `plan` and `status` read projects where Cloud Build may never be enabled: the answer is
    // "nothing running", at once (not after waiting for the API to come up).
    let emulator = start_emulator_with(EmulatorConfig {
        time_scale: 0.001,
        allow_anonymous: true,
        seed: Some(7),
        enforce_api_enablement: true,
        ..EmulatorConfig::default()
    })
    .await;
    let (ctx, _) = context(&emulator).await;
    let running = tokio::time::timeout(
        Duration::from_secs(30),
        cloud_build::running_build(&ctx, &test_context("v1")),
    )
    .await
    .expect("answered without waiting out SERVICE_DISABLED");
    assert_eq!(running.expect("no error for a disabled API"), None);
    let refused = emulator_requests(&emulator).await;
    assert!(
        refused.iter().any(|r| r["path"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("/v1/projects/{PROJECT}/builds?"))),
        "the list was asked: {refused:?}"
    );
}

#[tokio::test]
async fn missing_prebuilt_image_in_artifact_registry_is_not_found() {
    let emulator = start_emulator().await;
    let (ctx, _) = context(&emulator).await;
    cloud_build::build_from_source(&ctx, &test_context("v1"))
        .await
        .expect("seed an image");
    let missing =
        format!("us-central1-docker.pkg.dev/{PROJECT}/cloud-run-source-deploy/chat-server:nope");
    let error = image::check_prebuilt(&ctx, &missing).await.unwrap_err();
    assert!(matches!(error, ImageError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("--build source"), "{error}");
    let no_repo = format!("us-central1-docker.pkg.dev/{PROJECT}/no-such-repo/chat-server:v1");
    assert!(matches!(
        image::check_prebuilt(&ctx, &no_repo).await.unwrap_err(),
        ImageError::NotFound { .. }
    ));
}

// Multi-threaded: the callback blocks its worker while the emulator serves the delete on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_build_reports_status_detail_and_log_url() {
    let emulator = start_emulator().await;
    let (mut ctx, _) = context(&emulator).await;
    // Delete the staged archive right after upload (as a lifecycle rule or a person might):
    // Cloud Build then cannot fetch its source and the build fails.
    let base = emulator.base_url().to_string();
    ctx.progress = Arc::new(move |event| {
        if let ImageEvent::SourceUploaded { bucket, object, .. } = event {
            let url = format!(
                "{base}/storage/v1/b/{bucket}/o/{}",
                object.replace('/', "%2F")
            );
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let status = runtime.block_on(async {
                        reqwest::Client::new()
                            .delete(&url)
                            .send()
                            .await
                            .unwrap()
                            .status()
                    });
                    assert!(status.is_success(), "delete the staged object: {status}");
                });
            });
        }
    });
    let error = cloud_build::build_from_source(&ctx, &test_context("v1"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ImageError::BuildFailed { .. }), "{error:?}");
    assert!(
        message.contains("FAILURE")
            && message.contains("fetch the source")
            && message.contains("Logs: http"),
        "{message}"
    );
}

#[tokio::test]
async fn staging_bucket_owned_by_another_project_is_refused() {
    let emulator = start_emulator().await;
    let (ctx, _) = context(&emulator).await;
    let squatted = serde_json::json!({ "name": format!("{PROJECT}_cloudbuild") });
    let created = reqwest::Client::new()
        .post(format!(
            "{}/storage/v1/b?project=someone-else",
            emulator.base_url()
        ))
        .json(&squatted)
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );
    let error = cloud_build::build_from_source(&ctx, &test_context("v1"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("--staging-bucket"), "{error}");
}

#[tokio::test]
async fn embedded_sources_build_through_ensure_image() {
    let emulator = start_emulator().await;
    let (ctx, _) = context(&emulator).await;
    let image = image::ensure_image(&ctx, &ImageSource::Source)
        .await
        .expect("--build source with chatctl's own sources");
    assert_eq!(image.tag, Some(source_archive::image_tag()));
    assert!(image.digest.is_some());
}
