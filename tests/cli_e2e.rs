//! The chatctl binary against an in-process emulator, as CI runs it: JSON lines on stdout,
//! Ctrl-C during an up (exit 130, operations in flight named), then `down --yes`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Emu, IMAGE, PROJECT};
use emulator::FaultConfig;

fn chatctl(base: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .env("CHATCTL_API_ENDPOINT", base)
        .env("CHATCTL_PROJECT", PROJECT)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("CLOUDSDK_CONFIG", dir.join("no-gcloud"))
        .env("HOME", dir);
    cmd
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect()
}

#[tokio::test]
async fn ctrl_c_stops_an_up_reports_what_runs_and_down_cleans_up() {
    // Slower time (a Redis create takes 2.7 s) so the interrupt lands while it runs.
    let emu = Emu::start_scaled(51, FaultConfig::default(), 0.01).await;
    let dir = tempfile::tempdir().unwrap();
    let child = chatctl(emu.base(), dir.path())
        .args([
            "up", "--env", "sigint", "--image", IMAGE, "--output", "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let log = emu.requests().await;
        if log
            .iter()
            .any(|r| r["method"] == "POST" && r["path"].as_str().unwrap().contains("/instances?"))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the Redis create never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let events = json_lines(&out.stdout);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "message" && e["text"].as_str().unwrap().contains("interrupt")),
        "{events:?}"
    );
    let summary = events
        .iter()
        .find(|e| e["type"] == "summary")
        .expect("a summary");
    assert_eq!(summary["ok"], false);
    let redis = summary["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "redis")
        .unwrap();
    assert_eq!(redis["outcome"], "interrupted");
    assert!(
        redis["error"].as_str().unwrap().contains("/operations/"),
        "the operation is named: {redis}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let base = emu.base().to_string();
    let path = dir.path().to_path_buf();
    let down = tokio::task::spawn_blocking(move || {
        chatctl(&base, &path)
            .args(["down", "--env", "sigint", "--yes", "--output", "json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        down.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let summary = json_lines(&down.stdout)
        .into_iter()
        .find(|e| e["type"] == "summary")
        .unwrap();
    assert_eq!(summary["ok"], true);
    assert_eq!(emu.leftovers("sigint").await, "");
}
