//! The HTTP surface of Artifact Registry v1: repository routes and their operations (create
//! ≈ 5 s, delete ≈ 10 s, × time scale), Docker image and tag reads, and the emulator-only
//! `POST /_emulator/images` that records a pushed image.

use std::time::Duration;

use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{Repository, docker_image_json, not_found, package_id};
use super::{ENUMS, SERVICE};
use crate::error::ApiError;
use crate::ops::{self, EMPTY};
use crate::router::{Api, Call, Reply, paginate, row};
use crate::state::Emu;

const CREATE_LATENCY: Duration = Duration::from_secs(5);
const DELETE_LATENCY: Duration = Duration::from_secs(10);
const REPOSITORY_TYPE: &str = "google.devtools.artifactregistry.v1.Repository";
const METADATA_TYPE: &str =
    "type.googleapis.com/google.devtools.artifactregistry.v1.OperationMetadata";
const MULTI_REGIONS: &[&str] = &["us", "europe", "asia"];

const REPOSITORIES_PATH: &str = "/v1/projects/{project}/locations/{location}/repositories";
const REPOSITORY_PATH: &str =
    "/v1/projects/{project}/locations/{location}/repositories/{repository}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            REPOSITORIES_PATH,
            "artifactregistry.projects.locations.repositories.create",
            &["repositoryId"],
            |c| Box::pin(create(c)),
        )
            .needs("artifactregistry.repositories.create"),
        row(
            Method::GET,
            REPOSITORIES_PATH,
            "artifactregistry.projects.locations.repositories.list",
            &["filter", "orderBy", "pageSize", "pageToken"],
            |c| Box::pin(list(c)),
        )
            .needs("artifactregistry.repositories.list"),
        row(
            Method::GET,
            REPOSITORY_PATH,
            "artifactregistry.projects.locations.repositories.get",
            &[],
            |c| Box::pin(get(c)),
        )
            .needs("artifactregistry.repositories.get"),
        row(
            Method::DELETE,
            REPOSITORY_PATH,
            "artifactregistry.projects.locations.repositories.delete",
            &[],
            |c| Box::pin(delete(c)),
        )
            .needs("artifactregistry.repositories.delete"),
        row(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/repositories/{repository}/dockerImages",
            "artifactregistry.projects.locations.repositories.dockerImages.list",
            &["orderBy", "pageSize", "pageToken"],
            |c| Box::pin(list_images(c)),
        )
            .needs("artifactregistry.dockerimages.list"),
        row(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/repositories/{repository}/dockerImages/{image=**}",
            "artifactregistry.projects.locations.repositories.dockerImages.get",
            &[],
            |c| Box::pin(get_image(c)),
        )
            .needs("artifactregistry.dockerimages.get"),
        row(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/repositories/{repository}/packages/{package}/tags/{tag}",
            "artifactregistry.projects.locations.repositories.packages.tags.get",
            &[],
            |c| Box::pin(get_tag(c)),
        )
            .needs("artifactregistry.tags.get"),
    ],
};

/// The emulator-only endpoints of this API (no Google service, no enablement check).
pub static EMULATOR_API: Api = Api {
    service: "",
    enums: &[],
    methods: &[row(
        Method::POST,
        "/_emulator/images",
        "emulator.images.push",
        &[],
        |c| Box::pin(push_image(c)),
    )],
};

fn require_location(location: &str) -> Result<(), ApiError> {
    if MULTI_REGIONS.contains(&location) {
        return Ok(());
    }
    crate::validate::require_region(location)
}

fn repository_name(call: &Call) -> String {
    format!(
        "projects/{}/locations/{}/repositories/{}",
        call.param("project"),
        call.param("location"),
        call.param("repository")
    )
}

fn start_op(emu: &Emu, call: &Call) -> (String, Value) {
    let name = format!(
        "projects/{}/locations/{}/operations/{}",
        call.param("project"),
        call.param("location"),
        emu.operation_id()
    );
    let op = emu.world(|w| {
        w.operations
            .start(name.clone(), SERVICE, json!({ "@type": METADATA_TYPE }))
    });
    (name, op)
}

async fn create(call: Call) -> Result<Reply, ApiError> {
    let (project, location) = (call.param("project"), call.param("location"));
    require_location(location)?;
    let id = call
        .query("repositoryId")
        .ok_or_else(|| {
            ApiError::invalid_argument(
                "repository_id must be provided (query parameter repositoryId).",
            )
        })?
        .to_string();
    let input: Repository = call.body()?;
    let name = call.emu.world(|w| {
        w.artifactregistry
            .validate_create(project, location, &id, &input)
    })?;
    let (op_name, op) = start_op(&call.emu, &call);
    call.emu.schedule(CREATE_LATENCY, move |emu| async move {
        emu.world(|w| {
            let result = w
                .artifactregistry
                .insert(&name, input)
                .map(|repo| ops::any(REPOSITORY_TYPE, &repo));
            w.operations.finish(&op_name, result);
        });
    });
    Ok(Reply::Json(op))
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let name = repository_name(&call);
    let repo = call.emu.world(|w| w.artifactregistry.get(&name).cloned())?;
    Ok(Reply::Json(serde_json::to_value(repo).unwrap_or_default()))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    require_location(call.param("location"))?;
    let all = call.emu.world(|w| {
        w.artifactregistry
            .list(call.param("project"), call.param("location"))
    });
    let (page, next) = paginate(&all, &call, 1000)?;
    let mut body = json!({ "repositories": page });
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

async fn delete(call: Call) -> Result<Reply, ApiError> {
    let name = repository_name(&call);
    call.emu
        .world(|w| w.artifactregistry.require_exists(&name))?;
    let (op_name, op) = start_op(&call.emu, &call);
    call.emu.schedule(DELETE_LATENCY, move |emu| async move {
        emu.world(|w| {
            w.artifactregistry.remove(&name);
            w.operations.finish(&op_name, Ok(json!({ "@type": EMPTY })));
        });
    });
    Ok(Reply::Json(op))
}

async fn list_images(call: Call) -> Result<Reply, ApiError> {
    let name = repository_name(&call);
    let images = call.emu.world(|w| {
        w.artifactregistry
            .require_exists(&name)
            .map(|_| w.artifactregistry.images(&name))
    })?;
    let (page, next) = paginate(&images, &call, 100)?;
    let items: Vec<Value> = page.iter().map(|i| docker_image_json(&name, i)).collect();
    let mut body = json!({ "dockerImages": items });
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

/// `…/dockerImages/IMAGE@sha256:…` (IMAGE with `/` escaped as `%2F`, decoded here).
async fn get_image(call: Call) -> Result<Reply, ApiError> {
    let name = repository_name(&call);
    let image = percent_encoding::percent_decode_str(call.param("image"))
        .decode_utf8_lossy()
        .into_owned();
    let (package, digest) = image.split_once('@').ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "Invalid docker image name \"{image}\": expected IMAGE@sha256:DIGEST."
        ))
    })?;
    let found = call.emu.world(|w| {
        w.artifactregistry.require_exists(&name)?;
        w.artifactregistry
            .image(&name, package, digest)
            .ok_or_else(not_found)
    })?;
    Ok(Reply::Json(docker_image_json(&name, &found)))
}

/// `…/packages/PKG/tags/TAG` → `{name, version: …/packages/PKG/versions/sha256:…}`.
async fn get_tag(call: Call) -> Result<Reply, ApiError> {
    let name = repository_name(&call);
    let (package, tag) = (call.param("package"), call.param("tag"));
    let package = percent_encoding::percent_decode_str(package)
        .decode_utf8_lossy()
        .into_owned();
    let found = call.emu.world(|w| {
        w.artifactregistry.require_exists(&name)?;
        w.artifactregistry
            .tagged(&name, &package, tag)
            .ok_or_else(not_found)
    })?;
    let package = package_id(&package);
    Ok(Reply::Json(json!({
        "name": format!("{name}/packages/{package}/tags/{tag}"),
        "version": format!("{name}/packages/{package}/versions/{}", found.digest),
    })))
}

/// `POST /_emulator/images {"image": "LOC-docker.pkg.dev/P/REPO/IMG:TAG", "digest"?, "sizeBytes"?}`:
/// records a pushed image as `docker push` would (the repository must exist). Without a
/// digest, one is derived from the reference.
async fn push_image(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Push {
        image: String,
        digest: Option<String>,
        size_bytes: Option<u64>,
    }
    let push: Push = call.body()?;
    let digest = push
        .digest
        .unwrap_or_else(|| crate::apis::cloudbuild::sha256_digest(push.image.as_bytes()));
    let image = call.emu.world(|w| {
        w.artifactregistry
            .push(&push.image, &digest, push.size_bytes.unwrap_or(0))
    });
    match image {
        Ok(image) => Ok(Reply::Json(json!({
            "image": push.image,
            "digest": image.digest,
            "tags": image.tags,
        }))),
        Err(message) => Err(ApiError::failed_precondition(message)),
    }
}
