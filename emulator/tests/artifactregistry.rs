//! Artifact Registry v1 through the official google-cloud-artifactregistry-v1 client:
//! repositories as operations, Docker images and tags after a push (emulator-only
//! `POST /_emulator/images`), and the errors a real project answers.

mod common;

use common::*;
use google_cloud_artifactregistry_v1::client::ArtifactRegistry;
use google_cloud_artifactregistry_v1::model::Repository;
use google_cloud_artifactregistry_v1::model::repository::{Format, Mode};
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;
use serde_json::{Value, json};

const PARENT: &str = "projects/ar-test-proj/locations/us-central1";
const REPO: &str = "projects/ar-test-proj/locations/us-central1/repositories/app";

async fn client(base_url: &str) -> ArtifactRegistry {
    ArtifactRegistry::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Artifact Registry client")
}

fn docker() -> Repository {
    Repository::new()
        .set_format(Format::Docker)
        .set_description("chat-server images")
        .set_labels([("managed-by", "chatctl")])
}

async fn push(base_url: &str, image: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{base_url}/_emulator/images"))
        .json(&json!({ "image": image }))
        .send()
        .await
        .expect("the emulator answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn repository_lifecycle_images_and_tags() {
    let emu = start(fast_config()).await;
    let ar = client(emu.base_url()).await;

    let op = ar
        .create_repository()
        .set_parent(PARENT)
        .set_repository_id("app")
        .set_repository(docker())
        .send()
        .await
        .expect("the create is accepted");
    assert!(!op.done);
    assert!(op.name.starts_with(&format!("{PARENT}/operations/")));
    let created = ar
        .create_repository()
        .set_parent(PARENT)
        .set_repository_id("app-2")
        .set_repository(docker())
        .poller()
        .until_done()
        .await
        .expect("the second repository is created");
    assert_eq!(created.mode, Mode::StandardRepository);
    assert_eq!(
        created.registry_uri,
        "us-central1-docker.pkg.dev/ar-test-proj/app-2"
    );
    let repo = eventually(std::time::Duration::from_secs(10), || async {
        ar.get_repository().set_name(REPO).send().await.ok()
    })
    .await;
    assert_eq!(repo.format, Format::Docker);
    assert_eq!(
        repo.labels.get("managed-by").map(String::as_str),
        Some("chatctl")
    );
    let listed = ar
        .list_repositories()
        .set_parent(PARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.repositories.len(), 2);

    // A push makes the image visible by digest and its tag resolvable.
    let image = "us-central1-docker.pkg.dev/ar-test-proj/app/team/api:v1";
    let (status, pushed) = push(emu.base_url(), image).await;
    assert_eq!(status, 200, "{pushed}");
    let digest = pushed["digest"].as_str().unwrap().to_string();
    let images = ar
        .list_docker_images()
        .set_parent(REPO)
        .send()
        .await
        .unwrap();
    assert_eq!(images.docker_images.len(), 1);
    assert_eq!(images.docker_images[0].tags, ["v1"]);
    assert_eq!(
        images.docker_images[0].uri,
        format!("us-central1-docker.pkg.dev/ar-test-proj/app/team/api@{digest}")
    );
    let by_digest = ar
        .get_docker_image()
        .set_name(format!("{REPO}/dockerImages/team%2Fapi@{digest}"))
        .send()
        .await
        .expect("the image is found by digest");
    assert_eq!(by_digest.name, images.docker_images[0].name);
    let tag = ar
        .get_tag()
        .set_name(format!("{REPO}/packages/team%2Fapi/tags/v1"))
        .send()
        .await
        .expect("the tag is found");
    assert!(
        tag.version.ends_with(&format!("/versions/{digest}")),
        "{}",
        tag.version
    );
    let no_tag = ar
        .get_tag()
        .set_name(format!("{REPO}/packages/team%2Fapi/tags/v2"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&no_tag), Code::NotFound);
    let other = format!("sha256:{}", "0".repeat(64));
    let no_image = ar
        .get_docker_image()
        .set_name(format!("{REPO}/dockerImages/team%2Fapi@{other}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&no_image), Code::NotFound);

    // Delete is an operation answering Empty, and takes the images with it.
    ar.delete_repository()
        .set_name(REPO)
        .poller()
        .until_done()
        .await
        .expect("the repository is deleted");
    let gone = ar.get_repository().set_name(REPO).send().await.unwrap_err();
    assert_eq!(code_of(&gone), Code::NotFound);
    let (status, _) = push(emu.base_url(), image).await;
    assert_eq!(status, 400, "no repository, no push");
}

#[tokio::test]
async fn refusals() {
    let emu = start(fast_config()).await;
    let ar = client(emu.base_url()).await;
    ar.create_repository()
        .set_parent(PARENT)
        .set_repository_id("app")
        .set_repository(docker())
        .poller()
        .until_done()
        .await
        .unwrap();
    let create = |id: &'static str, body: Repository| {
        let ar = ar.clone();
        async move {
            ar.create_repository()
                .set_parent(PARENT)
                .set_repository_id(id)
                .set_repository(body)
                .send()
                .await
                .expect_err("the create is refused")
        }
    };
    assert_eq!(code_of(&create("app", docker()).await), Code::AlreadyExists);
    assert_eq!(
        code_of(&create("App", docker()).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code_of(&create("1app", docker()).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code_of(&create("no-format", Repository::new()).await),
        Code::InvalidArgument
    );
    let missing = ar
        .get_repository()
        .set_name(format!("{PARENT}/repositories/none"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&missing), Code::NotFound);
    let (status, body) = push(emu.base_url(), "docker.io/library/redis:7").await;
    assert_eq!(
        status, 400,
        "only Artifact Registry references can be pushed: {body}"
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_refused() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let repositories = format!("{base}/v1/{PARENT}/repositories");
    use reqwest::Method;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{repositories}?pageSize=5&pageToken=0&orderBy=name"),
    )
    .await;
    assert_only_known_query_parameters(Method::POST, &format!("{repositories}?repositoryId=app"))
        .await;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{base}/v1/{REPO}/dockerImages?pageSize=5&orderBy=update_time"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{base}/v1/{PARENT}/operations?pageSize=1"),
    )
    .await;
}
