//! The NATS VM's startup script against real components: its password extraction runs in bash
//! on a Secret Manager `versions/latest:access` answer as Google shapes it, and the config it
//! writes and the flags it passes the `nats` image run a real nats-server (Debian's package)
//! on loopback: JetStream on, the generated password admitted, any other refused.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use chatctl::resources::nats_vm;
use testkit::{Process, free_port, wait_until};

/// The script's line that starts with `prefix`.
fn line<'a>(script: &'a str, prefix: &str) -> &'a str {
    script
        .lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("the script has no line starting {prefix:?}:\n{script}"))
}

/// Runs `script` in bash with `env`; its stdout.
fn bash(script: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .args(["-c", script])
        .envs(env.iter().copied())
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Connects as `user`/`pass`; the server's INFO line and its answer to CONNECT + PING.
fn connect(port: u16, user: &str, pass: &str) -> (String, String) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    let connect =
        serde_json::json!({"verbose": false, "pedantic": false, "user": user, "pass": pass});
    write!(&stream, "CONNECT {connect}\r\nPING\r\n").unwrap();
    let mut answer = String::new();
    reader.read_line(&mut answer).unwrap();
    (info, answer)
}

#[test]
fn the_script_reads_the_password_from_the_secret_and_runs_nats_with_jetstream_on_the_disk() {
    let script = nats_vm::startup_script("p-1", "chat-nats-auth-t", "t");
    let dir = tempfile::tempdir().unwrap();
    let password = "Gen3ratedPassw0rdOfThirtyTwoChars";
    let url = format!("nats://chat:{password}@10.128.0.2:4222");
    let data = base64::engine::general_purpose::STANDARD.encode(&url);
    // Secret Manager's answer, pretty-printed as Google sends it.
    let answer = format!(
        "{{\n  \"name\": \"projects/1/secrets/chat-nats-auth-t/versions/1\",\n  \"payload\": {{\n    \
         \"data\": \"{data}\",\n    \"dataCrc32c\": \"123\"\n  }}\n}}\n"
    );

    // The DATA line's pipeline after curl, on that answer.
    let fetch = line(&script, "DATA=$(curl");
    let pipeline = fetch
        .split_once("\"$SECRET\" | ")
        .map(|(_, p)| p.trim_end().trim_end_matches(')'))
        .expect("curl's answer piped on");
    let extracted = bash(
        &format!("printf '%s' \"$ANSWER\" | {pipeline}"),
        &[("ANSWER", &answer)],
    );
    assert_eq!(extracted.trim(), data);

    // The password extraction and the config it writes.
    let conf = dir.path().join("auth.conf");
    let write = format!(
        "set -eu\n{}\numask 077\n{}",
        line(&script, "PASSWORD="),
        line(&script, "printf 'authorization").replace("/run/nats/nats.conf", "\"$CONF\"")
    );
    bash(&write, &[("DATA", &data), ("CONF", conf.to_str().unwrap())]);
    let written = std::fs::read_to_string(&conf).unwrap();
    assert!(written.contains(password), "the config holds the password");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&conf).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "only root may read the config");

    // The image's arguments, with loopback paths and a free port, to a real nats-server.
    let run = line(&script, "docker run");
    let args = run
        .split_once(&format!("{} ", nats_vm::NATS_IMAGE))
        .map(|(_, a)| a)
        .expect("the image's arguments");
    assert!(args.contains("-js"), "JetStream on: {args}");
    let store = dir.path().join("jetstream");
    let port = free_port();
    let args: Vec<String> = args
        .replace("/etc/nats/auth.conf", conf.to_str().unwrap())
        .replace("/data/jetstream", store.to_str().unwrap())
        .replace(&format!("-p {}", nats_vm::NATS_PORT), &format!("-p {port}"))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let child = Command::new("nats-server")
        .args(&args)
        .args(["-a", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is installed (apt install nats-server)");
    let mut server = Process { child, port };
    wait_until(Duration::from_secs(10), "nats-server to listen", || {
        assert!(!server.exited(), "nats-server exited: {args:?}");
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let (info, answer) = connect(port, nats_vm::NATS_USER, password);
    assert!(info.contains("\"jetstream\":true"), "{info}");
    assert!(info.contains("\"auth_required\":true"), "{info}");
    assert_eq!(answer.trim(), "PONG");
    let (_, refused) = connect(port, nats_vm::NATS_USER, "wrong");
    assert!(refused.contains("Authorization Violation"), "{refused}");
    assert!(
        store.join("jetstream").is_dir() || store.is_dir(),
        "the store is on the given path"
    );
}
