//! Credentials as a user meets them: with none at all, a missing or broken credentials file,
//! or user credentials whose refresh token expired, every command that talks to Google stops
//! before any API call with exit 3, naming what was looked for and the fix, and never prints a
//! secret. Everything stays on loopback: the API endpoint is the emulator, and the "metadata
//! server" is a closed loopback port.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Emu, IMAGE, PROJECT};

/// chatctl against the emulator at `base`, with no credentials unless `envs` adds some.
fn chatctl(base: &str, dir: &std::path::Path, args: &[&str], envs: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .env("CHATCTL_API_ENDPOINT", base)
        .env("CHATCTL_PROJECT", PROJECT)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("GCE_METADATA_HOST")
        .env_remove("GOOGLE_CLOUD_QUOTA_PROJECT")
        .env("CLOUDSDK_CONFIG", dir.join("no-gcloud"))
        .env("HOME", dir);
    for (key, value) in envs {
        cmd.env(key, value);
    }
    cmd.output().expect("run chatctl")
}

async fn run(base: &str, dir: &std::path::Path, args: &[&str], envs: &[(&str, String)]) -> Output {
    let base = base.to_string();
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, String)> = envs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        chatctl(&base, &dir, &args, &envs)
    })
    .await
    .unwrap()
}

/// The commands that talk to Google.
const COMMANDS: &[&[&str]] = &[
    &["plan"],
    &["status"],
    &["up", "--image", IMAGE],
    &["down", "--yes"],
];

/// Asserts that `out` is a refusal with exit 3 whose message has every one of `needles`;
/// returns the message.
fn refused(out: &Output, args: &[&str], needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: lacks {needle:?}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A loopback address where nothing listens (the port was bound, then released).
fn closed_loopback_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

/// The API calls in the request log (token grants are not API calls).
async fn api_calls(emu: &Emu) -> Vec<String> {
    emu.requests()
        .await
        .iter()
        .filter(|r| r["path"] != "/token")
        .map(|r| format!("{} {}", r["method"], r["path"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_at_all_name_every_place_looked_and_the_fix_before_any_call() {
    let emu = Emu::start(61).await;
    let dir = tempfile::tempdir().unwrap();
    let metadata = closed_loopback_port();
    for args in COMMANDS {
        let started = Instant::now();
        let out = run(
            emu.base(),
            dir.path(),
            args,
            &[("GCE_METADATA_HOST", metadata.clone())],
        )
        .await;
        refused(
            &out,
            args,
            &[
                "no Google credentials",
                "GOOGLE_APPLICATION_CREDENTIALS: not set",
                "no-gcloud/application_default_credentials.json",
                "does not exist",
                &format!("the metadata server at {metadata}"),
                "gcloud auth application-default login",
                "workload identity federation",
            ],
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(api_calls(&emu).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credentials_file_that_is_missing_or_not_json_is_named() {
    let emu = Emu::start(62).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n").unwrap();
    for (path, says) in [
        (&missing, "missing.json does not exist"),
        (&broken, "broken.json is not a JSON credentials file"),
    ] {
        for args in COMMANDS {
            let envs = [("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string())];
            let out = run(emu.base(), dir.path(), args, &envs).await;
            let stderr = refused(&out, args, &[says, "GOOGLE_APPLICATION_CREDENTIALS="]);
            assert!(!stderr.contains("MIIEvQ"), "no file content: {stderr}");
            assert!(!stderr.contains("metadata server"), "not tried: {stderr}");
        }
    }
    assert_eq!(api_calls(&emu).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_user_credentials_stop_before_any_call_without_printing_secrets() {
    let emu = Emu::start(63).await;
    let dir = tempfile::tempdir().unwrap();
    let user = emu.register_user("dev@example.com").await;
    let file = dir.path().join("adc.json");
    let envs = [("GOOGLE_APPLICATION_CREDENTIALS", file.display().to_string())];

    // Valid user credentials pass the check: `plan` gets a token, then reads.
    std::fs::write(&file, user.to_string()).unwrap();
    let ok = run(emu.base(), dir.path(), &["plan", "--image", IMAGE], &envs).await;
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!api_calls(&emu).await.is_empty(), "plan read the project");
    assert!(
        emu.requests().await.iter().any(|r| r["path"] == "/token"),
        "the refresh token was exchanged at the emulator's /token"
    );

    // The same file with a refresh token Google no longer accepts: invalid_grant.
    let mut revoked = user.clone();
    revoked["refresh_token"] = "1//emulator-revoked-0123456789abcdef".into();
    std::fs::write(&file, revoked.to_string()).unwrap();
    let before = api_calls(&emu).await.len();
    for args in COMMANDS {
        let out = run(emu.base(), dir.path(), args, &envs).await;
        let stderr = refused(
            &out,
            args,
            &[
                "adc.json were refused",
                "expired or been revoked",
                "gcloud auth application-default login",
            ],
        );
        assert!(
            stderr.contains("invalid_grant"),
            "Google's answer: {stderr}"
        );
        assert!(
            !stderr.contains("future attempts"),
            "no boilerplate: {stderr}"
        );
        for secret in [
            revoked["refresh_token"].as_str().unwrap(),
            user["client_secret"].as_str().unwrap(),
        ] {
            assert!(!stderr.contains(secret), "a secret was printed:\n{stderr}");
        }
    }
    assert_eq!(api_calls(&emu).await.len(), before, "no API call");
}
