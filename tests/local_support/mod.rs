//! Shared by the `up --local` tests: start `chatctl up --local` on free ports, follow its log,
//! read the pids and ports it reports, stop it with a signal, and check nothing is left behind.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for `up --local` to say it is up (emulated `up` takes a few seconds).
pub const UP_LIMIT: Duration = Duration::from_secs(90);
/// Longest wait for the process to finish after SIGINT (down + stopping every process).
pub const STOP_LIMIT: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

/// A running `chatctl up --local` (or a command that runs it, such as `cargo run`); killed
/// when dropped so a failing test leaves nothing behind (its children die with it: they get
/// the parent-death signal).
pub struct LocalStack {
    pub child: Child,
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
}

impl LocalStack {
    /// `chatctl up --local --port <free> <extra>` in an empty directory (no chatctl.yaml).
    pub fn start(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatctl"));
        command
            .args(["up", "--local", "--port", &port.to_string()])
            .args(extra);
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command, dir, port)
    }

    /// Runs `command` (which must start `up --local` on `port`) with a clean environment.
    pub fn spawn(mut command: Command, dir: &Path, port: u16) -> Self {
        for (key, _) in std::env::vars() {
            if key.starts_with("CHATCTL_") || key.starts_with("REDIS") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chatctl");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        follow(child.stderr.take().expect("stderr"), log.clone());
        follow(child.stdout.take().expect("stdout"), stdout.clone());
        LocalStack {
            child,
            port,
            log,
            stdout,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything chatctl printed on stderr so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`; panics with the log if chatctl exits first.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200)); // let the readers drain
                panic!(
                    "chatctl exited ({status}) before printing {needle:?}; its log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {limit:?}; chatctl's log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for "chat is up at URL"; checks the URL is the front door on our port.
    pub fn wait_up(&mut self) {
        let line = self.wait_for_line("chat is up at", UP_LIMIT);
        assert!(
            line.contains(&self.url()),
            "chatctl says {line:?}, expected the front door {}",
            self.url()
        );
    }

    /// The pid of each process by log name, from the latest "NAME | started (pid N)" lines.
    pub fn pids(&self) -> BTreeMap<String, u32> {
        let mut pids = BTreeMap::new();
        for line in self.log.lock().unwrap().iter() {
            let Some((name, rest)) = line.split_once(" | ") else {
                continue;
            };
            if let Some(pid) = rest
                .strip_prefix("started (pid ")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|p| p.parse().ok())
            {
                pids.insert(name.trim().to_string(), pid);
            }
        }
        pids
    }

    /// Every pid any process ever had (restarts included).
    pub fn all_pids(&self) -> Vec<u32> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.split_once("| started (pid "))
            .filter_map(|(_, r)| r.strip_suffix(')')?.parse().ok())
            .collect()
    }

    /// Every loopback port the log reports in use: the emulator, redis-server or nats-server,
    /// each instance.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports = vec![self.port];
        for line in self.log.lock().unwrap().iter() {
            for marker in [
                "APIs on http://127.0.0.1:",
                "redis-server on 127.0.0.1:",
                "nats-server (JetStream) on 127.0.0.1:",
                "addr=127.0.0.1:",
            ] {
                if let Some((_, rest)) = line.split_once(marker) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(port) = digits.parse() {
                        ports.push(port);
                    }
                }
            }
        }
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// Sends `signal` and waits for the exit status.
    pub fn stop_with(&mut self, signal: nix::sys::signal::Signal) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal chatctl");
        let deadline = Instant::now() + STOP_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for chatctl") {
                std::thread::sleep(Duration::from_millis(200)); // let the readers drain
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "chatctl still runs {STOP_LIMIT:?} after {signal}; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn follow(pipe: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name: "pid (comm) S ...".
            let state = stat
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            state != Some(Some('Z'))
        }
        Err(_) => false,
    }
}

/// The pids of the live children of `parent` (from /proc/*/stat).
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map(|(_, r)| r.split_whitespace().collect())
                    .unwrap_or_default();
                fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent)
                    && fields.first() != Some(&"Z")
            })
        })
        .collect()
}

/// Waits (bounded) until `pid` is gone; a process that exits is reaped by init shortly after.
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Whether the port can be bound again on 127.0.0.1 (nothing holds it).
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `GET path` on 127.0.0.1:port with HTTP/1.1; returns (status line, headers, body).
pub fn http_get(port: u16, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the front door");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read the reply");
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_lowercase(), body.to_string())
}

/// Runs `node --test <suite>` from the repository root with `env`; panics with its output
/// unless every test passed.
pub fn run_node_suite(suite: &str, env: &[(&str, String)], limit: Duration) {
    let root = repo_root();
    assert!(
        root.join("node_modules/socket.io-client").exists(),
        "node_modules is missing: run `npm ci` at the repository root (scripts/deps does it)"
    );
    let mut command = Command::new("node");
    command
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(root.join(suite))
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut node = command
        .spawn()
        .expect("node could not be started: install Node.js 20+ (scripts/deps)");
    let out = Arc::new(Mutex::new(Vec::new()));
    follow(node.stdout.take().unwrap(), out.clone());
    follow(node.stderr.take().unwrap(), out.clone());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    let output = out.lock().unwrap().join("\n");
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("{suite} failed ({s}):\n{output}"),
        None => panic!("{suite} did not finish within {limit:?}:\n{output}"),
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
