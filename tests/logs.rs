//! `chatctl logs` and `chatctl open` end to end: the chatctl binary against an in-process
//! emulator (loopback only) after a real `up`: the service's entries (text and JSON), `--since`,
//! `--follow` picking up a new entry and ending on Ctrl-C, `--build`, a bad `--since` (exit 3),
//! a caller without roles/logging.viewer, and `open` printing the URL without opening anything.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Emu, IMAGE, PROJECT};
use emulator::{Emulator, EmulatorConfig, NoRuntime};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The chatctl binary against `base`, anonymous, never opening a browser.
fn chatctl(base: &str, dir: &std::path::Path) -> Command {
    let mut cmd = common::chatctl_at(base, dir);
    cmd.env("CHATCTL_NO_BROWSER", "1")
        .env("CHATCTL_RUNTIME_DIR", dir.join("runtime"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    cmd
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(mut cmd: Command) -> Output {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run chatctl"))
        .await
        .expect("join");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Writes one text entry of environment `env`'s Cloud Run service, `ago` before now.
async fn write_entry(emu: &Emu, env: &str, text: &str, ago: Duration) {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::try_from(ago).expect("duration");
    let body = json!({
        "entries": [{
            "logName": format!("projects/{PROJECT}/logs/run.googleapis.com%2Fstdout"),
            "resource": {"type": "cloud_run_revision", "labels": {
                "service_name": format!("chat-{env}"), "location": "us-central1",
                "project_id": PROJECT, "revision_name": format!("chat-{env}-00001-abc"),
                "configuration_name": format!("chat-{env}")}},
            "timestamp": at.to_string(),
            "severity": "WARNING",
            "textPayload": text,
        }]
    });
    let response = emu
        .http
        .post(format!("{}/v2/entries:write", emu.base()))
        .json(&body)
        .send()
        .await
        .expect("entries.write");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// `up` of environment `env` (the image prebuilt, or built from source when `build` is set).
async fn up(emu: &Emu, env: &str, build: bool) {
    let mut settings = common::settings(env);
    // Several environments share the project's network: each connector gets its own /28.
    settings.connector_range = chatctl::config::ConnectorRange::Auto;
    if build {
        settings.image = None;
    }
    let session = emu.session_for(settings, CancellationToken::new()).await;
    let walk = session.up().await.expect("up converges");
    assert!(walk.failures().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_after_up_show_the_services_entries_as_text_and_json_within_since() {
    let emu = Emu::start(71).await;
    up(&emu, "logs1", false).await;
    up(&emu, "other", false).await;
    let dir = tempfile::tempdir().unwrap();
    write_entry(&emu, "logs1", "two hours ago", Duration::from_secs(7200)).await;
    write_entry(&emu, "logs1", "just now", Duration::ZERO).await;

    let mut cmd = chatctl(emu.base(), dir.path());
    cmd.args(["logs", "--env", "logs1"]);
    let text = run(cmd).await;
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout.contains("Default STARTUP TCP probe succeeded"),
        "the revision's startup is logged: {}",
        text.stdout
    );
    let line = text
        .stdout
        .lines()
        .find(|l| l.ends_with("just now"))
        .unwrap_or_else(|| panic!("the new entry is shown: {}", text.stdout));
    let (timestamp, rest) = line.split_once(' ').expect("timestamp first");
    assert!(timestamp.parse::<jiff::Timestamp>().is_ok(), "{line}");
    assert!(rest.starts_with("WARNING "), "{line}");
    assert!(
        !text.stdout.contains("two hours ago"),
        "--since defaults to 1h"
    );
    assert!(
        text.stderr.contains("project chat-e2e-1"),
        "says which project: {}",
        text.stderr
    );

    let mut cmd = chatctl(emu.base(), dir.path());
    cmd.args([
        "logs", "--env", "logs1", "--since", "3h", "--output", "json",
    ]);
    let json = run(cmd).await;
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let logs: Vec<Value> = json_lines(&json.stdout)
        .into_iter()
        .filter(|e| e["type"] == "log")
        .collect();
    let texts: Vec<&str> = logs.iter().filter_map(|e| e["text"].as_str()).collect();
    let old = texts.iter().position(|t| *t == "two hours ago");
    let new = texts.iter().position(|t| *t == "just now");
    assert!(
        old.is_some() && old < new,
        "oldest first, both within 3h: {texts:?}"
    );
    for entry in &logs {
        assert_eq!(entry["resource"]["type"], "cloud_run_revision", "{entry}");
        assert_eq!(
            entry["resource"]["labels"]["service_name"], "chat-logs1",
            "only this environment's service: {entry}"
        );
        assert!(
            entry["timestamp"]
                .as_str()
                .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok())
        );
        assert!(
            entry["severity"].is_string() && entry["insertId"].is_string(),
            "{entry}"
        );
        assert!(
            entry["logName"]
                .as_str()
                .unwrap()
                .starts_with("projects/chat-e2e-1/logs/")
        );
    }

    // The request chatctl sent is Google's shape.
    let log = emu.requests().await;
    let list = log
        .iter()
        .rev()
        .find(|r| r["path"] == "/v2/entries:list")
        .expect("entries.list was called");
    let body: Value = match &list["body"] {
        Value::String(text) => serde_json::from_str(text).expect("JSON body"),
        other => other.clone(),
    };
    assert_eq!(body["resourceNames"], json!(["projects/chat-e2e-1"]));
    assert_eq!(body["orderBy"], "timestamp desc");
    let filter = body["filter"].as_str().unwrap();
    assert!(
        filter.starts_with(
            r#"resource.type="cloud_run_revision" AND resource.labels.service_name="chat-logs1""#
        ) && filter.contains("timestamp>="),
        "{filter}"
    );
}

/// The first line containing `needle` (within 30 s).
async fn wait_for(
    needle: &str,
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, lines.recv()).await {
            Ok(Some(line)) if line.contains(needle) => return line,
            Ok(Some(line)) => seen.push(line),
            _ => panic!("`{needle}` never came; saw {seen:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_shows_a_new_entry_then_stops_on_ctrl_c() {
    let emu = Emu::start(72).await;
    up(&emu, "follow", false).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = chatctl(emu.base(), dir.path())
        .args(["logs", "--env", "follow", "--follow", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logs --follow");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_for("STARTUP TCP probe", &mut lines).await;
    write_entry(&emu, "follow", "arrived while following", Duration::ZERO).await;
    let line = wait_for("arrived while following", &mut lines).await;
    let entry: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(entry["type"], "log");
    assert_eq!(entry["severity"], "WARNING");
    // An entry that reaches Logging late (stamped before the newest one shown) is shown too.
    write_entry(&emu, "follow", "arrived late", Duration::from_secs(5)).await;
    wait_for("arrived late", &mut lines).await;

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "logs --follow did not stop on Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0), "Ctrl-C ends --follow cleanly");
    let rest: Vec<String> = std::iter::from_fn(|| lines.try_recv().ok()).collect();
    assert!(
        rest.iter().any(|l| l.contains("stopped following")),
        "{rest:?}"
    );
    assert!(
        !rest
            .iter()
            .any(|l| l.contains("arrived while following") || l.contains("arrived late")),
        "each entry is shown once: {rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_shows_the_last_builds_log() {
    let emu = Emu::start(73).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chatctl(emu.base(), dir.path());
    cmd.args(["logs", "--env", "built", "--build"]);
    let none = run(cmd).await;
    assert_eq!(none.code, Some(0), "{}", none.stderr);
    assert!(
        none.stderr.contains("no Cloud Build build"),
        "{}",
        none.stderr
    );

    up(&emu, "built", true).await;
    let mut cmd = chatctl(emu.base(), dir.path());
    cmd.args(["logs", "--env", "built", "--build", "--output", "json"]);
    let out = run(cmd).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let events = json_lines(&out.stdout);
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "log")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(
        texts
            .first()
            .is_some_and(|t| t.starts_with("starting build"))
            && texts.contains(&"FETCHSOURCE")
            && texts.last() == Some(&"DONE"),
        "{texts:?}"
    );
    for event in events.iter().filter(|e| e["type"] == "log") {
        assert_eq!(event["resource"]["type"], "build", "{event}");
        assert!(
            event["logName"]
                .as_str()
                .unwrap()
                .ends_with("/logs/cloudbuild")
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "message" && e["text"].as_str().unwrap().contains("log of build")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_bad_since_is_refused_before_any_call_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // No emulator: nothing may be called (the endpoint is a closed loopback port).
    for (since, expected) in [("yesterday", "is not a duration"), ("90d", "out of range")] {
        let mut cmd = chatctl("http://127.0.0.1:9", dir.path());
        cmd.args(["logs", "--since", since, "--output", "json"]);
        let out = run(cmd).await;
        assert_eq!(out.code, Some(3), "{}", out.stderr);
        assert!(
            out.stderr.contains(expected) && out.stderr.contains("e.g. 10m"),
            "{}",
            out.stderr
        );
        let error = json_lines(&out.stdout).pop().expect("a JSON error");
        assert_eq!(error["type"], "error");
        assert_eq!(error["exitCode"], 3);
    }
    let mut cmd = chatctl("http://127.0.0.1:9", dir.path());
    cmd.args(["logs", "--help"]);
    let help = run(cmd).await;
    assert_eq!(help.code, Some(0));
    for flag in [
        "--follow",
        "--since",
        "--build",
        "--limit",
        "--local",
        "roles/logging.viewer",
    ] {
        assert!(
            help.stdout.contains(flag),
            "logs --help lacks {flag}:\n{}",
            help.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_logging_viewer_is_told_which_role_to_ask_for() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = EmulatorConfig {
        time_scale: 0.001,
        allow_anonymous: false,
        seed: Some(74),
        ..Default::default()
    };
    let emu = Emulator::start(listener, config, Arc::new(NoRuntime))
        .await
        .unwrap();
    let base = emu.base_url().to_string();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{base}{path}")).json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    post(
        "/_emulator/projects",
        json!({"projectId": PROJECT, "enforceIam": true}),
    )
    .await;
    let credentials = post("/_emulator/users", json!({"email": "dev@example.com"})).await;
    // A user of the project (it may bill calls to it), without any Logging role.
    post(
        &format!("/_emulator/projects/{PROJECT}/grants"),
        json!({"member": "user:dev@example.com", "roles": ["roles/serviceusage.serviceUsageConsumer"]}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("adc.json"), credentials.to_string()).unwrap();
    let logs = |dir: &std::path::Path| {
        let mut cmd = chatctl(&base, dir);
        cmd.env("GOOGLE_APPLICATION_CREDENTIALS", dir.join("adc.json"))
            .args(["logs", "--env", "denied"]);
        cmd
    };
    let denied = run(logs(dir.path())).await;
    assert_eq!(denied.code, Some(1), "{}", denied.stderr);
    assert!(
        denied.stderr.contains("logging.logEntries.list")
            && denied.stderr.contains("roles/logging.viewer"),
        "names the permission and the role: {}",
        denied.stderr
    );
    post(
        &format!("/_emulator/projects/{PROJECT}/grants"),
        json!({"member": "user:dev@example.com", "roles": ["roles/logging.viewer"]}),
    )
    .await;
    let allowed = run(logs(dir.path())).await;
    assert_eq!(allowed.code, Some(0), "{}", allowed.stderr);
    assert!(
        allowed.stderr.contains("no log entries match"),
        "{}",
        allowed.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_prints_the_url_and_opens_nothing_without_a_browser() {
    let emu = Emu::start(75).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chatctl(emu.base(), dir.path());
    cmd.args(["open", "--env", "opened"]);
    let missing = run(cmd).await;
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("Cloud Run service chat-opened")
            && missing.stderr.contains("chatctl up"),
        "{}",
        missing.stderr
    );

    up(&emu, "opened", false).await;
    let mut cmd = chatctl(emu.base(), dir.path());
    cmd.args(["open", "--env", "opened", "--output", "json"]);
    let out = run(cmd).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let opened = json_lines(&out.stdout).pop().expect("one object");
    assert_eq!(opened["type"], "open");
    assert_eq!(
        opened["opened"], false,
        "CHATCTL_NO_BROWSER: nothing is opened"
    );
    assert!(
        opened["url"]
            .as_str()
            .unwrap()
            .starts_with("https://chat-opened-")
            && opened["url"].as_str().unwrap().ends_with(".a.run.app"),
        "{opened}"
    );

    // --local without a running local stack says how to start one (exit 3), calling nothing.
    let mut cmd = chatctl(emu.base(), dir.path());
    cmd.args(["open", "--local"]);
    let local = run(cmd).await;
    assert_eq!(local.code, Some(3), "{}", local.stderr);
    assert!(
        local.stderr.contains("chatctl up --local"),
        "{}",
        local.stderr
    );
    let _ = IMAGE;
}
