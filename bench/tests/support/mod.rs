//! Real processes for chat-bench's tests: a redis-server and chat-server instances on free
//! loopback ports (killed on drop), and a way to run chat-bench and read its JSON line.

#![allow(dead_code)] // each test file uses a different part of this module

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use testkit::http::exchange;
use testkit::wait_until;
pub use testkit::{Process, free_port};

/// A real redis-server on a free loopback port, without persistence.
pub fn redis_server() -> Process {
    testkit::RedisServer::start(&[]).process
}

/// A chat-server instance on a free port; `redis_port` None runs it in memory.
pub fn chat_server(redis_port: Option<u16>) -> Process {
    let port = free_port();
    let mut command = Command::new(chat_server_binary());
    command
        .env("PORT", port.to_string())
        .env_remove("REDISHOST");
    if let Some(redis_port) = redis_port {
        command
            .env("REDISHOST", "127.0.0.1")
            .env("REDISPORT", redis_port.to_string());
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chat-server");
    let process = Process { child, port };
    wait_until(
        Duration::from_secs(20),
        "chat-server /readyz to answer 200",
        || {
            exchange(port, "GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_some_and(|reply| {
                reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200")
            })
        },
    );
    process
}

/// The chat-server binary beside this test's target dir. A workspace test run
/// (`cargo nextest run --workspace`, as scripts/test does) has already built it; only when it is
/// missing (e.g. `-p bench` alone) is it built here. Building it unconditionally would let cargo
/// rebuild chat-server with `-p chat-server`'s own feature set, which takes minutes cold.
fn chat_server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let profile_dir = std::env::current_exe()
                .expect("locate the test binary")
                .parent()
                .and_then(|deps| deps.parent())
                .expect("test binary lives in target/<profile>/deps")
                .to_path_buf();
            let binary = profile_dir.join("chat-server");
            if binary.exists() {
                return binary;
            }
            let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
            let mut build = Command::new(env!("CARGO"));
            build.args([
                "build",
                "--quiet",
                "-p",
                "chat-server",
                "--bin",
                "chat-server",
            ]);
            build.args(["--manifest-path", manifest]);
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build -p chat-server");
            assert!(status.success(), "cargo build -p chat-server failed");
            assert!(
                binary.exists(),
                "{} missing after the build",
                binary.display()
            );
            binary
        })
        .clone()
}

/// Runs chat-bench with `args` (bounded by `limit`) and returns its process output.
pub fn chat_bench(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-bench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat-bench");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("poll chat-bench").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect chat-bench output");
            panic!(
                "chat-bench ran longer than {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("collect chat-bench output")
}

/// The single JSON line a successful chat-bench run prints on stdout.
pub fn json_line(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chat-bench failed: {}\nstderr:\n{stderr}",
        output.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one JSON line, got:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(lines[0]).unwrap_or_else(|error| panic!("{error}: {}", lines[0]))
}
