//! The README's first two commands, as a newcomer types them. The first,
//! `cargo run --release -- up --local`, is run as its dev-profile twin `cargo run -- up --local`
//! (the tests' build is the dev profile; a release build here would compile everything twice)
//! with the front door on a free port through CHATCTL_PORT, since tests run in parallel: it must
//! come up, serve the page and stop on SIGINT. The second, `scripts/test`, is what runs this
//! test, so it is checked to exist and be executable. (scripts/readme-smoke runs the first
//! command exactly as written, release profile and port 8080, in a fresh clone: a CI step.)

mod local_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use local_support::{LocalStack, free_port, http_get, port_free, repo_root};
use nix::sys::signal::Signal;

/// `cargo run` may first wait for the shared build directory and compile what changed.
const CARGO_RUN_LIMIT: Duration = Duration::from_secs(900);

/// The commands of the README's first shell block, without their comments.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("read README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```sh block with the first commands");
    block
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim().to_string())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_readme_starts_with_up_local_then_the_test_command() {
    let commands = readme_commands();
    assert_eq!(
        commands.first().map(String::as_str),
        Some("cargo run --release -- up --local")
    );
    assert_eq!(commands.get(1).map(String::as_str), Some("scripts/test"));
    let script = repo_root().join("scripts/test");
    let mode = std::fs::metadata(&script)
        .expect("scripts/test exists")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "scripts/test is not executable");
}

#[test]
fn the_first_readme_command_comes_up_serves_the_page_and_stops_on_sigint() {
    let first = readme_commands().remove(0);
    let twin: Vec<&str> = first
        .split_whitespace()
        .filter(|word| *word != "--release")
        .collect();
    assert_eq!(twin[..2], ["cargo", "run"], "{first}");
    let port = free_port();
    let mut command = Command::new(twin[0]);
    command
        .args(&twin[1..])
        .env("CHATCTL_PORT", port.to_string());
    let mut stack = LocalStack::spawn(command, &repo_root(), port);
    // `cargo run` replaces itself with chatctl (exec), so the signal reaches chatctl directly.
    let line = stack.wait_for_line("chat is up at", CARGO_RUN_LIMIT);
    assert!(line.contains(&stack.url()), "{line}");
    let (status, _, body) = http_get(port, "/");
    assert!(status.contains(" 200 "), "GET / answered {status}");
    assert!(
        body.to_lowercase().contains("<html"),
        "not a page: {body:.200}"
    );
    let status = stack.stop_with(Signal::SIGINT);
    assert!(
        status.success(),
        "exit {status} after SIGINT:\n{}",
        stack.log_text()
    );
    assert!(port_free(port), "the front door's port is still held");
}
