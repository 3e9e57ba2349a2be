//! Cloud Build v1 through the official google-cloud-build-v1 client, the way `--build source`
//! drives it: staged sources in Storage, a docker build that pushes to Artifact Registry, the
//! build followed to SUCCESS with a reproducible digest, and the failures (missing source,
//! image no step builds, missing repository) with their failure info and log; builds.list with
//! its filter syntax, newest first and paged.

mod common;

use std::time::Duration;

use common::*;
use emulator::EmulatorConfig;
use google_cloud_build_v1::client::CloudBuild;
use google_cloud_build_v1::model::build::Status;
use google_cloud_build_v1::model::build::failure_info::FailureType;
use google_cloud_build_v1::model::build_options::LoggingMode;
use google_cloud_build_v1::model::{
    Build, BuildOperationMetadata, BuildOptions, BuildStep, Source, StorageSource,
};
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;
use serde_json::{Value, json};

const PROJECT: &str = "build-test-proj";
const BUCKET: &str = "build-test-proj_cloudbuild";
const IMAGE: &str =
    "us-central1-docker.pkg.dev/build-test-proj/cloud-run-source-deploy/chat-server:src-1";

async fn client(base_url: &str) -> CloudBuild {
    CloudBuild::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Cloud Build client")
}

/// The staging bucket, the Docker repository, and `object` uploaded with `data`; returns the
/// object's generation.
async fn stage(base_url: &str, object: &str, data: &'static [u8]) -> i64 {
    let bucket = http()
        .post(format!("{base_url}/storage/v1/b"))
        .query(&[("project", PROJECT)])
        .json(&json!({ "name": BUCKET }))
        .send()
        .await
        .unwrap();
    assert!([200, 409].contains(&bucket.status().as_u16()));
    let repo = http()
        .post(format!(
            "{base_url}/v1/projects/{PROJECT}/locations/us-central1/repositories"
        ))
        .query(&[("repositoryId", "cloud-run-source-deploy")])
        .json(&json!({ "format": "DOCKER" }))
        .send()
        .await
        .unwrap();
    assert!([200, 409].contains(&repo.status().as_u16()));
    let uploaded: Value = http()
        .post(format!("{base_url}/upload/storage/v1/b/{BUCKET}/o"))
        .query(&[("uploadType", "media"), ("name", object)])
        .body(data)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    uploaded["generation"].as_str().unwrap().parse().unwrap()
}

/// A build like chatctl's: `docker build -t IMAGE .` on the staged archive, pushing IMAGE.
fn docker_build(object: &str, generation: i64, image: &str) -> Build {
    Build::new()
        .set_source(
            Source::new().set_storage_source(
                StorageSource::new()
                    .set_bucket(BUCKET)
                    .set_object(object)
                    .set_generation(generation),
            ),
        )
        .set_steps([BuildStep::new()
            .set_name("gcr.io/cloud-builders/docker")
            .set_args(["build", "-f", "chat-server/Dockerfile", "-t", image, "."])])
        .set_images([image])
        .set_timeout(google_cloud_wkt::Duration::clamp(1800, 0))
        .set_options(BuildOptions::new().set_logging(LoggingMode::CloudLoggingOnly))
}

/// Starts a build (global form) and returns it as the operation's metadata shows it (queued),
/// without waiting: gcloud reads the build id from there.
async fn start_build(cb: &CloudBuild, build: Build) -> Build {
    let op = cb
        .create_build()
        .set_project_id(PROJECT)
        .set_build(build)
        .send()
        .await
        .expect("the build is accepted");
    assert!(!op.done);
    assert!(op.name.starts_with(&format!("operations/build/{PROJECT}/")));
    let started = op
        .metadata
        .and_then(|m| m.to_msg::<BuildOperationMetadata>().ok())
        .and_then(|m| m.build)
        .expect("the metadata carries the build");
    assert_eq!(started.status, Status::Queued);
    assert!(started.log_url.contains(&started.id), "{}", started.log_url);
    started
}

/// Starts a build and follows it like gcloud: `builds.get` until a terminal status.
async fn run_build(cb: &CloudBuild, build: Build) -> Build {
    let started = start_build(cb, build).await;
    eventually(Duration::from_secs(10), || async {
        let build = cb
            .get_build()
            .set_project_id(PROJECT)
            .set_id(&started.id)
            .send()
            .await
            .ok()?;
        (!matches!(build.status, Status::Queued | Status::Working)).then_some(build)
    })
    .await
}

fn digest_of(build: &Build, image: &str) -> String {
    let results = build
        .results
        .as_ref()
        .expect("a successful build has results");
    let built = results
        .images
        .iter()
        .find(|i| i.name == image)
        .expect("the pushed image is reported");
    assert!(built.digest.starts_with("sha256:") && built.digest.len() == 71);
    built.digest.clone()
}

#[tokio::test]
async fn a_build_pushes_the_image_with_a_digest_that_depends_on_the_sources() {
    let emu = start(fast_config()).await;
    let cb = client(emu.base_url()).await;
    let generation = stage(emu.base_url(), "source/a.tgz", b"sources v1").await;

    let done = run_build(&cb, docker_build("source/a.tgz", generation, IMAGE)).await;
    assert_eq!(done.status, Status::Success, "{}", done.status_detail);
    assert!(done.start_time.is_some() && done.finish_time.is_some());
    let digest = digest_of(&done, IMAGE);

    // The same sources give the same digest (through the client's own LRO poller this time).
    let again = cb
        .create_build()
        .set_project_id(PROJECT)
        .set_build(docker_build("source/a.tgz", generation, IMAGE))
        .poller()
        .until_done()
        .await
        .expect("the build operation answers the Build");
    assert_eq!(again.status, Status::Success);
    assert_eq!(digest_of(&again, IMAGE), digest);

    // Other sources, other digest; the image is now in Artifact Registry under its tag.
    let other_generation = stage(emu.base_url(), "source/b.tgz", b"sources v2").await;
    let other = run_build(&cb, docker_build("source/b.tgz", other_generation, IMAGE)).await;
    let other_digest = digest_of(&other, IMAGE);
    assert_ne!(other_digest, digest);
    let tag: Value = get_json(format!(
            "{}/v1/projects/{PROJECT}/locations/us-central1/repositories/cloud-run-source-deploy/packages/chat-server/tags/src-1",
            emu.base_url()
        )).await;
    assert!(
        tag["version"].as_str().unwrap().ends_with(&other_digest),
        "the tag moved to the last push: {tag}"
    );

    // The regional form: operation under the location, polled by the client.
    let regional = cb
        .create_build()
        .set_parent(format!("projects/{PROJECT}/locations/us-central1"))
        .set_build(docker_build("source/a.tgz", generation, IMAGE))
        .poller()
        .until_done()
        .await
        .expect("a regional build succeeds");
    assert!(regional.name.contains("/locations/us-central1/builds/"));
    assert_eq!(digest_of(&regional, IMAGE), digest);
}

#[tokio::test]
async fn failures_say_why_in_the_build_and_its_log() {
    let emu = start(fast_config()).await;
    let cb = client(emu.base_url()).await;
    let generation = stage(emu.base_url(), "source/a.tgz", b"sources").await;

    let missing = run_build(&cb, docker_build("source/none.tgz", 1, IMAGE)).await;
    assert_eq!(missing.status, Status::Failure);
    let info = missing.failure_info.as_ref().expect("failure info");
    assert_eq!(info.r#type, FailureType::FetchSourceFailed);
    assert!(
        missing
            .status_detail
            .contains("gs://build-test-proj_cloudbuild/source/none.tgz")
    );
    let log = http()
        .get(format!(
            "{}/_emulator/builds/{}/log",
            emu.base_url(),
            missing.id
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("does not exist"), "{log}");

    let unbuilt = "us-central1-docker.pkg.dev/build-test-proj/cloud-run-source-deploy/other:v1";
    let not_built = run_build(
        &cb,
        docker_build("source/a.tgz", generation, IMAGE).set_images([unbuilt]),
    )
    .await;
    assert_eq!(not_built.status, Status::Failure);
    assert_eq!(
        not_built.failure_info.unwrap().r#type,
        FailureType::PushImageNotFound
    );

    let no_repo = "us-central1-docker.pkg.dev/build-test-proj/nope/chat-server:v1";
    let push_failed = run_build(&cb, docker_build("source/a.tgz", generation, no_repo)).await;
    assert_eq!(push_failed.status, Status::Failure);
    assert_eq!(
        push_failed.failure_info.unwrap().r#type,
        FailureType::PushFailed
    );

    // The operation of a failed build ends with an error.
    let error = cb
        .create_build()
        .set_project_id(PROJECT)
        .set_build(docker_build("source/none.tgz", 1, IMAGE))
        .poller()
        .until_done()
        .await
        .expect_err("a failed build fails its operation");
    assert_eq!(code_of(&error), Code::Unknown);
}

#[tokio::test]
async fn invalid_builds_are_refused_at_once() {
    let emu = start(fast_config()).await;
    let cb = client(emu.base_url()).await;
    let refuse = |build: Build| {
        let cb = cb.clone();
        async move {
            cb.create_build()
                .set_project_id(PROJECT)
                .set_build(build)
                .send()
                .await
                .expect_err("the build is refused")
        }
    };
    let no_steps =
        refuse(docker_build("source/a.tgz", 1, IMAGE).set_steps(Vec::<BuildStep>::new())).await;
    assert_eq!(code_of(&no_steps), Code::InvalidArgument);
    assert!(
        no_steps.to_string().contains("no build steps"),
        "{no_steps}"
    );
    let not_archive = refuse(docker_build("source/a.txt", 1, IMAGE)).await;
    assert_eq!(code_of(&not_archive), Code::InvalidArgument);
    let account = docker_build("source/a.tgz", 1, IMAGE)
        .set_service_account(format!(
            "projects/{PROJECT}/serviceAccounts/builder@{PROJECT}.iam.gserviceaccount.com"
        ))
        .set_options(BuildOptions::new());
    let no_logging_choice = refuse(account).await;
    assert_eq!(code_of(&no_logging_choice), Code::InvalidArgument);
    assert!(no_logging_choice.to_string().contains("logs_bucket"));
    let missing = cb
        .get_build()
        .set_project_id(PROJECT)
        .set_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&missing), Code::NotFound);
}

#[tokio::test]
async fn cloud_run_deploys_the_built_image_by_digest() {
    use google_cloud_run_v2::model::{Container, RevisionTemplate, Service};
    let emu = start(fast_config()).await;
    let cb = client(emu.base_url()).await;
    let generation = stage(emu.base_url(), "source/a.tgz", b"sources").await;
    let built = run_build(&cb, docker_build("source/a.tgz", generation, IMAGE)).await;
    let digest = digest_of(&built, IMAGE);
    let run = google_cloud_run_v2::client::Services::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .unwrap();
    let deploy = |id: &'static str, image: String| {
        let run = run.clone();
        async move {
            run.create_service()
                .set_parent(format!("projects/{PROJECT}/locations/us-central1"))
                .set_service_id(id)
                .set_service(Service::new().set_template(
                    RevisionTemplate::new().set_containers([Container::new().set_image(image)]),
                ))
                .poller()
                .until_done()
                .await
        }
    };
    let pinned = format!("{IMAGE}@{digest}");
    let service = deploy("chat", pinned.clone())
        .await
        .expect("the built image deploys");
    assert_eq!(service.template.unwrap().containers[0].image, pinned);
    let unknown = format!("{IMAGE}@sha256:{}", "0".repeat(64));
    let error = deploy("stale", unknown)
        .await
        .expect_err("a digest nobody pushed");
    assert_eq!(code_of(&error), Code::FailedPrecondition);
}

/// The ids builds.list answers for `filter` (global endpoint, every page).
async fn listed(cb: &CloudBuild, filter: &str) -> Vec<String> {
    use google_cloud_gax::paginator::{ItemPaginator, Paginator};
    let mut items = cb
        .list_builds()
        .set_project_id(PROJECT)
        .set_filter(filter)
        .set_page_size(2)
        .by_page()
        .items();
    let mut ids = Vec::new();
    for _ in 0..100 {
        match items.next().await {
            Some(build) => ids.push(build.expect("a page of builds").id),
            None => return ids,
        }
    }
    panic!("more pages than builds: {ids:?}");
}

#[tokio::test]
async fn builds_list_newest_first_filtered_and_paged() {
    // Real time (5 s queued, 3 min building): the unfinished builds stay unfinished.
    let emu = start(EmulatorConfig {
        time_scale: 1.0,
        ..fast_config()
    })
    .await;
    let cb = client(emu.base_url()).await;
    let generation = stage(emu.base_url(), "source/a.tgz", b"sources").await;
    let other_image =
        "us-central1-docker.pkg.dev/build-test-proj/cloud-run-source-deploy/other:src-1";
    let ours = start_build(
        &cb,
        docker_build("source/a.tgz", generation, IMAGE).set_tags(["chatctl", "chat-server"]),
    )
    .await;
    let cancelled = start_build(
        &cb,
        docker_build("source/a.tgz", generation, IMAGE).set_tags(["chatctl", "chat-server"]),
    )
    .await;
    cb.cancel_build()
        .set_project_id(PROJECT)
        .set_id(&cancelled.id)
        .send()
        .await
        .expect("cancel");
    let other = start_build(
        &cb,
        docker_build("source/a.tgz", generation, other_image).set_tags(["chatctl"]),
    )
    .await;
    let regional = cb
        .create_build()
        .set_parent(format!("projects/{PROJECT}/locations/us-central1"))
        .set_build(docker_build("source/a.tgz", generation, IMAGE).set_tags(["chatctl"]))
        .send()
        .await
        .expect("a regional build");
    assert!(!regional.done);

    // Everything global, newest first, over two pages of two.
    assert_eq!(
        listed(&cb, "").await,
        [other.id.as_str(), &cancelled.id, &ours.id]
    );
    // What chatctl asks: a build of this image, by chatctl, still in flight.
    let in_flight = format!(
        r#"tags="chatctl" AND images="{IMAGE}" AND (status="QUEUED" OR status="WORKING" OR status="PENDING")"#
    );
    assert_eq!(listed(&cb, &in_flight).await, [ours.id.as_str()]);
    assert_eq!(
        listed(&cb, r#"status="CANCELLED""#).await,
        [cancelled.id.as_str()]
    );
    assert_eq!(
        listed(&cb, &format!(r#"NOT images="{IMAGE}""#)).await,
        [other.id.as_str()]
    );
    assert_eq!(
        listed(
            &cb,
            r#"create_time>"2000-01-01T00:00:00Z" AND tags!="chat-server""#
        )
        .await,
        [other.id.as_str()]
    );
    let page = cb
        .list_builds()
        .set_project_id(PROJECT)
        .set_filter(r#"tags="chatctl""#)
        .set_page_size(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.builds.len(), 1);
    assert!(!page.next_page_token.is_empty());
    assert_eq!(page.builds[0].status, Status::Queued);

    // The regional endpoint lists the regional build only.
    let mut regional_list = cb
        .list_builds()
        .set_parent(format!("projects/{PROJECT}/locations/us-central1"))
        .send()
        .await
        .expect("regional list")
        .builds;
    assert_eq!(regional_list.len(), 1);
    let only = regional_list.pop().unwrap();
    assert!(
        only.name.contains("/locations/us-central1/builds/"),
        "{}",
        only.name
    );

    // Filters the server does not understand, and bad page tokens, are refused, not ignored.
    for bad in [
        r#"labels.env="x""#,
        r#"status="RUNNING""#,
        "status=WORKING",
        r#"tags="a" AND tags="b" OR tags="c""#,
    ] {
        let error = cb
            .list_builds()
            .set_project_id(PROJECT)
            .set_filter(bad)
            .send()
            .await
            .expect_err(bad);
        assert_eq!(code_of(&error), Code::InvalidArgument, "{bad}: {error}");
    }
    let error = cb
        .list_builds()
        .set_project_id(PROJECT)
        .set_page_token("not-a-token")
        .send()
        .await
        .expect_err("a made-up page token");
    assert_eq!(code_of(&error), Code::InvalidArgument);
}
