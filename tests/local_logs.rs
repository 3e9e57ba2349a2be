//! `chatctl logs --local` and `chatctl open --local` against a running `chatctl up --local`: the
//! chat-server instances' own output reaches the emulated Cloud Logging (through entries.write,
//! as Cloud Run's agent sends it) next to the revision's startup lines; `open --local` gives
//! the front door; once the stack stops, both say how to start one (exit 3).

mod local_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use local_support::LocalStack;
use nix::sys::signal::Signal;
use serde_json::Value;

/// `chatctl ARGS` finding the local stack through the session files in `runtime`.
fn chatctl(
    dir: &std::path::Path,
    runtime: &std::path::Path,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    for (key, _) in std::env::vars() {
        if key.starts_with("CHATCTL_") {
            command.env_remove(key);
        }
    }
    let out = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("CHATCTL_RUNTIME_DIR", runtime)
        .env("CHATCTL_NO_BROWSER", "1")
        .env("HOME", dir)
        .env("CLOUDSDK_CONFIG", dir.join("no-gcloud"))
        .args(args)
        .output()
        .expect("run chatctl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn the_instances_output_reaches_logs_local_and_open_local_gives_the_front_door() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    let runtime_text = runtime.to_string_lossy().into_owned();
    let mut stack = LocalStack::start(
        dir.path(),
        &["--instances", "1"],
        &[("CHATCTL_RUNTIME_DIR", runtime_text.as_str())],
    );
    stack.wait_up();

    // The instance's lines arrive in batches: wait (bounded) until its start is in Logging.
    let deadline = Instant::now() + Duration::from_secs(20);
    let entries = loop {
        let (code, stdout, stderr) = chatctl(
            dir.path(),
            &runtime,
            &["logs", "--local", "--output", "json"],
        );
        assert_eq!(code, Some(0), "{stderr}");
        let entries: Vec<Value> = json_lines(&stdout)
            .into_iter()
            .filter(|e| e["type"] == "log")
            .collect();
        if entries.iter().any(|e| {
            e["logName"]
                .as_str()
                .is_some_and(|l| l.ends_with("run.googleapis.com%2Fstdout"))
                && e["text"].as_str().is_some_and(|t| t.contains("listening"))
        }) {
            break entries;
        }
        assert!(
            Instant::now() < deadline,
            "the instance's start never reached Logging: {entries:?}\n{}",
            stack.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        entries.iter().any(|e| e["text"]
            .as_str()
            .is_some_and(|t| t.contains("STARTUP TCP probe succeeded"))),
        "the revision's startup is there too: {entries:?}"
    );
    let instance_line = entries
        .iter()
        .find(|e| e["text"].as_str().is_some_and(|t| t.contains("listening")))
        .expect("found above");
    assert_eq!(instance_line["resource"]["type"], "cloud_run_revision");
    assert_eq!(
        instance_line["resource"]["labels"]["service_name"],
        "chat-default"
    );
    assert_eq!(
        instance_line["severity"], "INFO",
        "chat-server's own severity: {instance_line}"
    );

    let (code, stdout, stderr) = chatctl(
        dir.path(),
        &runtime,
        &["open", "--local", "--output", "json"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let opened = json_lines(&stdout).pop().expect("one object");
    assert_eq!(opened["url"], stack.url(), "{opened}");
    assert_eq!(opened["opened"], false);

    let status = stack.stop_with(Signal::SIGINT);
    assert_eq!(status.code(), Some(0), "{}", stack.log_text());
    for command in [["logs", "--local"], ["open", "--local"]] {
        let (code, _, stderr) = chatctl(dir.path(), &runtime, &command);
        assert_eq!(code, Some(3), "{command:?}: {stderr}");
        assert!(
            stderr.contains("no `chatctl up --local` is running"),
            "{stderr}"
        );
    }
}
