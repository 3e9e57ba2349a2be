//! Runs a `node --test` suite (the real socket.io-client from npm) within a time limit, and fails
//! the calling test with the suite's whole output unless every node test passed.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `node --test <suite>` in `dir` with `env`, bounded by `limit`. The repository's
/// node_modules (`npm ci` at its root) must be in `dir` or above it.
pub fn run_suite(dir: &Path, suite: &Path, env: &[(&str, String)], limit: Duration) {
    assert!(
        dir.ancestors()
            .any(|d| d.join("node_modules/socket.io-client").exists()),
        "node_modules/socket.io-client is missing above {}: run `npm ci` at the repository root \
         (scripts/deps does it)",
        dir.display()
    );
    let mut command = Command::new("node");
    command
        .args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
        .arg(suite)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut node = command
        .spawn()
        .expect("node could not be started: install Node.js 20+ (scripts/deps)");
    let mut stdout = node.stdout.take().expect("piped stdout");
    let mut stderr = node.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = node.try_wait().expect("poll node") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    let suite = suite.display();
    match status {
        None => panic!("{suite} did not finish within {limit:?}\n{output}"),
        Some(status) => assert!(status.success(), "{suite} failed ({status})\n{output}"),
    }
}
