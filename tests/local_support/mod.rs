//! Shared by the `up --local` tests: start `chatctl up --local` on free ports, follow its log,
//! read the pids and ports it reports, stop it with a signal, and check nothing is left behind.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for `up --local` to say it is up (emulated `up` takes a few seconds).
pub const UP_LIMIT: Duration = Duration::from_secs(90);
/// Longest wait for the process to finish after SIGINT (down + stopping every process).
pub const STOP_LIMIT: Duration = Duration::from_secs(60);

#[allow(unused_imports)] // each test binary uses a different part
pub use testkit::{free_port, port_free};

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

/// `GET path` on 127.0.0.1:port; returns (status line, headers lower-cased, body).
pub fn http_get(port: u16, path: &str) -> (String, String, String) {
    let reply = testkit::http::get(port, path).expect("GET from the front door");
    (reply.status, reply.headers, reply.body)
}

/// Runs `node --test <suite>` (a path from the repository root) with `env`; fails the test with
/// its output unless every test passed.
pub fn run_node_suite(suite: &str, env: &[(&str, String)], limit: Duration) {
    let root = repo_root();
    testkit::node::run_suite(&root, &root.join(suite), env, limit);
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
