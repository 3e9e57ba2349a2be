//! Test support: real redis-server, nats-server (JetStream) and chat-server processes on free
//! loopback ports (killed on drop), a minimal HTTP/1.1 and RESP client, and the runner for the
//! `node --test` suites.
#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to become ready.
const READY_LIMIT: Duration = Duration::from_secs(20);

pub use ports::free_port;

/// Polls `ready` every 50 ms until it holds, the child exits, or the limit passes.
fn wait_until(child: &mut Child, what: &str, log: Option<&Path>, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + READY_LIMIT;
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = log
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .unwrap_or_default();
            panic!("{what} exited ({status}) before it was ready\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} not ready within {READY_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A real redis-server on a free loopback port, without persistence; killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_on(free_port())
    }

    /// Starts on a given port (to restart Redis where the servers expect it).
    pub fn start_on(port: u16) -> Redis {
        Self::launch(port, &[])
    }

    /// Starts with extra redis-server arguments (e.g. `--requirepass`).
    pub fn start_with(extra: &[&str]) -> Redis {
        Self::launch(free_port(), extra)
    }

    /// Starts with TLS only (no plaintext port), serving `cert`/`key`; clients are not asked for certificates.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(cert)
            .arg("--tls-key-file")
            .arg(key)
            .arg("--tls-ca-cert-file")
            .arg(ca)
            .args(["--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server could not be started: install it (scripts/deps runs apt-get install redis-server)");
        let mut redis = Redis { child, port };
        wait_until(&mut redis.child, "redis-server (TLS)", None, || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        redis
    }

    fn launch(port: u16, extra: &[&str]) -> Redis {
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra.get(i + 1));
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server could not be started: install it (scripts/deps runs apt-get install redis-server)");
        let mut redis = Redis { child, port };
        let port = redis.port;
        // With a password, an unauthenticated PING answers NOAUTH: that also means "up".
        let up = if password.is_some() {
            "-NOAUTH"
        } else {
            "+PONG"
        };
        wait_until(&mut redis.child, "redis-server", None, || {
            resp(port, &["PING"]).is_ok_and(|reply| reply.starts_with(up))
        });
        redis
    }

    /// Sends one command and returns the raw RESP reply.
    pub fn command(&self, args: &[&str]) -> String {
        resp(self.port, args).unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// Stops the server now (as a crash would), waiting until it is gone.
    pub fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real nats-server with JetStream on a free loopback port, its store in a temp dir that
/// outlives a [`Nats::kill`] (so a restart finds the streams again); killed on drop.
pub struct Nats {
    child: Child,
    pub port: u16,
    store: std::sync::Arc<tempfile::TempDir>,
}

impl Nats {
    pub fn start() -> Nats {
        let store = tempfile::tempdir().expect("temp dir for JetStream");
        Self::launch(free_port(), std::sync::Arc::new(store))
    }

    fn launch(port: u16, store: std::sync::Arc<tempfile::TempDir>) -> Nats {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server could not be started: install it (scripts/deps runs apt-get install nats-server)");
        let mut nats = Nats { child, port, store };
        // Up once it greets a client with its INFO line (JetStream is ready by then).
        wait_until(&mut nats.child, "nats-server", None, || nats_greets(port));
        nats
    }

    /// The URL chat-server is given (NATS_URL).
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server now (as a crash would), waiting until it is gone; the store is kept.
    pub fn kill(mut self) -> StoppedNats {
        let _ = self.child.kill();
        let _ = self.child.wait();
        StoppedNats {
            port: self.port,
            store: self.store.clone(),
        }
    }
}

/// A killed nats-server's port and JetStream store, to start it again where it was.
pub struct StoppedNats {
    pub port: u16,
    store: std::sync::Arc<tempfile::TempDir>,
}

impl StoppedNats {
    pub fn restart(self) -> Nats {
        Nats::launch(self.port, self.store)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a NATS server on `port` sends its INFO greeting.
fn nats_greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut greeting = [0u8; 5];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO "
}

/// Sends one Redis command over a fresh connection; returns the first reply's bytes as text.
pub fn resp(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reply = vec![0; 64 * 1024];
    let n = stream.read(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply[..n]).into_owned())
}

/// A chat-server process (the real binary) on a free port; killed on drop.
pub struct ChatServer {
    child: Child,
    pub port: u16,
    /// Its stdout (JSON log lines) and stderr, for assertions and failure messages.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The environment variables chat-server reads; cleared so the caller's environment cannot leak in.
pub const CHAT_ENV: &[&str] = &[
    "PORT",
    "BUS",
    "NATS_URL",
    "NATS_CREDS",
    "REDISHOST",
    "REDISPORT",
    "REDIS_PASSWORD",
    "REDIS_TLS",
    "REDIS_CA_CERT",
    "HISTORY_LIMIT",
    "ALLOWED_ORIGINS",
    "MAX_MESSAGE_LEN",
    "RATE_LIMIT",
    "RECONNECT_GRACE",
    "WHITEBOARD_LIMIT",
    "WHITEBOARD_RATE_LIMIT",
];

/// A chat-server command with only the given settings (plus RUST_LOG=info).
pub fn chat_server_command(env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
    for name in CHAT_ENV {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "info");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

impl ChatServer {
    /// In-memory mode with extra settings.
    pub fn memory(env: &[(&str, String)]) -> ChatServer {
        Self::start(env)
    }

    /// Sharing `redis`, with extra settings.
    pub fn with_redis(redis: &Redis, env: &[(&str, String)]) -> ChatServer {
        let mut all = vec![
            ("REDISHOST", "127.0.0.1".to_string()),
            ("REDISPORT", redis.port.to_string()),
        ];
        all.extend(env.iter().cloned());
        Self::start(&all)
    }

    /// On BUS=nats through `nats`, with extra settings.
    pub fn with_nats(nats: &Nats, env: &[(&str, String)]) -> ChatServer {
        let mut all = vec![("BUS", "nats".to_string()), ("NATS_URL", nats.url())];
        all.extend(env.iter().cloned());
        Self::start(&all)
    }

    fn start(env: &[(&str, String)]) -> ChatServer {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("chat-server.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut all = vec![("PORT", port.to_string())];
        all.extend(env.iter().cloned());
        let child = chat_server_command(&all)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start chat-server");
        let mut server = ChatServer {
            child,
            port,
            log,
            _dir: dir,
        };
        let (port, log) = (server.port, server.log.clone());
        wait_until(&mut server.child, "chat-server", Some(&log), || {
            http_get(port, "/healthz", &[]).is_ok_and(|r| r.status == 200)
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn get(&self, path: &str) -> HttpReply {
        http_get(self.port, path, &[]).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A counter's value in the instance's /metrics (0 when absent).
    pub fn counter(&self, name: &str) -> f64 {
        self.get("/metrics")
            .body
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; None if it is still running then.
    pub fn terminate(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "could not send SIGTERM");
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// GET over a fresh HTTP/1.1 connection (`Connection: close`), with extra request headers.
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpReply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(HttpReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Runs `node --test <crate>/tests/js/<file>` with `env`, bounded by `limit`, and fails the test
/// with the suite's output unless every node test passed.
pub fn run_node_suite(file: &str, env: &[(&str, String)], limit: Duration) {
    run_node_tests(&format!("js/{file}"), env, limit)
}

/// Runs `node --test <crate>/tests/<file>` (any suite under tests/) like [`run_node_suite`].
pub fn run_node_tests(file: &str, env: &[(&str, String)], limit: Duration) {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    node::run_suite(crate_dir, &crate_dir.join("tests").join(file), env, limit);
}

/// The workspace's shared test support, included by path: chat-server's manifest must not name
/// a sibling crate (its image builds from a workspace reduced to chat-server alone), and these
/// files use std only.
#[path = "../../../testkit/src/node.rs"]
mod node;
#[path = "../../../testkit/src/ports.rs"]
mod ports;
