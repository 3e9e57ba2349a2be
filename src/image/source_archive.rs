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
    format!("src-{}", sha256_hex())
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
