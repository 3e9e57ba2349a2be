//! Bad inputs to the image step give clear errors, never a panic or a hang: a malformed or
//! missing image reference, a registry that is not there, a registry that refuses, a build
//! that fails, a binary that would not run in a scratch image.

mod image_support;

use chatctl::image::registry::{RegistryAuth, RegistryClient};
use chatctl::image::{self, ImageContext, ImageError, LocalBuild, oci};
use image_support::{NO_GOOGLE, Registry, free_port, google};

/// htpasswd entry for user `chatctl` (bcrypt, cost 4); the tests never send its password.
const HTPASSWD: &str = "chatctl:$2a$04$EoQPyBWAIIBlZ6u2Z/z2geD2IbahNZoYfOi6u4KWw.RuQ5NanRWwW\n";

async fn context() -> ImageContext {
    ImageContext::new(google(NO_GOOGLE, "test-project").await)
}

#[tokio::test]
async fn malformed_reference_is_refused_before_any_call() {
    let error = image::check_prebuilt(&context().await, "Not A/Reference")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ImageError::InvalidReference(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("expected HOST/PATH"), "{error}");
}

#[tokio::test]
async fn missing_image_in_a_registry_is_reported_with_what_to_do() {
    let registry = Registry::start(None);
    let reference = format!("{}/chatctl/chat-server:does-not-exist", registry.addr);
    let error = image::check_prebuilt(&context().await, &reference)
        .await
        .unwrap_err();
    assert!(matches!(error, ImageError::NotFound { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&reference) && message.contains("--build"),
        "{message}"
    );
}

#[tokio::test]
async fn unreachable_registry_names_the_address() {
    let addr = format!("127.0.0.1:{}", free_port());
    let error = image::check_prebuilt(&context().await, &format!("{addr}/chatctl/chat-server:v1"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ImageError::Registry { .. }), "{error:?}");
    assert!(
        message.contains(&addr) && message.contains("reachable"),
        "{message}"
    );
}

#[tokio::test]
async fn registry_that_demands_credentials_refuses_anonymous_and_wrong_ones() {
    let registry = Registry::start(Some(HTPASSWD));
    let error = image::check_prebuilt(
        &context().await,
        &format!("{}/chatctl/chat-server:v1", registry.addr),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ImageError::RegistryRefused { status: 401, .. }),
        "{error:?}"
    );

    let wrong = RegistryAuth::Basic {
        username: "chatctl".into(),
        password: "wrong-password".into(),
    };
    let client = RegistryClient::new(&registry.addr, wrong).unwrap();
    let blob = oci::Blob::new(oci::LAYER_MEDIA_TYPE, b"layer bytes".to_vec());
    let error = client
        .push_blob("chatctl/chat-server", &blob)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ImageError::RegistryRefused { status: 401, .. }),
        "{error:?}"
    );
    assert!(
        !error.to_string().contains("wrong-password"),
        "secrets never appear in errors: {error}"
    );
    assert_eq!(client.stats().blobs_uploaded, 0);
}

/// htpasswd entry for user `reader` with password [`READER_PASSWORD`] (bcrypt, cost 4).
const READER_HTPASSWD: &str =
    "reader:$2a$04$V08CLOVIxkk4cVVzH7bSS.V5pMV/ZurRpJOQ4/O0gpSLPXFSpLsgi\n";
/// A test-only password of the registry above (never a real account's).
const READER_PASSWORD: &str = "not-a-real-secret";

#[tokio::test]
async fn a_private_registry_is_pushed_to_and_checked_with_the_docker_login() {
    use base64::Engine as _;
    let registry = Registry::start(Some(READER_HTPASSWD));
    let login = RegistryAuth::Basic {
        username: "reader".into(),
        password: READER_PASSWORD.into(),
    };
    let client = RegistryClient::new(&registry.addr, login).unwrap();
    let image = oci::single_binary_image(b"not an executable, only bytes to push").unwrap();
    for blob in image.blobs() {
        assert!(client.push_blob("chatctl/private", blob).await.unwrap());
    }
    let digest = client
        .put_manifest("chatctl/private", "v1", &image.manifest)
        .await
        .unwrap();
    assert_eq!(digest, image.manifest.digest);
    assert_eq!(client.stats().blobs_uploaded, 2);

    // `--image` finds it with the login `docker login` stored, and only with it.
    let reference = format!("{}/chatctl/private:v1", registry.addr);
    let docker = tempfile::tempdir().unwrap();
    let config = docker.path().join("config.json");
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("reader:{READER_PASSWORD}"));
    std::fs::write(
        &config,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let mut ctx = context().await;
    ctx.docker_config = Some(config);
    let found = image::check_prebuilt(&ctx, &reference).await.unwrap();
    assert_eq!(
        found.digest.as_deref(),
        Some(image.manifest.digest.as_str())
    );
    let anonymous = image::check_prebuilt(&context().await, &reference)
        .await
        .unwrap_err();
    assert!(
        matches!(anonymous, ImageError::RegistryRefused { status: 401, .. }),
        "{anonymous:?}"
    );
}

#[tokio::test]
async fn failed_local_compile_is_reported() {
    let broken = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(broken.path().join("src")).unwrap();
    std::fs::write(
        broken.path().join("Cargo.toml"),
        "[package]\nname = \"chat-server\"\nversion = \"0.0.0\"\nedition = \"2024\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        broken.path().join("src/main.rs"),
        "fn main() { this is not rust }\n",
    )
    .unwrap();
    let build = LocalBuild {
        workspace: Some(broken.path().to_path_buf()),
        profile: Some("dev".into()),
        ..Default::default()
    };
    let error = image::local::build_binary(&build, &context().await.progress)
        .await
        .unwrap_err();
    assert!(matches!(error, ImageError::LocalBuild(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("cargo build of chat-server failed"),
        "{error}"
    );
}

#[tokio::test]
async fn dynamically_linked_binary_is_not_pushed() {
    let registry = Registry::start(None);
    let mut ctx = context().await;
    ctx.registry_override = Some(format!("{}/chatctl", registry.addr));
    let build = LocalBuild {
        binary: Some("/bin/true".into()),
        ..Default::default()
    };
    let error = image::push_local_build(&ctx, &build).await.unwrap_err();
    assert!(error.to_string().contains("dynamically linked"), "{error}");
    assert_eq!(registry.completed_blob_uploads(), 0, "nothing half-pushed");
}
