//! Container image references (`host[:port]/path[:tag][@sha256:…]`): parsing, printing, and
//! what an Artifact Registry reference says about its project, location and repository.

use std::fmt;

/// A parsed image reference, e.g. `us-central1-docker.pkg.dev/p/cloud-run-source-deploy/chat-server@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host, with port when given (`127.0.0.1:5000`, `us-central1-docker.pkg.dev`).
    pub registry: String,
    /// Repository path inside the registry (`p/cloud-run-source-deploy/chat-server`).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>` when the reference is pinned by digest.
    pub digest: Option<String>,
}

/// Where an image lives in Artifact Registry (parsed from a `*-docker.pkg.dev` reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRegistryPath {
    pub project: String,
    pub location: String,
    pub repository: String,
    /// The image name inside the repository (may contain `/`).
    pub package: String,
}

impl ArtifactRegistryPath {
    /// `projects/P/locations/L/repositories/R`.
    pub fn repository_name(&self) -> String {
        format!(
            "projects/{}/locations/{}/repositories/{}",
            self.project, self.location, self.repository
        )
    }

    /// The package id as the Artifact Registry API spells it (`/` escaped as `%2F`).
    fn package_id(&self) -> String {
        self.package.replace('/', "%2F")
    }

    /// `…/packages/PKG/tags/TAG`, the name `GetTag` takes.
    pub fn tag_name(&self, tag: &str) -> String {
        format!(
            "{}/packages/{}/tags/{tag}",
            self.repository_name(),
            self.package_id()
        )
    }

    /// `…/dockerImages/PKG@sha256:…`, the name `GetDockerImage` takes.
    pub fn docker_image_name(&self, digest: &str) -> String {
        format!(
            "{}/dockerImages/{}@{digest}",
            self.repository_name(),
            self.package_id()
        )
    }
}

/// Why a string is not a usable image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{reference}` is not a valid image reference: {reason} (expected HOST/PATH[:TAG][@sha256:DIGEST], e.g. us-central1-docker.pkg.dev/my-project/my-repo/chat-server:v1)"
)]
pub struct InvalidReference {
    pub reference: String,
    pub reason: String,
}

impl ImageRef {
    /// Parses a reference the way Docker does: the first path component is the registry when it
    /// contains `.` or `:` or is `localhost`; otherwise the image is on Docker Hub.
    pub fn parse(reference: &str) -> Result<ImageRef, InvalidReference> {
        let invalid = |reason: &str| InvalidReference {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        if reference.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if reference.chars().any(char::is_whitespace) {
            return Err(invalid("it contains whitespace"));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (reference, None),
        };
        if let Some(digest) = digest {
            let hex = digest
                .strip_prefix("sha256:")
                .ok_or_else(|| invalid("the digest must start with sha256:"))?;
            if hex.len() != 64
                || !hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            {
                return Err(invalid(
                    "the digest must be sha256: followed by 64 lowercase hex digits",
                ));
            }
        }
        let (registry, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path)
            }
            _ => ("docker.io".to_string(), rest),
        };
        // Docker's normalisation: Docker Hub's legacy name is docker.io too.
        let registry = if registry == "index.docker.io" {
            "docker.io".to_string()
        } else {
            registry
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        if repository.is_empty()
            || repository
                .split('/')
                .any(|part| !valid_path_component(part))
        {
            return Err(invalid(
                "the image path must be lowercase letters, digits and . _ - separated by /",
            ));
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(invalid(
                "a tag is 1 to 128 letters, digits, . _ - and does not start with . or -",
            ));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The same image pinned by `digest` (the tag is kept for readability only).
    pub fn with_digest(&self, digest: &str) -> ImageRef {
        ImageRef {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// What a registry's manifest endpoint takes: the digest when pinned, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `Some` when the image lives in Artifact Registry (`LOCATION-docker.pkg.dev/PROJECT/REPO/IMAGE`).
    pub fn artifact_registry(&self) -> Option<ArtifactRegistryPath> {
        let location = self.registry.strip_suffix("-docker.pkg.dev")?;
        let mut parts = self.repository.splitn(3, '/');
        let (project, repository, package) = (parts.next()?, parts.next()?, parts.next()?);
        Some(ArtifactRegistryPath {
            project: project.to_string(),
            location: location.to_string(),
            repository: repository.to_string(),
            package: package.to_string(),
        })
    }
}

impl fmt::Display for ImageRef {
    /// Prints the deployable form: `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn valid_path_component(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && part.starts_with(|c: char| c.is_ascii_alphanumeric())
}

fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !tag.starts_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_registry_reference_by_tag() {
        let image =
            ImageRef::parse("us-central1-docker.pkg.dev/p1/cloud-run-source-deploy/chat-server:v1")
                .unwrap();
        assert_eq!(image.registry, "us-central1-docker.pkg.dev");
        assert_eq!(image.repository, "p1/cloud-run-source-deploy/chat-server");
        assert_eq!(image.manifest_reference(), "v1");
        let path = image.artifact_registry().unwrap();
        assert_eq!(
            path.tag_name("v1"),
            "projects/p1/locations/us-central1/repositories/cloud-run-source-deploy/packages/chat-server/tags/v1"
        );
    }

    #[test]
    fn registry_with_port_and_digest_round_trips() {
        let text = format!("127.0.0.1:5000/team/chat-server@sha256:{}", "ab".repeat(32));
        let image = ImageRef::parse(&text).unwrap();
        assert_eq!(image.registry, "127.0.0.1:5000");
        assert_eq!(image.tag, None);
        assert_eq!(image.to_string(), text);
        assert_eq!(image.artifact_registry(), None);
    }

    #[test]
    fn docker_hub_short_names_expand() {
        let image = ImageRef::parse("nginx:1.27").unwrap();
        assert_eq!(
            (image.registry.as_str(), image.repository.as_str()),
            ("docker.io", "library/nginx")
        );
    }

    #[test]
    fn nested_artifact_registry_package_is_escaped() {
        let image = ImageRef::parse("europe-west4-docker.pkg.dev/p/r/team/api@sha256:");
        assert!(image.is_err(), "a digest without hex is rejected");
        let digest = format!("sha256:{}", "0".repeat(64));
        let image = ImageRef::parse(&format!(
            "europe-west4-docker.pkg.dev/p/r/team/api@{digest}"
        ))
        .unwrap();
        assert_eq!(
            image
                .artifact_registry()
                .unwrap()
                .docker_image_name(&digest),
            format!(
                "projects/p/locations/europe-west4/repositories/r/dockerImages/team%2Fapi@{digest}"
            )
        );
    }

    #[test]
    fn bad_references_say_why() {
        for (bad, why) in [
            ("", "empty"),
            ("Registry.example/UPPER/case", "lowercase"),
            ("host.example/app:", "tag"),
            ("host.example/app@md5:abc", "sha256"),
            ("host.example/a b", "whitespace"),
        ] {
            let error = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }
}
