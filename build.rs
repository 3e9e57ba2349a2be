//! Build script: packs chat-server's build context (sources, Dockerfile, a chat-server-only
//! workspace and its pinned Cargo.lock) into a deterministic tar.gz that the chatctl binary
//! embeds for `chatctl up --build source|local` (issue 5). Same sources, same bytes.

#[path = "src/image/source_bundle.rs"]
mod source_bundle;
#[path = "src/image/tarball.rs"]
mod tarball;

use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for watched in [
        "chat-server",
        "Cargo.toml",
        "Cargo.lock",
        "src/image/tarball.rs",
        "src/image/source_bundle.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    if !root.join("chat-server/Dockerfile").is_file() {
        println!(
            "cargo:warning=chat-server/Dockerfile is missing: `--build source` will refuse to run"
        );
    }
    let archive = source_bundle::pack(&root)
        .unwrap_or_else(|e| panic!("cannot pack chat-server's sources: {e}"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("chat-server-source.tar.gz"), &archive)
        .expect("write the source archive");
    let hash: String = Sha256::digest(&archive)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=CHATCTL_SOURCE_SHA256={hash}");
}
