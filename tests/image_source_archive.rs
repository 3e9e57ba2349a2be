//! The chat-server source archive embedded in chatctl is deterministic (packing the same
//! sources again, from a copy with other timestamps and creation order, gives the same bytes)
//! and is a complete Docker build context: chat-server, its Dockerfile's COPY sources, a
//! chat-server-only workspace and a Cargo.lock that pins every package it resolves.

mod image_support;

use chatctl::image::{source_archive, source_bundle};
use image_support::workspace_root;
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn embedded_archive_equals_a_fresh_pack_of_the_sources() {
    let fresh = source_bundle::pack(&workspace_root()).expect("pack the workspace");
    assert!(
        fresh == source_archive::bytes(),
        "packing the same sources must give the embedded bytes"
    );
    assert_eq!(
        chatctl::image::oci::sha256_digest(&fresh),
        format!("sha256:{}", source_archive::sha256_hex())
    );
    assert_eq!(
        source_archive::image_tag(),
        format!("src-{}", source_archive::sha256_hex())
    );
}

#[test]
fn a_copy_with_other_timestamps_and_order_packs_to_the_same_bytes() {
    let copy = tempfile::tempdir().unwrap();
    // Create the files in reverse order (directory order differs) with a different mtime.
    let mut files = source_archive::files().unwrap();
    files.reverse();
    for (path, data) in &files {
        let target = copy.path().join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, data).unwrap();
        let file = std::fs::File::options().write(true).open(&target).unwrap();
        file.set_modified(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567),
        )
        .unwrap();
    }
    // The copy's root manifest and lock are the already reduced ones; packing them again must be a
    // fixed point, which also proves the reduction keeps everything chat-server needs.
    let repacked = source_bundle::pack(copy.path()).expect("pack the copy");
    assert!(
        repacked == source_archive::bytes(),
        "same sources, different mtimes/order: bytes differ"
    );
}

#[test]
fn entries_are_normalised_and_hold_no_build_outputs() {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(source_archive::bytes()));
    let mut paths = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(
            (
                header.mtime().unwrap(),
                header.uid().unwrap(),
                header.gid().unwrap()
            ),
            (0, 0, 0)
        );
        assert!(matches!(header.mode().unwrap(), 0o644 | 0o755));
        paths.push(entry.path().unwrap().to_string_lossy().into_owned());
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries are sorted");
    for required in [
        "Cargo.toml",
        "Cargo.lock",
        "chat-server/Cargo.toml",
        "chat-server/src/main.rs",
        "chat-server/src/lib.rs",
    ] {
        assert!(
            paths.iter().any(|p| p == required),
            "{required} missing from {paths:?}"
        );
    }
    assert!(
        paths
            .iter()
            .all(|p| p == "Cargo.toml" || p == "Cargo.lock" || p.starts_with("chat-server/")),
        "only chat-server's context: {paths:?}"
    );
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("/target/") && !p.split('/').any(|c| c.starts_with('.'))),
        "no build outputs or dot files: {paths:?}"
    );
    assert!(
        paths.iter().all(|p| !p.starts_with("chat-server/tests/")),
        "chat-server's tests are not part of the image's sources: {paths:?}"
    );
}

#[test]
fn dockerfile_copy_sources_exist_in_the_archive() {
    let files: BTreeMap<String, Vec<u8>> = source_archive::files().unwrap().into_iter().collect();
    let dockerfile = files.get(source_archive::DOCKERFILE).unwrap_or_else(|| {
        panic!(
            "{} is not in the archive: --build source cannot build",
            source_archive::DOCKERFILE
        )
    });
    let dockerfile = String::from_utf8_lossy(dockerfile);
    let mut copies = 0;
    for line in dockerfile.lines().map(str::trim) {
        let Some(args) = line
            .strip_prefix("COPY ")
            .or_else(|| line.strip_prefix("ADD "))
        else {
            continue;
        };
        let words: Vec<&str> = args.split_whitespace().collect();
        if words.iter().any(|w| w.starts_with("--from")) {
            continue; // copies from an earlier build stage, not from the context
        }
        let sources: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !w.starts_with("--"))
            .collect();
        for source in &sources[..sources.len().saturating_sub(1)] {
            copies += 1;
            let source = source.trim_start_matches("./").trim_end_matches('/');
            let present = source == "."
                || files.contains_key(source)
                || files
                    .keys()
                    .any(|path| path.starts_with(&format!("{source}/")));
            assert!(
                present,
                "Dockerfile line `{line}` copies `{source}`, which the archive lacks"
            );
        }
    }
    assert!(
        copies > 0,
        "the Dockerfile copies nothing from the build context:\n{dockerfile}"
    );
}

#[test]
fn archive_workspace_resolves_offline_to_the_pinned_versions() {
    let dir = tempfile::tempdir().unwrap();
    source_archive::unpack_to(dir.path()).unwrap();
    let manifest: toml::Table = std::fs::read_to_string(dir.path().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        manifest["workspace"]["members"].as_array().unwrap(),
        &vec![toml::Value::from("chat-server")]
    );
    let shipped = locked_versions(&dir.path().join("Cargo.lock"));
    assert!(shipped.contains_key(&(
        "chat-server".to_string(),
        env!("CARGO_PKG_VERSION").to_string()
    )));

    // Let cargo resolve the archive's workspace with no network: it may drop entries it does not
    // need, but must not add or change any (that would mean an unpinned build in Cloud Build).
    // Resolution covers every platform; the tree is printed for this one, so cargo reads only
    // packages a build here has downloaded (not Windows-only ones).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--quiet",
            "--edges",
            "normal,build,dev",
            "--prefix",
            "none",
        ])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo could not resolve the archive's workspace offline:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resolved = locked_versions(&dir.path().join("Cargo.lock"));
    for (package, source) in &resolved {
        assert_eq!(
            shipped.get(package),
            Some(source),
            "{package:?} was not pinned by the shipped Cargo.lock"
        );
    }
}

/// (name, version) → source of every package in a Cargo.lock.
fn locked_versions(lock: &Path) -> BTreeMap<(String, String), String> {
    let lock: toml::Table = std::fs::read_to_string(lock).unwrap().parse().unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let field = |k: &str| {
                p.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            ((field("name"), field("version")), field("source"))
        })
        .collect()
}
