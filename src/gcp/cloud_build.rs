//! Cloud Build v1: start a build (read from its operation's metadata, as gcloud does), list the
//! builds matching a filter, read one build.

use google_cloud_build_v1::model::{Build, BuildOperationMetadata};

use super::Google;
use super::errors::{Kind, classify, explain};

pub const ROLE: &str = "roles/cloudbuild.builds.editor";
const VIEWER: &str = "roles/cloudbuild.builds.viewer";

/// Starts `build` and returns it as Cloud Build accepted it (its id and log URL set). A create
/// that failed transiently may have started the build: the newest build matching
/// `running_filter` (one only this build would match) is looked for before another is started.
pub async fn create(google: &Google, build: Build, running_filter: &str) -> anyhow::Result<Build> {
    let client = &google.clients.cloud_build;
    let what = "start the Cloud Build build";
    let started = google
        .retry()
        .create_or_find(
            what,
            || async {
                let operation = client
                    .create_build()
                    .set_project_id(&google.project)
                    .set_build(build.clone())
                    .send()
                    .await?;
                Ok(operation
                    .metadata
                    .and_then(|any| any.to_msg::<BuildOperationMetadata>().ok())
                    .and_then(|metadata| metadata.build)
                    .unwrap_or_default())
            },
            || async {
                Ok(first_page(google, running_filter, 1)
                    .await?
                    .into_iter()
                    .next())
            },
        )
        .await
        .map_err(|e| explain(e, google.call(what, ROLE)))?;
    if started.id.is_empty() {
        anyhow::bail!("{what}: the build operation carries no build id in its metadata");
    }
    Ok(started)
}

async fn first_page(
    google: &Google,
    filter: &str,
    page_size: i32,
) -> Result<Vec<Build>, google_cloud_gax::error::Error> {
    let page = google
        .clients
        .cloud_build
        .list_builds()
        .set_project_id(&google.project)
        .set_filter(filter)
        .set_page_size(page_size)
        .send()
        .await?;
    Ok(page.builds)
}

/// The first page of builds matching `filter` (newest first), with at most `page_size` builds.
/// Ok(None) when Cloud Build is not enabled: nothing can be building (answered at once, with no
/// wait for the API to become enabled as after `up` enables it).
pub async fn list(
    google: &Google,
    filter: &str,
    page_size: i32,
) -> anyhow::Result<Option<Vec<Build>>> {
    let what = "list the Cloud Build builds";
    let mut lookup = google.retry().clone();
    lookup.eventual_window = std::time::Duration::ZERO;
    let listed = lookup
        .run(what, || first_page(google, filter, page_size))
        .await;
    match listed {
        Ok(builds) => Ok(Some(builds)),
        Err(e) if classify(&e) == Kind::ServiceDisabled => Ok(None),
        Err(e) => Err(explain(e, google.call(what, VIEWER))),
    }
}

/// Build `id`.
pub async fn get(google: &Google, id: &str) -> anyhow::Result<Build> {
    let what = format!("read Cloud Build build {id}");
    super::send(google, google.call(&what, VIEWER), || {
        google
            .clients
            .cloud_build
            .get_build()
            .set_project_id(&google.project)
            .set_id(id)
            .send()
    })
    .await
}
