//! Artifact Registry v1: read and create a repository (waiting for the create's operation),
//! read a tag and a Docker image.

use google_cloud_artifactregistry_v1::model::Repository;
use google_cloud_longrunning::model::Operation;

use super::Google;
use super::errors::{Kind, classify, explain};

pub const ROLE: &str = "roles/artifactregistry.admin";
const READER: &str = "roles/artifactregistry.reader";

/// The repository `name` (`projects/P/locations/R/repositories/ID`), or None.
pub async fn get_repository(google: &Google, name: &str) -> anyhow::Result<Option<Repository>> {
    let what = format!("read repository {name}");
    super::send_unless(google, google.call(&what, READER), Kind::NotFound, || {
        google
            .clients
            .artifact_registry
            .get_repository()
            .set_name(name)
            .send()
    })
    .await
}

/// Creates repository `id` in the region and waits; Ok(false) when the id is taken. A create
/// that failed transiently is looked up before it is sent again (it may have happened).
pub async fn create_repository(
    google: &Google,
    id: &str,
    repository: Repository,
) -> anyhow::Result<bool> {
    let client = &google.clients.artifact_registry;
    let name = format!("{}/repositories/{id}", google.parent());
    let what = format!("create repository {name}");
    let call = google.call(&what, ROLE);
    let sent = google
        .retry()
        .create_or_find(
            &what,
            || {
                client
                    .create_repository()
                    .set_parent(google.parent())
                    .set_repository_id(id)
                    .set_repository(repository.clone())
                    .send()
            },
            || async {
                // Found: it was created; there is no operation left to follow.
                let found = client.get_repository().set_name(&name).send().await;
                match found {
                    Ok(_) => Ok(Some(Operation::new().set_done(true))),
                    Err(e) if classify(&e) == Kind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            },
        )
        .await;
    let operation = match sent {
        Ok(operation) => operation,
        Err(e) if classify(&e) == Kind::AlreadyExists => return Ok(false),
        Err(e) => return Err(explain(e, call)),
    };
    google
        .waiting
        .operation(operation, call, |op| {
            client.get_operation().set_name(op).send()
        })
        .await?;
    Ok(true)
}

/// The version (`…/versions/sha256:…`) tag `name` points at, or None when it does not exist.
pub async fn tag_version(google: &Google, name: &str) -> anyhow::Result<Option<String>> {
    let what = format!("read tag {name}");
    let tag = super::send_unless(google, google.call(&what, READER), Kind::NotFound, || {
        google
            .clients
            .artifact_registry
            .get_tag()
            .set_name(name)
            .send()
    })
    .await?;
    Ok(tag.map(|tag| tag.version))
}

/// Whether the Docker image `name` (`…/dockerImages/IMAGE@sha256:…`) exists.
pub async fn docker_image_exists(google: &Google, name: &str) -> anyhow::Result<bool> {
    let what = format!("read image {name}");
    let image = super::send_unless(google, google.call(&what, READER), Kind::NotFound, || {
        google
            .clients
            .artifact_registry
            .get_docker_image()
            .set_name(name)
            .send()
    })
    .await?;
    Ok(image.is_some())
}
