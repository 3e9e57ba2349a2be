//! `chatctl up --local` end to end: it comes up through the emulated `up`, serves the chat page
//! at the front door, spreads real socket.io-client users over two chat-server instances that
//! share a real redis-server (or, with --bus nats, a real nats-server with JetStream), survives
//! the loss of an instance or of that server with history intact, and on SIGINT runs `down`,
//! leaving no process and no port behind. Without redis-server it says so and runs one
//! in-memory instance; --bus nats without nats-server is refused before anything starts.

mod local_support;

use std::time::Duration;

use local_support::{
    LocalStack, alive, children_of, http_get, port_free, run_node_suite, wait_gone,
};
use nix::sys::signal::Signal;

/// After a signal, the log must show `down` ran and finished, and nothing may be left running:
/// no child of chatctl, no process it reported starting, no port it reported using.
fn assert_clean_stop(stack: &mut LocalStack, signal: Signal, expected_code: i32) {
    let pid = stack.child.id();
    let status = stack.stop_with(signal);
    let log = stack.log_text();
    assert_eq!(
        status.code(),
        Some(expected_code),
        "chatctl exited with {status} after {signal}:\n{log}"
    );
    assert!(
        log.contains("chatctl down:"),
        "{signal} did not run `down`:\n{log}"
    );
    assert!(log.contains("is gone"), "`down` did not finish:\n{log}");
    assert!(children_of(pid).is_empty(), "chatctl's children outlive it");
    for pid in stack.all_pids() {
        assert!(
            wait_gone(pid, Duration::from_secs(5)),
            "process {pid} started by chatctl still runs after {signal}:\n{log}"
        );
    }
    for port in stack.ports() {
        assert!(
            port_free(port),
            "port {port} is still held after {signal}:\n{log}"
        );
    }
}

/// What the instances share history through, as local mode runs it.
struct BusCase {
    /// Extra flags of `up --local`.
    flags: &'static [&'static str],
    /// The process's log name (its pid is read from `NAME | started (pid N)`).
    process: &'static str,
    /// chatctl's line saying it started the server.
    started: &'static str,
    /// The instances' line saying they use it.
    used: &'static str,
}

const REDIS: BusCase = BusCase {
    flags: &[],
    process: "redis",
    started: "redis-server on 127.0.0.1:",
    used: "using Redis",
};

const NATS: BusCase = BusCase {
    flags: &["--bus", "nats"],
    process: "nats",
    started: "nats-server (JetStream) on 127.0.0.1:",
    used: "using NATS",
};

#[test]
fn two_instances_share_redis_behind_the_front_door_and_sigint_cleans_up() {
    two_instances_share_the_bus(&REDIS);
}

#[test]
fn two_instances_share_nats_behind_the_front_door_and_sigint_cleans_up() {
    two_instances_share_the_bus(&NATS);
}

/// Two instances behind the front door: the page, the JS suite (chat across instances, an
/// instance killed, the bus server killed), restarts, then a clean SIGINT.
fn two_instances_share_the_bus(bus: &BusCase) {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["--instances", "2"]
        .iter()
        .chain(bus.flags)
        .copied()
        .collect();
    let mut stack = LocalStack::start(dir.path(), &args, &[]);
    stack.wait_up();
    let log = stack.log_text();
    assert!(
        log.contains("chatctl up:"),
        "the emulated `up` did not run:\n{log}"
    );
    assert!(log.contains(bus.started), "no {}:\n{log}", bus.process);
    // The instances' own lines are relayed by chatctl and may trail its "chat is up" line.
    let line = stack.wait_for_line(bus.used, Duration::from_secs(10));
    assert!(
        line.trim_start().starts_with("chat-"),
        "instances do not use {}: {line}",
        bus.process
    );
    if bus.process == "redis" {
        // As on Google by default: AUTH from the secret, TLS with the instance's server CA.
        assert!(
            line.contains("auth=true") && line.contains("tls=true"),
            "instances do not use Redis with AUTH over TLS: {line}"
        );
        let started = stack.wait_for_line(bus.started, Duration::from_secs(1));
        redis_refuses_clients_without_the_auth_string(&started);
    }

    // The page, through the front door, with the instance named and an affinity cookie.
    let (status, headers, body) = http_get(stack.port, "/");
    assert!(status.contains(" 200 "), "GET / answered {status}");
    assert!(
        body.contains("<html") || body.contains("<!doctype html"),
        "not a page: {body:.200}"
    );
    assert!(
        headers.contains("x-chatctl-instance: chat-"),
        "no instance header: {headers}"
    );
    assert!(
        headers.contains("set-cookie: chatctl-affinity=chat-"),
        "no affinity cookie: {headers}"
    );

    let pids = stack.pids();
    let chat_pids: serde_json::Map<String, serde_json::Value> = pids
        .iter()
        .filter(|(name, _)| name.starts_with("chat-"))
        .map(|(name, pid)| (name.clone(), (*pid).into()))
        .collect();
    assert_eq!(chat_pids.len(), 2, "expected chat-1 and chat-2 in {pids:?}");
    run_node_suite(
        "tests/js/local-front-door.test.mjs",
        &[
            ("CHAT_URL", stack.url()),
            (
                "CHAT_PIDS",
                serde_json::Value::Object(chat_pids.clone()).to_string(),
            ),
            ("BUS_PID", pids[bus.process].to_string()),
            ("BUS_NAME", format!("{}-server", bus.process)),
        ],
        Duration::from_secs(120),
    );

    // The suite killed one instance: the supervisor restarts it (a new pid, same name).
    let killed: Vec<&String> = chat_pids
        .iter()
        .filter(|(_, pid)| !alive(pid.as_u64().unwrap() as u32))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        killed.len(),
        1,
        "exactly one instance was killed: {killed:?}"
    );
    stack.wait_for_line(
        &format!("{:>8} | exited", killed[0]),
        Duration::from_secs(10),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stack.pids().get(killed[0].as_str())
        == chat_pids[killed[0]].as_u64().map(|p| p as u32).as_ref()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{} was not restarted:\n{}",
            killed[0],
            stack.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The suite also killed the bus server: it came back under a new pid.
    stack.wait_for_line(
        &format!("{:>8} | exited", bus.process),
        Duration::from_secs(10),
    );
    assert_ne!(
        stack.pids()[bus.process],
        pids[bus.process],
        "{}-server was not restarted",
        bus.process
    );
    assert!(
        !stack.pids().contains_key(if bus.process == "redis" {
            "nats"
        } else {
            "redis"
        }),
        "the other bus's server was started too"
    );

    assert_clean_stop(&mut stack, Signal::SIGINT, 0);
}

/// Local mode's redis-server, like Memorystore with AUTH and in-transit encryption, answers
/// nobody without TLS and nobody without the AUTH string. `started` is chatctl's line
/// "... redis-server on 127.0.0.1:PORT (TLS with the run's CA PATH, AUTH required)".
fn redis_refuses_clients_without_the_auth_string(started: &str) {
    let port: String = started
        .split("127.0.0.1:")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let ca = started
        .split("the run's CA ")
        .nth(1)
        .and_then(|rest| rest.split(", AUTH required)").next())
        .unwrap_or_else(|| panic!("no TLS with AUTH in chatctl's line: {started}"));
    let redis_cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(args)
            .args(["PING"])
            .output()
            .expect("redis-cli (scripts/deps installs redis-tools)");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let plain = redis_cli(&[]);
    assert!(
        !plain.contains("PONG") && !plain.contains("NOAUTH"),
        "redis-server answered a plain-text client: {plain}"
    );
    let no_auth = redis_cli(&["--tls", "--cacert", ca]);
    assert!(
        no_auth.contains("NOAUTH"),
        "redis-server over TLS without the AUTH string did not answer NOAUTH: {no_auth}"
    );
    // The server's certificate is signed by the run's CA, which no system store trusts.
    let untrusted = redis_cli(&["--tls"]);
    assert!(
        !untrusted.contains("NOAUTH") && !untrusted.contains("PONG"),
        "redis-cli completed TLS without the run's CA: {untrusted}"
    );
}

#[test]
fn sigterm_also_runs_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = LocalStack::start(dir.path(), &["--instances", "1"], &[]);
    stack.wait_up();
    let (status, _, _) = http_get(stack.port, "/healthz");
    assert!(status.contains(" 200 "), "GET /healthz answered {status}");
    assert_clean_stop(&mut stack, Signal::SIGTERM, 0);
}

#[test]
fn without_redis_server_it_says_so_and_runs_one_in_memory_instance() {
    let dir = tempfile::tempdir().unwrap();
    // A PATH without redis-server (chatctl runs its instances from its own executable).
    let mut stack = LocalStack::start(dir.path(), &[], &[("PATH", "/nonexistent")]);
    stack.wait_up();
    let log = stack.log_text();
    assert!(
        log.contains("redis-server is not installed"),
        "no plain word about the missing redis-server:\n{log}"
    );
    let line = stack.wait_for_line("kept in memory", Duration::from_secs(10));
    assert!(
        line.contains("chat-1"),
        "the instance is not in memory mode: {line}"
    );
    let pids = stack.pids();
    let names: Vec<&String> = pids.keys().collect();
    assert_eq!(names, ["chat-1"], "one instance and no redis expected");
    let (status, _, body) = http_get(stack.port, "/");
    assert!(
        status.contains(" 200 "),
        "GET / answered {status}: {body:.200}"
    );
    assert_clean_stop(&mut stack, Signal::SIGINT, 0);
}

/// Runs `chatctl up --local ARGS` (PATH set to `path`) and returns its stderr, after checking
/// it was refused as bad configuration (exit 3) before the emulated `up` ran.
fn refused_before_up(args: &[&str], path: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_chatctl"));
    command
        .args(["up", "--local"])
        .args(args)
        .current_dir(dir.path());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("chatctl up:"), "`up` ran: {stderr}");
    stderr
}

#[test]
fn bus_nats_without_nats_server_is_refused_before_anything_starts() {
    let stderr = refused_before_up(&["--port", "0", "--bus", "nats"], Some("/nonexistent"));
    assert!(
        stderr.contains("nats-server") && stderr.contains("--bus redis"),
        "{stderr}"
    );
}

#[test]
fn a_busy_port_is_refused_before_anything_starts() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let stderr = refused_before_up(&["--port", &port.to_string()], None);
    assert!(
        stderr.contains(&format!("port {port}")) && stderr.contains("--port"),
        "{stderr}"
    );
}

#[test]
fn sigint_while_coming_up_stops_what_was_started_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = LocalStack::start(dir.path(), &[], &[]);
    // Redis is being created (its emulated create takes about a second).
    stack.wait_for_line("chat-default creating", local_support::UP_LIMIT);
    assert_clean_stop(&mut stack, Signal::SIGINT, 130);
    assert!(
        !stack.log_text().contains("chat is up at"),
        "it came up before the signal"
    );
}

#[test]
fn chatctl_yaml_shapes_the_local_service_like_the_real_one() {
    let dir = tempfile::tempdir().unwrap();
    // The same file drives `up` on Google: here Cloud Run's instance limit caps --instances.
    std::fs::write(
        dir.path().join("chatctl.yaml"),
        "service:\n  template:\n    scaling:\n      maxInstanceCount: 1\n",
    )
    .unwrap();
    let mut stack = LocalStack::start(dir.path(), &["--instances", "3"], &[]);
    stack.wait_up();
    let log = stack.log_text();
    assert!(
        log.contains("at most 1 instance(s)"),
        "the limit was not applied:\n{log}"
    );
    let chat: Vec<String> = stack
        .pids()
        .into_keys()
        .filter(|n| n.starts_with("chat-"))
        .collect();
    assert_eq!(chat, ["chat-1"], "{log}");
    assert_clean_stop(&mut stack, Signal::SIGINT, 0);
}
