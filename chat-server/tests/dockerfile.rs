//! The image recipe, checked without Docker (not available in tests): the Dockerfile's shape
//! (multi-stage, chat-server alone, non-root runtime) and the workspace reduction it runs, which
//! must leave a manifest cargo resolves with chat-server as the only member.

use std::path::Path;
use std::process::Command;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn reduce(manifest: &Path) -> String {
    let output = Command::new("awk")
        .arg("-f")
        .arg(Path::new(CRATE_DIR).join("docker/workspace-only.awk"))
        .arg(manifest)
        .output()
        .expect("awk is needed to check the Dockerfile's workspace reduction");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 manifest")
}

/// The platform rustc builds for here (`host:` of `rustc -vV`).
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn the_reduced_workspace_resolves_with_chat_server_as_its_only_member() {
    let root = Path::new(CRATE_DIR).parent().expect("workspace root");
    let dir = tempfile::tempdir().expect("temp dir");
    let reduced = reduce(&root.join("Cargo.toml"));
    std::fs::write(dir.path().join("Cargo.toml"), &reduced).expect("write manifest");
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).expect("copy lock");
    let crate_copy = dir.path().join("chat-server");
    std::fs::create_dir_all(&crate_copy).expect("mkdir");
    std::fs::copy(
        Path::new(CRATE_DIR).join("Cargo.toml"),
        crate_copy.join("Cargo.toml"),
    )
    .expect("copy manifest");
    for sub in ["src", "web"] {
        copy_dir(&Path::new(CRATE_DIR).join(sub), &crate_copy.join(sub));
    }
    assert_eq!(
        reduce(&dir.path().join("Cargo.toml")),
        reduced,
        "the reduction is idempotent"
    );

    // Offline and for this platform only: cargo resolves from Cargo.lock and the cached index,
    // and reads only the manifests a build here downloads (not Windows-only packages).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(dir.path())
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo cannot resolve the reduced workspace:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let members = metadata["workspace_members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{members:?}");
    assert!(
        members[0]
            .as_str()
            .is_some_and(|m| m.contains("chat-server")),
        "{members:?}"
    );
    let packages: Vec<&str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for needed in ["socketioxide", "socketioxide-redis", "redis", "axum"] {
        assert!(packages.contains(&needed), "{needed} is not resolved");
    }
    for other in ["chatctl", "emulator", "bench"] {
        assert!(
            !packages.contains(&other),
            "{other} must not be part of the image build"
        );
    }
}

#[test]
fn the_dockerfile_builds_chat_server_alone_and_runs_it_as_non_root() {
    let dockerfile =
        std::fs::read_to_string(Path::new(CRATE_DIR).join("Dockerfile")).expect("Dockerfile");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(dockerfile.contains("cargo build --release -p chat-server"));
    let runtime = dockerfile.split(froms[1]).nth(1).expect("runtime stage");
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "runs as {user}"
    );
    assert!(runtime.contains("ENTRYPOINT [\"/usr/local/bin/chat-server\"]"));

    let root = Path::new(CRATE_DIR).parent().expect("workspace root");
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &words[..words.len() - 1] {
            assert!(
                root.join(source).exists(),
                "`{line}`: {source} is not in the build context"
            );
        }
    }
}
