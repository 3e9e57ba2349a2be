//! `--build local` end to end against a real registry (Debian's docker-registry): compile a
//! static chat-server, push it as a one-layer OCI image, read it back through the registry API,
//! run the binary from the pulled layer, and push again: same digest, no blob uploaded twice.
//! Prints the time of each phase and the bytes pushed (the `--build local` benchmark):
//! `CHATCTL_LOCAL_BUILD_PROFILE=release cargo nextest run -p chatctl --test image_local_registry --no-capture`.
//! Then the same through the binary: `chatctl up --build local --registry` against the emulator
//! deploys the pushed image by digest, and a second `up` pushes no blob and changes nothing.

mod common;
mod image_support;

use chatctl::image::{self, ImageContext, ImageSource, LocalBuild, oci};
use image_support::{NO_GOOGLE, Registry, google, workspace_root};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Reads a registry URL with a plain HTTP client (independent of chatctl's registry client).
async fn get(url: &str, accept: &str) -> (reqwest::StatusCode, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .expect("GET the registry");
    let status = response.status();
    (
        status,
        response.bytes().await.expect("read the body").to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn local_build_pushes_a_runnable_reproducible_image() {
    let registry = Registry::start(None);
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut ctx = ImageContext::new(google(NO_GOOGLE, "test-project").await);
    ctx.registry_override = Some(format!("{}/chatctl", registry.addr));
    let seen = events.clone();
    ctx.progress = Arc::new(move |event| seen.lock().unwrap().push(event.clone()));
    // Compile inside this workspace (shared target dir), in the quick-to-compile image-test
    // profile unless benchmarking.
    let profile =
        std::env::var("CHATCTL_LOCAL_BUILD_PROFILE").unwrap_or_else(|_| "image-test".into());
    let compile = LocalBuild {
        workspace: Some(workspace_root()),
        profile: Some(profile.clone()),
        ..LocalBuild::default()
    };
    let started = Instant::now();
    let compiled = image::local::build_binary(&compile, &ctx.progress)
        .await
        .expect("compile a static chat-server");
    let compile_time = started.elapsed();
    // Push a private copy, so a rebuild of the workspace meanwhile cannot change the binary.
    let frozen = tempfile::tempdir().unwrap();
    let binary = frozen.path().join("chat-server");
    std::fs::copy(&compiled, &binary).unwrap();
    let build = LocalBuild {
        binary: Some(binary),
        ..LocalBuild::default()
    };

    let started = Instant::now();
    let first = image::push_local_build(&ctx, &build)
        .await
        .expect("first push");
    let first_time = started.elapsed();
    let digest = first.image.digest.clone().expect("pushed by digest");
    assert_eq!(first.image.registry, registry.addr);
    assert_eq!(first.image.repository, "chatctl/chat-server");
    assert_eq!(
        (first.stats.blobs_uploaded, first.stats.blobs_skipped),
        (2, 0),
        "{:?}",
        first.stats
    );
    assert!(
        first.stats.bytes_uploaded > first.binary_bytes / 10,
        "{:?}",
        first.stats
    );
    assert_eq!(
        registry.completed_blob_uploads(),
        2,
        "registry log:\n{}",
        registry.log()
    );

    // The manifest, read back by digest and by tag, names one gzip layer and the config.
    let base = format!("http://{}/v2/chatctl/chat-server", registry.addr);
    let (status, manifest_bytes) = get(
        &format!("{base}/manifests/{digest}"),
        oci::MANIFEST_MEDIA_TYPE,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        oci::sha256_digest(&manifest_bytes),
        digest,
        "the registry returns the manifest we pushed"
    );
    let tag = first.image.tag.clone().expect("tagged");
    let (status, by_tag) = get(&format!("{base}/manifests/{tag}"), oci::MANIFEST_MEDIA_TYPE).await;
    assert_eq!(
        (status.as_u16(), by_tag.as_slice()),
        (200, manifest_bytes.as_slice())
    );
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["mediaType"], oci::MANIFEST_MEDIA_TYPE);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], oci::LAYER_MEDIA_TYPE);

    // The config runs /chat-server as uid 65532 with PORT=8080.
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let (status, config_bytes) = get(&format!("{base}/blobs/{config_digest}"), "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(oci::sha256_digest(&config_bytes), config_digest);
    let config: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap();
    assert_eq!(config["config"]["Entrypoint"][0], "/chat-server");
    assert_eq!(config["config"]["User"], "65532:65532");
    assert!(
        config["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "PORT=8080")
    );
    assert_eq!(
        (config["os"].as_str(), config["architecture"].as_str()),
        (Some("linux"), Some("amd64"))
    );

    // Pull the layer, unpack it, and run the binary it holds.
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let (status, layer) = get(&format!("{base}/blobs/{layer_digest}"), "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(oci::sha256_digest(&layer), layer_digest);
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(layer.as_slice())
        .read_to_end(&mut tar_bytes)
        .unwrap();
    assert_eq!(
        oci::sha256_digest(&tar_bytes),
        config["rootfs"]["diff_ids"][0].as_str().unwrap(),
        "the config's diff_id is the uncompressed layer's digest"
    );
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut names = Vec::new();
    let rootfs = tempfile::tempdir().unwrap();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
        assert_eq!(
            (header.uid().unwrap(), header.gid().unwrap()),
            (65532, 65532)
        );
        assert_eq!(header.mode().unwrap(), 0o755);
        entry.unpack_in(rootfs.path()).unwrap();
    }
    assert_eq!(names, ["chat-server"]);
    let binary = rootfs.path().join("chat-server");
    image::local::check_static_amd64(&std::fs::read(&binary).unwrap())
        .expect("the pulled binary is static");
    // A scratch image has no environment and no libraries: run it with an empty environment.
    let output = std::process::Command::new(&binary)
        .arg("--version")
        .env_clear()
        .output()
        .expect("run chat-server");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chat-server --version failed: {output:?}"
    );
    assert!(
        stdout.contains(env!("CARGO_PKG_VERSION")),
        "unexpected version output: {stdout}"
    );

    // Same binary again: same digest, nothing uploaded, the registry saw no new upload.
    let started = Instant::now();
    let second = image::push_local_build(&ctx, &build)
        .await
        .expect("second push");
    let second_time = started.elapsed();
    eprintln!(
        "benchmark --build local ({profile}): compile {:.2} s; first push {:.2} s, {} bytes \
         pushed (binary {} bytes); second push (blobs present) {:.2} s, {} bytes pushed",
        compile_time.as_secs_f64(),
        first_time.as_secs_f64(),
        first.stats.bytes_uploaded,
        first.binary_bytes,
        second_time.as_secs_f64(),
        second.stats.bytes_uploaded
    );
    assert_eq!(second.image.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(
        (second.stats.blobs_uploaded, second.stats.blobs_skipped),
        (0, 2),
        "{:?}",
        second.stats
    );
    assert_eq!(
        registry.completed_blob_uploads(),
        2,
        "registry log:\n{}",
        registry.log()
    );

    // ensure_image reports Ready with the same pinned reference.
    let ensured = image::ensure_image(&ctx, &ImageSource::Local(build))
        .await
        .expect("ensure_image");
    assert_eq!(ensured.digest.as_deref(), Some(digest.as_str()));
    let events = events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, image::ImageEvent::Compiling { .. }))
    );
    assert!(
        matches!(events.last(), Some(image::ImageEvent::Ready { image }) if image.ends_with(&digest))
    );

    // --image with the pushed reference resolves to the same digest through the registry API.
    let prebuilt = image::check_prebuilt(
        &ctx,
        &format!("{}/chatctl/chat-server:{tag}", registry.addr),
    )
    .await
    .unwrap();
    assert_eq!(prebuilt.digest.as_deref(), Some(digest.as_str()));
}

/// Runs the chatctl binary against the emulator at `base`, compiling chat-server from this
/// workspace in the image-test profile (the build the test above shares).
async fn chatctl(base: &str, home: &std::path::Path, args: &[String]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_chatctl"));
    command
        .args(args)
        .current_dir(home)
        .stdin(std::process::Stdio::null())
        .env("CHATCTL_API_ENDPOINT", base)
        .env("CHATCTL_PROJECT", common::PROJECT)
        .env("CHATCTL_LOCAL_BUILD_WORKSPACE", workspace_root())
        .env("CHATCTL_LOCAL_BUILD_PROFILE", "image-test")
        .env_remove("CHATCTL_LOCAL_BUILD_BINARY")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("CLOUDSDK_CONFIG", home.join("no-gcloud"))
        .env("HOME", home);
    let out = tokio::task::spawn_blocking(move || command.output().expect("run chatctl"))
        .await
        .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "chatctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["type"] == "summary")
        .expect("a JSON summary on stdout")
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_build_local_deploys_the_pushed_digest_and_a_second_up_pushes_nothing() {
    let registry = Registry::start(None);
    let emu = common::Emu::start(72).await;
    let home = tempfile::tempdir().unwrap();
    let up: Vec<String> = [
        "up",
        "--env",
        "localbuild",
        "--build",
        "local",
        "--registry",
        &format!("{}/chatctl", registry.addr),
        "--output",
        "json",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();

    let first = summary(&chatctl(emu.base(), home.path(), &up).await);
    let image = first["image"]
        .as_str()
        .expect("the image served")
        .to_string();
    let pushed = format!("{}/chatctl/chat-server:", registry.addr);
    assert!(
        image.starts_with(&pushed) && image.contains("@sha256:"),
        "pushed to the registry, pinned by digest: {first}"
    );
    // Cloud Run got exactly that reference, and the registry has it.
    let log = emu.requests().await;
    let deployed = common::deployed_images(&log);
    assert_eq!(deployed, vec![image.clone()]);
    let digest = image.rsplit_once('@').unwrap().1;
    let (status, _) = get(
        &format!(
            "http://{}/v2/chatctl/chat-server/manifests/{digest}",
            registry.addr
        ),
        oci::MANIFEST_MEDIA_TYPE,
    )
    .await;
    assert!(
        status.is_success(),
        "the registry serves the manifest: {status}"
    );
    let uploads = registry.completed_blob_uploads();
    assert!(uploads >= 2, "config and layer uploaded ({uploads})");

    // Again: the same binary gives the same digest, no blob goes up twice, Google sees only reads.
    let before = emu.requests().await.len();
    let second = summary(&chatctl(emu.base(), home.path(), &up).await);
    assert_eq!(second["image"], first["image"]);
    assert_eq!(
        registry.completed_blob_uploads(),
        uploads,
        "no blob uploaded twice"
    );
    assert_eq!(
        common::mutating(&emu.requests().await[before..]),
        Vec::<String>::new()
    );

    let down: Vec<String> = ["down", "--env", "localbuild", "--yes"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    chatctl(emu.base(), home.path(), &down).await;
    assert_eq!(emu.leftovers("localbuild").await, "");
}
