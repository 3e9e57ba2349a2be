//! The chat-server source archive that build.rs embeds in chatctl: chat-server's sources and
//! Dockerfile plus a chat-server-only workspace (Cargo.toml, pinned Cargo.lock). Deterministic,
//! so its sha256 names the sources: it is the image tag of `--build source`.

use std::io::Read;
use std::path::Path;

static ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chat-server-source.tar.gz"));

/// Path of the Dockerfile inside the archive; the archive root is the Docker build context.
pub const DOCKERFILE: &str = "chat-server/Dockerfile";

/// The archive bytes (tar.gz).
pub fn bytes() -> &'static [u8] {
    ARCHIVE
}

/// Lowercase hex sha256 of [`bytes`].
pub fn sha256_hex() -> &'static str {
    env!("CHATCTL_SOURCE_SHA256")
}

/// The tag `--build source` gives the image it builds from these sources: `src-<sha256>`.
pub fn image_tag() -> String {
    BuildContext::embedded().image_tag()
}

/// A Docker build context as shipped to Cloud Build: tar.gz bytes and their sha256.
/// [`BuildContext::embedded`] is chat-server's; tests may ship their own.
#[derive(Debug, Clone)]
pub struct BuildContext {
    bytes: bytes::Bytes,
    sha256_hex: String,
}

impl BuildContext {
    /// The chat-server sources embedded in this chatctl.
    pub fn embedded() -> BuildContext {
        BuildContext {
            bytes: bytes::Bytes::from_static(ARCHIVE),
            sha256_hex: sha256_hex().to_string(),
        }
    }

    /// Any tar.gz build context.
    pub fn from_tar_gz(bytes: Vec<u8>) -> BuildContext {
        let digest = super::oci::sha256_digest(&bytes);
        BuildContext {
            sha256_hex: digest["sha256:".len()..].to_string(),
            bytes: bytes.into(),
        }
    }

    pub fn bytes(&self) -> &bytes::Bytes {
        &self.bytes
    }

    pub fn sha256_hex(&self) -> &str {
        &self.sha256_hex
    }

    /// `src-<sha256>`: the image tag that names these sources.
    pub fn image_tag(&self) -> String {
        format!("src-{}", self.sha256_hex)
    }

    /// Whether the archive holds a file at `path`.
    pub fn contains(&self, path: &str) -> std::io::Result<bool> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(self.bytes.as_ref()));
        for entry in archive.entries()? {
            if entry?.path()?.to_string_lossy() == path {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Every file in the archive, in archive order, with its contents.
pub fn files() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(ARCHIVE));
    let mut files = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        files.push((path, data));
    }
    Ok(files)
}

/// Unpacks the archive under `dir` (which is created), e.g. for a local build.
pub fn unpack_to(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    tar::Archive::new(flate2::read::GzDecoder::new(ARCHIVE)).unpack(dir)
}
