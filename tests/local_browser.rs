//! `chatctl up --local` in real headless Chromium: the playwright-core suite
//! tests/js/local-browser.test.mjs opens two pages at the front door, signs both in to one
//! room and checks each sees the other's messages; then SIGINT stops everything. Once with
//! Redis between the instances, once with NATS (--bus nats).

mod local_support;

use std::time::Duration;

use local_support::{LocalStack, run_node_suite};
use nix::sys::signal::Signal;

#[test]
fn two_browsers_chat_through_the_front_door() {
    two_browsers_chat(&[]);
}

#[test]
fn two_browsers_chat_through_the_front_door_with_bus_nats() {
    two_browsers_chat(&["--bus", "nats"]);
}

fn two_browsers_chat(flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["--instances", "2"].iter().chain(flags).copied().collect();
    let mut stack = LocalStack::start(dir.path(), &args, &[]);
    stack.wait_up();
    run_node_suite(
        "tests/js/local-browser.test.mjs",
        &[("CHAT_URL", stack.url())],
        Duration::from_secs(180),
    );
    let status = stack.stop_with(Signal::SIGINT);
    assert!(
        status.success(),
        "chatctl exited with {status}:\n{}",
        stack.log_text()
    );
}
