//! Repositories and the Docker images in them: the repository ID rule, formats, image
//! references (`LOCATION-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG|@sha256:…]`), pushes that move
//! tags, and the question Cloud Run asks: does this image exist?

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;

/// google.devtools.artifactregistry.v1.Repository, as sent and stored (enums as names).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Repository {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kms_key_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_policies: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub satisfies_pzs: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub satisfies_pzi: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_policy_dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerability_scanning_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disallow_unspecified_mode: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registry_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maven_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_repository_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_repository_config: Option<Value>,
}

/// One pushed image (a manifest digest) and the tags pointing at it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The image name inside the repository (`chat-server`, `team/api`).
    pub package: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub size_bytes: u64,
    pub upload_time: String,
}

/// A parsed `LOCATION-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG][@DIGEST]` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerRef {
    pub location: String,
    pub project: String,
    pub repository: String,
    pub package: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl DockerRef {
    /// `None` when the reference is not an Artifact Registry Docker reference.
    pub fn parse(reference: &str) -> Option<DockerRef> {
        let (host, path) = reference.split_once('/')?;
        let location = host.strip_suffix("-docker.pkg.dev")?.to_string();
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_string())),
            None => (path, None),
        };
        let (path, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t.to_string())),
            _ => (path, None),
        };
        let mut parts = path.splitn(3, '/');
        let project = parts.next().filter(|s| !s.is_empty())?.to_string();
        let repository = parts.next().filter(|s| !s.is_empty())?.to_string();
        let package = parts.next().filter(|s| !s.is_empty())?.to_string();
        Some(DockerRef {
            location,
            project,
            repository,
            package,
            tag,
            digest,
        })
    }

    pub fn repository_name(&self) -> String {
        format!(
            "projects/{}/locations/{}/repositories/{}",
            self.project, self.location, self.repository
        )
    }
}

/// Whether `digest` is `sha256:` + 64 lowercase hex digits.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// What Cloud Run learns about an image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageCheck {
    /// In the emulated Artifact Registry, at this digest.
    Found(String),
    /// Outside the emulated registries (Docker Hub, gcr.io, Google's public samples): trusted.
    Public,
    /// An Artifact Registry reference that names nothing that was pushed.
    Missing,
}

/// Google's public sample images, on Artifact Registry hosts but not in any emulated project.
const PUBLIC_AR_PREFIXES: &[&str] = &["us-docker.pkg.dev/cloudrun/container/"];

pub fn not_found() -> ApiError {
    ApiError::not_found("Requested entity was not found.")
}

/// Repositories by full name; images by repository name.
#[derive(Default, Serialize)]
pub struct Store {
    repositories: BTreeMap<String, Repository>,
    images: BTreeMap<String, Vec<Image>>,
}

impl Store {
    pub fn get(&self, name: &str) -> Result<&Repository, ApiError> {
        self.repositories.get(name).ok_or_else(not_found)
    }

    pub fn list(&self, project: &str, location: &str) -> Vec<Repository> {
        let prefix = format!("projects/{project}/locations/{location}/repositories/");
        self.repositories
            .iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The checks made before answering a create; the repository exists once the operation
    /// finishes ([`Store::insert`]).
    pub fn validate_create(
        &self,
        project: &str,
        location: &str,
        id: &str,
        input: &Repository,
    ) -> Result<String, ApiError> {
        if !crate::validate::lower_id(id, 1, 63) {
            return Err(ApiError::invalid_argument(format!(
                "Invalid repository ID \"{id}\": it must be 1-63 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit."
            )));
        }
        match input.format.as_deref() {
            None | Some("FORMAT_UNSPECIFIED") => {
                return Err(ApiError::invalid_argument(
                    "Repository format must be specified (e.g. DOCKER).",
                ));
            }
            _ => {}
        }
        crate::validate::labels(&input.labels)?;
        let name = format!("projects/{project}/locations/{location}/repositories/{id}");
        if self.repositories.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "the repository already exists: {name}"
            )));
        }
        Ok(name)
    }

    /// Records a repository created by a finished operation (ALREADY_EXISTS if a racing
    /// create got there first).
    pub fn insert(&mut self, name: &str, mut input: Repository) -> Result<Repository, ApiError> {
        if self.repositories.contains_key(name) {
            return Err(ApiError::already_exists(format!(
                "the repository already exists: {name}"
            )));
        }
        let parts: Vec<&str> = name.split('/').collect();
        let (project, location, id) = (parts[1], parts[3], parts[5]);
        let now = crate::json::now_timestamp();
        input.name = name.to_string();
        if input
            .mode
            .as_deref()
            .is_none_or(|m| m == "MODE_UNSPECIFIED")
        {
            input.mode = Some("STANDARD_REPOSITORY".to_string());
        }
        input.create_time = Some(now.clone());
        input.update_time = Some(now);
        input.size_bytes = None;
        input.registry_uri = match input.format.as_deref() {
            Some("DOCKER") => format!("{location}-docker.pkg.dev/{project}/{id}"),
            Some(other) => format!("{location}-{}.pkg.dev/{project}/{id}", other.to_lowercase()),
            None => String::new(),
        };
        input.satisfies_pzs = false;
        self.repositories.insert(name.to_string(), input.clone());
        Ok(input)
    }

    pub fn require_exists(&self, name: &str) -> Result<(), ApiError> {
        self.get(name).map(drop)
    }

    /// Deletes a repository and every image in it.
    pub fn remove(&mut self, name: &str) {
        self.repositories.remove(name);
        self.images.remove(name);
    }

    /// Registers a pushed image (what `docker push` does): the repository must exist and hold
    /// Docker images; a tag moves to the new digest. Errors read like the registry's.
    pub fn push(
        &mut self,
        reference: &str,
        digest: &str,
        size_bytes: u64,
    ) -> Result<Image, String> {
        let r = DockerRef::parse(reference).ok_or_else(|| {
            format!("{reference} is not an Artifact Registry Docker image (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE[:TAG])")
        })?;
        if !valid_digest(digest) {
            return Err(format!("invalid digest {digest}"));
        }
        let repo_name = r.repository_name();
        match self
            .repositories
            .get(&repo_name)
            .and_then(|x| x.format.as_deref())
        {
            None => {
                return Err(format!(
                    "name unknown: Repository \"{}\" not found",
                    r.repository
                ));
            }
            Some("DOCKER") => {}
            Some(other) => {
                return Err(format!(
                    "Repository \"{}\" holds {other} packages, not Docker images",
                    r.repository
                ));
            }
        }
        let images = self.images.entry(repo_name).or_default();
        if let Some(tag) = &r.tag {
            for image in images.iter_mut().filter(|i| i.package == r.package) {
                image.tags.retain(|t| t != tag);
            }
        }
        let now = crate::json::now_timestamp();
        let index = match images
            .iter()
            .position(|i| i.package == r.package && i.digest == digest)
        {
            Some(i) => i,
            None => {
                images.push(Image {
                    package: r.package.clone(),
                    digest: digest.to_string(),
                    tags: Vec::new(),
                    size_bytes,
                    upload_time: now.clone(),
                });
                images.len() - 1
            }
        };
        let image = &mut images[index];
        image.upload_time = now;
        if let Some(tag) = r.tag {
            image.tags.push(tag);
        }
        Ok(image.clone())
    }

    /// Whether Cloud Run can pull `reference`. Artifact Registry references must name a
    /// pushed image (by tag, `latest` when none, or by digest), except Google's public samples;
    /// any other registry is outside the emulation and trusted.
    pub fn check(&self, reference: &str) -> ImageCheck {
        if PUBLIC_AR_PREFIXES.iter().any(|p| reference.starts_with(p)) {
            return ImageCheck::Public;
        }
        let Some(r) = DockerRef::parse(reference) else {
            return if reference.contains(".pkg.dev/") {
                ImageCheck::Missing
            } else {
                ImageCheck::Public
            };
        };
        let images = self.images.get(&r.repository_name());
        let found = images.into_iter().flatten().find(|i| {
            i.package == r.package
                && match (&r.digest, &r.tag) {
                    (Some(d), _) => *d == i.digest,
                    (None, Some(t)) => i.tags.contains(t),
                    (None, None) => i.tags.iter().any(|t| t == "latest"),
                }
        });
        match found {
            Some(i) => ImageCheck::Found(i.digest.clone()),
            None => ImageCheck::Missing,
        }
    }

    /// Images of a repository (ALREADY checked to exist), in push order.
    pub fn images(&self, repository: &str) -> Vec<Image> {
        self.images.get(repository).cloned().unwrap_or_default()
    }

    pub fn image(&self, repository: &str, package: &str, digest: &str) -> Option<Image> {
        self.images
            .get(repository)?
            .iter()
            .find(|i| i.package == package && i.digest == digest)
            .cloned()
    }

    pub fn tagged(&self, repository: &str, package: &str, tag: &str) -> Option<Image> {
        self.images
            .get(repository)?
            .iter()
            .find(|i| i.package == package && i.tags.iter().any(|t| t == tag))
            .cloned()
    }
}

/// The package ID as resource names spell it (`/` escaped as `%2F`).
pub fn package_id(package: &str) -> String {
    package.replace('/', "%2F")
}

/// google.devtools.artifactregistry.v1.DockerImage JSON.
pub fn docker_image_json(repository: &str, image: &Image) -> Value {
    let parts: Vec<&str> = repository.split('/').collect();
    let (project, location, repo) = (parts[1], parts[3], parts[5]);
    let mut v = json!({
        "name": format!("{repository}/dockerImages/{}@{}", package_id(&image.package), image.digest),
        "uri": format!("{location}-docker.pkg.dev/{project}/{repo}/{}@{}", image.package, image.digest),
        "imageSizeBytes": image.size_bytes.to_string(),
        "uploadTime": image.upload_time,
        "buildTime": image.upload_time,
        "updateTime": image.upload_time,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    });
    if !image.tags.is_empty() {
        v["tags"] = json!(image.tags);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    fn store_with_repo() -> Store {
        let mut s = Store::default();
        let repo = Repository {
            format: Some("DOCKER".into()),
            ..Repository::default()
        };
        s.insert("projects/p1/locations/us-central1/repositories/app", repo)
            .unwrap();
        s
    }

    #[test]
    fn references_parse_with_tags_digests_and_nested_names() {
        let r = DockerRef::parse("europe-west4-docker.pkg.dev/p/app/team/api:v1").unwrap();
        assert_eq!(
            (r.location.as_str(), r.package.as_str(), r.tag.as_deref()),
            ("europe-west4", "team/api", Some("v1"))
        );
        let d = DockerRef::parse(&format!("us-docker.pkg.dev/p/r/i@{DIGEST}")).unwrap();
        assert_eq!(d.digest.as_deref(), Some(DIGEST));
        assert!(DockerRef::parse("docker.io/library/redis:7").is_none());
    }

    #[test]
    fn pushes_are_found_by_tag_and_digest_and_tags_move() {
        let mut s = store_with_repo();
        let image = "us-central1-docker.pkg.dev/p1/app/chat";
        assert_eq!(s.check(&format!("{image}:v1")), ImageCheck::Missing);
        s.push(&format!("{image}:v1"), DIGEST, 10).unwrap();
        assert_eq!(
            s.check(&format!("{image}:v1")),
            ImageCheck::Found(DIGEST.into())
        );
        assert_eq!(
            s.check(&format!("{image}@{DIGEST}")),
            ImageCheck::Found(DIGEST.into())
        );
        let other = DIGEST.replace("01", "02");
        s.push(&format!("{image}:v1"), &other, 10).unwrap();
        assert_eq!(s.check(&format!("{image}:v1")), ImageCheck::Found(other));
        assert!(
            s.push("us-central1-docker.pkg.dev/p1/nope/chat:v1", DIGEST, 1)
                .is_err()
        );
        assert_eq!(s.check("gcr.io/p/x:latest"), ImageCheck::Public);
        assert_eq!(
            s.check("us-docker.pkg.dev/cloudrun/container/hello"),
            ImageCheck::Public
        );
    }
}
