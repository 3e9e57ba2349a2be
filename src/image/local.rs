//! `--build local`: compile chat-server here as a static linux/amd64 executable (glibc with
//! `+crt-static`; the only target this toolchain has), wrap it in a one-layer OCI image and
//! push it through the registry API. No Docker daemon, no Cloud Build; same binary, same digest.

use super::oci;
use super::registry::{RegistryClient, UploadStats};
use super::{ImageError, ImageEvent, ImageRef, Progress, source_archive};
use crate::config::Environment;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The target triple the image's binary is built for: Cloud Run runs linux/amd64.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";
/// A build that takes longer than this is stopped (a cold release build takes minutes).
const BUILD_TIME_LIMIT: Duration = Duration::from_secs(45 * 60);

/// How to obtain the chat-server binary for `--build local`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalBuild {
    /// Use this prebuilt binary (static linux/amd64) instead of compiling.
    pub binary: Option<PathBuf>,
    /// Compile the `chat-server` package of this workspace checkout instead of the sources
    /// embedded in chatctl (handy in the chatctl repository itself: shares its target dir).
    pub workspace: Option<PathBuf>,
    /// Cargo profile; `release` when unset.
    pub profile: Option<String>,
    /// Target directory for builds of the embedded sources; defaults to chatctl's cache
    /// directory, so the second build is incremental.
    pub target_dir: Option<PathBuf>,
    /// chatctl's cache directory (the embedded sources are unpacked there).
    pub cache_dir: Option<PathBuf>,
    /// The cargo to run (`cargo` on PATH when unset).
    pub cargo: Option<PathBuf>,
}

impl LocalBuild {
    /// The knobs of `--build local` from the environment: CHATCTL_LOCAL_BUILD_BINARY (a static
    /// linux/amd64 chat-server you built: no compile), CHATCTL_LOCAL_BUILD_WORKSPACE (compile
    /// this checkout of the chatctl repository instead of the embedded sources) and
    /// CHATCTL_LOCAL_BUILD_PROFILE (a cargo profile; release by default).
    pub fn from_environment(environment: &Environment) -> LocalBuild {
        LocalBuild {
            binary: environment.local_build_binary.clone(),
            workspace: environment.local_build_workspace.clone(),
            profile: environment.local_build_profile.clone(),
            target_dir: None,
            cache_dir: environment.cache_dir.clone(),
            cargo: environment.cargo.clone(),
        }
    }
}

/// What `--build local` pushed.
#[derive(Debug, Clone)]
pub struct LocalPush {
    /// The image by digest.
    pub image: ImageRef,
    pub stats: UploadStats,
    pub binary_bytes: u64,
}

/// Produces the static chat-server binary: the given one, or a fresh `cargo build`.
pub async fn build_binary(build: &LocalBuild, progress: &Progress) -> Result<PathBuf, ImageError> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return Err(ImageError::LocalBuild(
            "`--build local` compiles chat-server for linux/amd64 and needs an x86_64 Linux machine; use `--build source` (Cloud Build) instead".into(),
        ));
    }
    if let Some(binary) = &build.binary {
        return Ok(binary.clone());
    }
    let (workspace, target_dir) = match &build.workspace {
        Some(workspace) => (workspace.clone(), None),
        None => {
            let cache = build.cache_dir.clone().ok_or_else(|| {
                ImageError::LocalBuild(
                    "neither XDG_CACHE_HOME nor HOME is set: no place for the build cache".into(),
                )
            })?;
            let sources = cache.join(format!(
                "chat-server-src-{}",
                &source_archive::sha256_hex()[..16]
            ));
            if !sources.is_dir() {
                // Unpack beside, then rename: an interrupted unpack never looks complete.
                let partial = sources.with_extension(format!("partial-{}", std::process::id()));
                source_archive::unpack_to(&partial)
                    .and_then(|()| std::fs::rename(&partial, &sources))
                    .map_err(|e| {
                        ImageError::LocalBuild(format!(
                            "cannot unpack chat-server's sources into {}: {e}",
                            sources.display()
                        ))
                    })?;
            }
            (
                sources,
                Some(
                    build
                        .target_dir
                        .clone()
                        .unwrap_or_else(|| cache.join("target")),
                ),
            )
        }
    };
    let profile = build.profile.clone().unwrap_or_else(|| "release".into());
    progress(&ImageEvent::Compiling {
        workspace: workspace.clone(),
        profile: profile.clone(),
    });
    let cargo = build.cargo.clone().unwrap_or_else(|| "cargo".into());
    let mut command = tokio::process::Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--package",
            "chat-server",
            "--bin",
            "chat-server",
            "--message-format",
            "json-render-diagnostics",
        ])
        .args(["--profile", &profile, "--target", TARGET])
        // With an explicit --target these flags reach only chat-server's own code and
        // dependencies, not build scripts or proc macros, which must stay dynamic.
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .env_remove("RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(target_dir) = target_dir {
        command.env("CARGO_TARGET_DIR", target_dir);
    }
    let child = command.spawn().map_err(|e| {
        ImageError::LocalBuild(format!(
            "cannot run cargo ({e}); `--build local` needs a Rust toolchain (https://rustup.rs)"
        ))
    })?;
    let output = tokio::time::timeout(BUILD_TIME_LIMIT, child.wait_with_output())
        .await
        .map_err(|_| {
            ImageError::LocalBuild(format!(
                "cargo build did not finish within {} minutes",
                BUILD_TIME_LIMIT.as_secs() / 60
            ))
        })?
        .map_err(|e| ImageError::LocalBuild(format!("cargo build failed to run: {e}")))?;
    if !output.status.success() {
        return Err(ImageError::LocalBuild(format!(
            "cargo build of chat-server failed ({}); the compiler's messages are above",
            output.status
        )));
    }
    built_executable(&output.stdout).ok_or_else(|| {
        ImageError::LocalBuild(
            "cargo build succeeded but reported no chat-server executable".into(),
        )
    })
}

/// The `executable` of chat-server's `compiler-artifact` message in cargo's JSON output.
fn built_executable(cargo_json: &[u8]) -> Option<PathBuf> {
    String::from_utf8_lossy(cargo_json)
        .lines()
        .rev()
        .find_map(|line| {
            let message: serde_json::Value = serde_json::from_str(line).ok()?;
            (message["reason"] == "compiler-artifact" && message["target"]["name"] == "chat-server")
                .then(|| message["executable"].as_str().map(PathBuf::from))
                .flatten()
        })
}

/// Checks that `binary` is an x86_64 ELF executable without a dynamic loader (PT_INTERP), so
/// it runs in an image that holds nothing else.
pub fn check_static_amd64(binary: &[u8]) -> Result<(), String> {
    let u16_at = |at: usize| {
        binary
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        binary
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |at: usize| {
        binary
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if binary.get(..4) != Some(b"\x7fELF".as_slice())
        || binary.get(4) != Some(&2)
        || binary.get(5) != Some(&1)
    {
        return Err("it is not a 64-bit little-endian ELF executable".into());
    }
    if u16_at(18) != Some(0x3e) {
        return Err("it is not built for x86_64 (Cloud Run runs linux/amd64)".into());
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return Err("its ELF header is truncated".into());
    };
    for index in 0..usize::from(phnum) {
        let at = usize::try_from(phoff)
            .unwrap_or(usize::MAX)
            .saturating_add(index * usize::from(phentsize));
        const PT_INTERP: u32 = 3;
        match u32_at(at) {
            Some(PT_INTERP) => {
                return Err("it is dynamically linked (it names a program interpreter); build it with -C target-feature=+crt-static".into());
            }
            Some(_) => {}
            None => return Err("its program headers are truncated".into()),
        }
    }
    Ok(())
}

/// Wraps `binary` in an image and pushes it to `destination` (its tag, if any, is replaced by
/// `local-<digest prefix>`). Blobs the registry already holds are not sent again.
pub async fn push_binary(
    binary_path: &Path,
    destination: &ImageRef,
    client: &RegistryClient,
    progress: &Progress,
) -> Result<LocalPush, ImageError> {
    let binary = tokio::fs::read(binary_path).await.map_err(|e| {
        ImageError::LocalBuild(format!(
            "cannot read the chat-server binary {}: {e}",
            binary_path.display()
        ))
    })?;
    check_static_amd64(&binary).map_err(|why| {
        ImageError::LocalBuild(format!(
            "{} cannot run in a scratch image: {why}",
            binary_path.display()
        ))
    })?;
    let image = oci::single_binary_image(&binary)
        .map_err(|e| ImageError::LocalBuild(format!("cannot assemble the image: {e}")))?;
    let repository = destination.repository.as_str();
    for blob in image.blobs() {
        let sent = client.push_blob(repository, blob).await?;
        progress(&ImageEvent::Blob {
            digest: blob.digest.clone(),
            bytes: blob.data.len() as u64,
            uploaded: sent,
        });
    }
    let tag = format!(
        "local-{}",
        &image.manifest.digest["sha256:".len().."sha256:".len() + 16]
    );
    let digest = client
        .put_manifest(repository, &tag, &image.manifest)
        .await?;
    let pushed = ImageRef {
        tag: Some(tag),
        digest: Some(digest),
        ..destination.clone()
    };
    Ok(LocalPush {
        image: pushed,
        stats: client.stats(),
        binary_bytes: binary.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_elf_file_is_refused() {
        assert!(
            check_static_amd64(b"#!/bin/sh\necho hi\n")
                .unwrap_err()
                .contains("ELF")
        );
    }

    #[test]
    fn a_dynamically_linked_program_is_refused() {
        // This test binary is itself dynamically linked (the default for x86_64-unknown-linux-gnu).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(
            check_static_amd64(&me)
                .unwrap_err()
                .contains("dynamically linked")
        );
    }

    #[test]
    fn cargo_json_names_the_executable() {
        let json = br#"{"reason":"compiler-artifact","target":{"name":"chat-server"},"executable":"/t/x86_64-unknown-linux-gnu/release/chat-server"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            built_executable(json),
            Some(PathBuf::from(
                "/t/x86_64-unknown-linux-gnu/release/chat-server"
            ))
        );
    }
}
