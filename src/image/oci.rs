//! A one-layer OCI image around a single static binary, assembled in memory: the layer holds
//! `/chat-server` (owned by uid/gid 65532), the config runs it as that user with `PORT=8080`.
//! Every byte is a function of the binary, so the same binary gives the same manifest digest.

use super::tarball::{self, FileEntry, Owner};
use sha2::{Digest, Sha256};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The non-root user the image runs as (distroless' "nonroot").
pub const RUN_AS_UID: u64 = 65532;
/// Where the binary sits in the image, and its entrypoint.
pub const BINARY_PATH: &str = "/chat-server";

/// Content-addressed bytes: a layer, a config or a manifest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: &'static str,
    /// `sha256:<hex>` of `data`.
    pub digest: String,
    pub data: bytes::Bytes,
}

impl Blob {
    pub fn new(media_type: &'static str, data: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: sha256_digest(&data),
            data: data.into(),
        }
    }

    fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.data.len() })
    }
}

/// An image ready to push: blobs first, then the manifest that names them.
#[derive(Debug, Clone)]
pub struct OciImage {
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Blob,
}

impl OciImage {
    /// Layer and config, in the order they must be pushed (before the manifest).
    pub fn blobs(&self) -> [&Blob; 2] {
        [&self.layer, &self.config]
    }
}

/// `sha256:<hex>` of `data`, the form registries use for digests.
pub fn sha256_digest(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Builds the image for `binary` (a static linux/amd64 executable).
pub fn single_binary_image(binary: &[u8]) -> std::io::Result<OciImage> {
    let layer_tar = tarball::tar(
        &[FileEntry {
            path: BINARY_PATH.trim_start_matches('/').to_string(),
            mode: 0o755,
            data: binary.to_vec(),
        }],
        Owner {
            uid: RUN_AS_UID,
            gid: RUN_AS_UID,
        },
    )?;
    let diff_id = sha256_digest(&layer_tar);
    let layer = Blob::new(LAYER_MEDIA_TYPE, tarball::gzip(&layer_tar)?);
    let epoch = "1970-01-01T00:00:00Z";
    let config = serde_json::json!({
        "created": epoch,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{RUN_AS_UID}:{RUN_AS_UID}"),
            "Env": ["PATH=/", "PORT=8080"],
            "Entrypoint": [BINARY_PATH],
            "ExposedPorts": { "8080/tcp": {} },
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": epoch, "created_by": "chatctl up --build local" }],
    });
    let config = Blob::new(CONFIG_MEDIA_TYPE, serde_json::to_vec(&config)?);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    });
    let manifest = Blob::new(MANIFEST_MEDIA_TYPE, serde_json::to_vec(&manifest)?);
    Ok(OciImage {
        layer,
        config,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_binary_same_digest_and_different_binary_different_digest() {
        let a = single_binary_image(b"\x7fELF pretend binary").unwrap();
        let b = single_binary_image(b"\x7fELF pretend binary").unwrap();
        let c = single_binary_image(b"\x7fELF another binary").unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest);
        assert_eq!(a.manifest.data, b.manifest.data);
        assert_ne!(a.manifest.digest, c.manifest.digest);
    }

    #[test]
    fn manifest_names_config_and_layer() {
        let image = single_binary_image(b"binary").unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.data).unwrap();
        assert_eq!(manifest["config"]["digest"], image.config.digest.as_str());
        assert_eq!(manifest["layers"][0]["digest"], image.layer.digest.as_str());
        assert_eq!(manifest["layers"][0]["size"], image.layer.data.len());
        let config: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["config"]["Env"][1], "PORT=8080");
    }
}
