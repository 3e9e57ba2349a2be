//! The web page in headless Chromium: starts a real redis-server and two chat-server instances
//! sharing it, then runs the playwright-core suite `tests/browser/chat-page.test.mjs` with
//! `node --test` and fails with its output unless every browser test passed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The whole suite (Chromium start, six scenarios, one instance restart) must end within this.
const SUITE_LIMIT: Duration = Duration::from_secs(300);

/// A child process that is killed and reaped when dropped, so no test leaves processes behind.
struct Process {
    child: Child,
    port: u16,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a free loopback port")
}

/// Sends `request` to 127.0.0.1:port and returns the reply, or None if nothing answers yet.
fn exchange(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = vec![0; 256];
    let n = stream.read(&mut reply).ok()?;
    Some(String::from_utf8_lossy(&reply[..n]).into_owned())
}

fn wait_for(process: &mut Process, what: &str, ready: impl Fn(u16) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(process.port) {
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("{what} exited ({status}) before it was ready");
        }
        assert!(Instant::now() < deadline, "{what} not ready within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn redis_server() -> Process {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server could not be started: install it with scripts/deps (apt-get install redis-server)");
    let mut redis = Process { child, port };
    wait_for(&mut redis, "redis-server", |port| {
        exchange(port, "PING\r\n").is_some_and(|reply| reply.starts_with("+PONG"))
    });
    redis
}

fn chat_server(redis_port: u16) -> Process {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .env("PORT", port.to_string())
        .env("REDISHOST", "127.0.0.1")
        .env("REDISPORT", redis_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chat-server");
    let mut server = Process { child, port };
    wait_for(&mut server, "chat-server", |port| {
        let request = "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        exchange(port, request).is_some_and(|reply| reply.starts_with("HTTP/1.1 200"))
    });
    server
}

#[test]
fn web_page_in_headless_chromium() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let playwright = crate_dir.join("../node_modules/playwright-core");
    assert!(
        playwright.exists(),
        "{} is missing: run `npm ci` at the repository root (scripts/deps does it)",
        playwright.display()
    );
    let redis = redis_server();
    let first = chat_server(redis.port);
    let second = chat_server(redis.port);

    let mut node = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(crate_dir.join("tests/browser/chat-page.test.mjs"))
        .current_dir(crate_dir)
        .env("CHAT_URL_A", format!("http://127.0.0.1:{}", first.port))
        .env("CHAT_URL_B", format!("http://127.0.0.1:{}", second.port))
        .env("CHAT_SERVER_BIN", env!("CARGO_BIN_EXE_chat-server"))
        .env("REDISHOST", "127.0.0.1")
        .env("REDISPORT", redis.port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node could not be started: install Node.js 20+ (scripts/deps)");

    // Read the output on threads so a chatty suite cannot block on a full pipe.
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
    let deadline = Instant::now() + SUITE_LIMIT;
    let status = loop {
        if let Some(status) = node.try_wait().expect("poll node") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        None => panic!("the browser suite did not finish within {SUITE_LIMIT:?}\n{output}"),
        Some(status) => assert!(
            status.success(),
            "the browser suite failed ({status})\n{output}"
        ),
    }
}
